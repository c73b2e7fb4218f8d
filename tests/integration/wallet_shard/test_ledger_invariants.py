"""The ledger's rules held by the shard's database itself (migration 012): whatever writes the
journal, a journal transaction whose entries do not sum to zero per currency is refused at
COMMIT, and journal rows are never updated, deleted or truncated."""

from __future__ import annotations

import re

import asyncpg
import pytest

from .conftest import Shard
from .test_shard_ledger import assert_consistent, balances, deposit, open_wallet, withdraw

_JOURNAL_ROW = (
    "INSERT INTO journal_transactions (id, wallet_id, type, amount, balance_after, created_at)"
    " VALUES ($1, $2, 'deposit', $3, $3, now())"
)
_CHECK_QUERY = re.compile(r"FROM journal_entries\s+WHERE transaction_id")
_ENTRY = (
    "INSERT INTO journal_entries (transaction_id, account, currency, amount, created_at)"
    " VALUES ($1, $2, $3, $4, now())"
)


async def _journal_rows(shard: Shard) -> tuple[int, int]:
    row = await shard.pool.fetchrow(
        "SELECT (SELECT count(*) FROM journal_transactions) AS transactions,"
        "       (SELECT count(*) FROM journal_entries) AS entries"
    )
    assert row is not None
    return row["transactions"], row["entries"]


@pytest.mark.parametrize(
    ("entries", "flaw"),
    [
        ([("wallet", "USD", 70)], "entries sum to 70 in USD"),
        ([("wallet", "USD", 70), ("system:cash_in:USD", "USD", -69)], "entries sum to 1 in USD"),
        # Zero in total, but money appears in one currency and vanishes in another.
        ([("wallet", "USD", 70), ("system:cash_in:EUR", "EUR", -70)], "entries sum to -70 in EUR"),
        ([], "it has no entries"),
    ],
    ids=["one-sided", "off-by-one", "across-currencies", "no-entries"],
)
async def test_an_unbalanced_journal_transaction_is_refused_at_commit(
    shard: Shard, entries: list[tuple[str, str, int]], flaw: str
) -> None:
    wallet = await open_wallet(shard)
    before = await _journal_rows(shard)
    conn: asyncpg.Connection
    async with shard.pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        # Every statement is accepted: the rule is checked when the whole is committed.
        await conn.execute(_JOURNAL_ROW, "txn_forged", wallet.id, 70)
        for account, currency, amount in entries:
            await conn.execute(
                _ENTRY,
                "txn_forged",
                wallet.id if account == "wallet" else account,
                currency,
                amount,
            )
        with pytest.raises(asyncpg.exceptions.CheckViolationError) as refused:
            await transaction.commit()
    assert f"journal transaction txn_forged is not balanced: {flaw}" in str(refused.value)
    assert await _journal_rows(shard) == before


async def test_an_entry_added_later_to_a_balanced_transaction_is_refused(shard: Shard) -> None:
    wallet = await open_wallet(shard)
    await deposit(shard, wallet.id, 100)
    booked = await shard.pool.fetchval("SELECT id FROM journal_transactions")
    with pytest.raises(asyncpg.exceptions.CheckViolationError, match="not balanced"):
        await shard.pool.execute(_ENTRY, booked, "system:cash_in:USD", "USD", 5)
    await assert_consistent(shard)


async def test_balanced_entries_written_by_separate_statements_commit(shard: Shard) -> None:
    wallet = await open_wallet(shard)
    async with shard.pool.acquire() as conn, conn.transaction():
        await conn.execute(_JOURNAL_ROW, "txn_by_hand", wallet.id, 70)
        await conn.execute(_ENTRY, "txn_by_hand", wallet.id, "USD", 70)
        await conn.execute(_ENTRY, "txn_by_hand", "system:cash_in:USD", "USD", -30)
        await conn.execute(_ENTRY, "txn_by_hand", "system:cash_in:USD", "USD", -40)
        await conn.execute("UPDATE wallets SET balance = 70 WHERE id = $1", wallet.id)
    assert await _journal_rows(shard) == (1, 3)
    await assert_consistent(shard)


