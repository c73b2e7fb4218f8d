"""The limits of `wallet ledger verify|rebuild` on a shard's real database: a verification that
cannot finish within its bound is a 503 (ServiceUnavailable, retry later) and releases its
snapshot; a wallet whose journal sums below zero is refused by a rebuild with the reason, not
a database error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from wallet_shard.service_layer import ledger_maintenance
from wallet_shared.contracts.errors import ServiceUnavailable

from .conftest import Shard
from .test_shard_ledger import ORIGIN, open_wallet


async def test_a_verification_past_its_bound_is_cancelled_as_unavailable(
    shard: Shard, monkeypatch: pytest.MonkeyPatch
) -> None:
    await open_wallet(shard)
    monkeypatch.setattr(ledger_maintenance, "VERIFY_STATEMENT_TIMEOUT_MS", 200)
    # Another transaction holds the wallets table: the verification cannot read it, however
    # long it waits, and its bound ends the wait.
    async with shard.pool.acquire() as blocker, blocker.transaction():
        await blocker.execute("LOCK TABLE wallets IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(ServiceUnavailable, match="longer than this shard allows"):
            await ledger_maintenance.verify_ledger(shard.uow, shard.context)
    report = await ledger_maintenance.verify_ledger(shard.uow, shard.context)
    assert report.wallets_checked == 1


async def test_a_wallet_whose_entries_sum_below_zero_is_refused_by_a_rebuild(
    shard: Shard,
) -> None:
    wallet = await open_wallet(shard)
    # Damage no writer can make: a withdrawal booked without the money (the ledger's own
    # checks are skipped to plant it, as a broken restore or a manual edit would).
    async with shard.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            "INSERT INTO journal_transactions (id, wallet_id, type, amount, balance_after,"
            " created_at) VALUES ('txn_bad', $1, 'withdrawal', 300, -300, $2)",
            wallet.id,
            datetime(2026, 1, 1, tzinfo=UTC),
        )
        await conn.execute(
            "INSERT INTO journal_entries (transaction_id, account, currency, amount, created_at)"
            " VALUES ('txn_bad', $1, 'USD', -300, $2),"
            "        ('txn_bad', 'system:cash_out:USD', 'USD', 300, $2)",
            wallet.id,
            datetime(2026, 1, 1, tzinfo=UTC),
        )
    page = await ledger_maintenance.rebuild_wallets(
        shard.uow, shard.context, ORIGIN, wallet_id=wallet.id, after=None, limit=1
    )
    [outcome] = page.items
    assert outcome.outcome == "refused"
    assert outcome.reason is not None
    assert "-300" in outcome.reason
    balance = await shard.pool.fetchval("SELECT balance FROM wallets WHERE id = $1", wallet.id)
    assert balance == 0