async def _insert_batch(conn: asyncpg.Connection, wallet_id: str, size: int, skew: int) -> None:
    """`size` deposits of 1 in the application's two set-based statements; the last one's
    cash-in entry is off by `skew`."""
    await conn.execute(
        "INSERT INTO journal_transactions (id, wallet_id, type, amount, balance_after, created_at)"
        " SELECT 'txn_batch' || n, $1, 'deposit', 1, n, now() FROM generate_series(1, $2) AS n",
        wallet_id,
        size,
    )
    await conn.execute(
        "INSERT INTO journal_entries (transaction_id, account, currency, amount, created_at)"
        " SELECT 'txn_batch' || n, a.account, 'USD',"
        "        a.amount - CASE WHEN n = $2 AND a.account <> $1 THEN $3 ELSE 0 END, now()"
        " FROM generate_series(1, $2) AS n,"
        "      (VALUES ($1, 1), ('system:cash_in:USD', -1)) AS a (account, amount)",
        wallet_id,
        size,
        skew,
    )
    await conn.execute("UPDATE wallets SET balance = balance + $2 WHERE id = $1", wallet_id, size)


async def test_a_batch_commits_whole_when_balanced_and_not_at_all_otherwise(
    shard: Shard,
) -> None:
    wallet = await open_wallet(shard)
    async with shard.pool.acquire() as conn:
        with pytest.raises(asyncpg.exceptions.CheckViolationError) as refused:
            async with conn.transaction():
                await _insert_batch(conn, wallet.id, 2000, skew=1)
        assert "journal transaction txn_batch2000 is not balanced" in str(refused.value)
        assert await _journal_rows(shard) == (0, 0)
        async with conn.transaction():
            await _insert_batch(conn, wallet.id, 2000, skew=0)
    assert await _journal_rows(shard) == (2000, 4000)
    assert await balances(shard, wallet.id) == (2000, 0)
    await assert_consistent(shard)


async def test_the_application_books_through_the_check(shard: Shard) -> None:
    wallet = await open_wallet(shard)
    assert (await deposit(shard, wallet.id, 500)).status_code == 201
    assert (await withdraw(shard, wallet.id, 200)).status_code == 201
    assert await balances(shard, wallet.id) == (300, 0)
    await assert_consistent(shard)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE journal_entries SET amount = amount * 2",
        "UPDATE journal_entries SET account = 'system:cash_out:USD' WHERE amount < 0",
        "DELETE FROM journal_entries",
        "TRUNCATE journal_entries CASCADE",
        "UPDATE journal_transactions SET amount = 1",
        "DELETE FROM journal_transactions",
        "TRUNCATE journal_transactions CASCADE",
    ],
)
async def test_journal_rows_are_never_changed_or_removed(shard: Shard, statement: str) -> None:
    wallet = await open_wallet(shard)
    await deposit(shard, wallet.id, 100)
    before = await shard.pool.fetch("SELECT * FROM journal_entries ORDER BY id")
    with pytest.raises(asyncpg.exceptions.RestrictViolationError, match="append-only"):
        await shard.pool.execute(statement)
    assert await shard.pool.fetch("SELECT * FROM journal_entries ORDER BY id") == before
    await assert_consistent(shard)


async def test_nobody_but_the_owner_is_granted_changes_to_the_journal(shard: Shard) -> None:
    granted = await shard.pool.fetch(
        "SELECT table_name, privilege_type FROM information_schema.role_table_grants"
        " WHERE grantee = 'PUBLIC' AND table_name IN ('journal_entries', 'journal_transactions')"
    )
    assert [tuple(row) for row in granted] == []


async def test_the_commit_time_checks_probe_the_index_whatever_the_costs_say(
    shard: Shard,
) -> None:
    """Migration 013: on a journal without statistics (fresh, or growing faster than it is
    analysed) the planner guessed that a short sequential scan would find a transaction's
    entries, kept that plan for the session, and read the whole journal at every commit. The
    checks now always probe the index. A session whose costs make an index look expensive
    (as a large journal's index does) stands in for that journal here; the plans the checks
    run are read with auto_explain, sent to the session as notices."""
    wallet = await open_wallet(shard)
    plans: list[str] = []

    def heard(_conn: object, message: object) -> None:
        plans.append(str(message))

    async with shard.pool.acquire() as conn:
        for setting in (
            "SET random_page_cost = 1000",
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_nested_statements = on",
            "SET auto_explain.log_level = notice",
            "SET client_min_messages = notice",
        ):
            await conn.execute(setting)
        conn.add_log_listener(heard)
        try:
            async with conn.transaction():
                await _insert_batch(conn, wallet.id, 200, skew=0)
        finally:
            conn.remove_log_listener(heard)
            await conn.execute("RESET ALL")
    checks = [plan for plan in plans if _CHECK_QUERY.search(plan)]
    assert len(checks) == 600  # each transaction's "has entries", each entry's "balanced"
    for plan in checks:
        assert "Seq Scan on journal_entries" not in plan, plan
        assert "journal_entries_by_transaction" in plan, plan
    await assert_consistent(shard)
