"""The shard's service layer against a real PostgreSQL: exact balances, idempotency, concurrent
withdrawals, TCC batches (redelivery, cancel before try, try after cancel, confirm after freeze)
and the integrity checks."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson
import pytest
from wallet_shard.adapters.journal_repository import TransactionFilter
from wallet_shard.adapters.movement_requests import MovementRequest
from wallet_shard.domain.errors import ConfirmWithoutTry
from wallet_shard.domain.wallet import Wallet
from wallet_shard.service_layer import movements, transactions, wallets
from wallet_shard.service_layer.commands import (
    IdempotentRequest,
    MoveMoney,
    OpenWallet,
    StatusChange,
)
from wallet_shard.service_layer.integrity import shard_integrity
from wallet_shard.service_layer.transfer_commands import handle_transfer_commands
from wallet_shared.contracts.errors import (
    Conflict,
    IdempotencyKeyReused,
    NotFound,
    ValidationFailed,
)
from wallet_shared.contracts.ids import new_transfer_id
from wallet_shared.contracts.messages import (
    CancelCredit,
    CancelDebit,
    ConfirmCredit,
    ConfirmDebit,
    CreditCancelled,
    CreditConfirmed,
    CreditTried,
    DebitCancelled,
    DebitConfirmed,
    DebitTried,
    LegCommand,
    LegReply,
    TryCredit,
    TryDebit,
)
from wallet_shared.platform.idempotency import StoredResponse, request_fingerprint
from wallet_shared.platform.metrics import LEDGER_POSTINGS

from .conftest import TOPICS, Shard, users_of_shard

ORIGIN = MovementRequest(actor="tester", actor_role="admin", client_address="127.0.0.1")

USERS = users_of_shard(0)
_keys = itertools.count()


async def open_wallet(shard: Shard, user_id: str = USERS[0], currency: str = "USD") -> Wallet:
    command = OpenWallet(user_id=user_id, currency=currency, label="main")
    return await wallets.open_wallet(shard.uow, shard.context, command, owner_scope=None)


def idempotent(body: dict[str, Any], key: str | None = None) -> IdempotentRequest:
    key = key or f"key-{next(_keys)}"
    return IdempotentRequest(
        caller="tester", key=key, fingerprint=request_fingerprint("POST", "/x", body)
    )


async def deposit(
    shard: Shard,
    wallet_id: str,
    amount: int,
    key: str | None = None,
    *,
    desk: movements.CashMovements | None = None,
) -> StoredResponse:
    """A deposit booked by `desk` (where concurrent ones are booked in batches), or alone by a
    desk of its own."""
    request = idempotent({"deposit": amount, "wallet": wallet_id}, key)
    command = MoveMoney(wallet_id=wallet_id, amount=amount, reference="ref", metadata={"a": 1})
    desk = desk or movements.CashMovements(shard.uow, shard.context)
    return await desk.deposit(command, owner_scope=None, request=request, origin=ORIGIN)


async def withdraw(
    shard: Shard,
    wallet_id: str,
    amount: int,
    key: str | None = None,
    *,
    desk: movements.CashMovements | None = None,
) -> StoredResponse:
    """A withdrawal, booked like `deposit`."""
    request = idempotent({"withdraw": amount, "wallet": wallet_id}, key)
    command = MoveMoney(wallet_id=wallet_id, amount=amount)
    desk = desk or movements.CashMovements(shard.uow, shard.context)
    return await desk.withdraw(command, owner_scope=None, request=request, origin=ORIGIN)


async def balances(shard: Shard, wallet_id: str) -> tuple[int, int]:
    wallet = await wallets.get_wallet(shard.uow, wallet_id, owner_scope=None)
    return wallet.balance, wallet.frozen


async def run_batch(shard: Shard, commands: Sequence[LegCommand]) -> list[LegReply]:
    """Handle one batch; the replies it queued, in order."""
    await handle_transfer_commands(shard.uow, shard.context, commands)
    records = await shard.take_outbox()
    replies = [r.message() for r in records if r.topic == TOPICS.transfer_replies]
    assert all(isinstance(reply, LegReply) for reply in replies)
    return [reply for reply in replies if isinstance(reply, LegReply)]


def leg(kind: type[LegCommand], wallet_id: str, transfer_id: str, amount: int = 300) -> LegCommand:
    return kind(transfer_id=transfer_id, wallet_id=wallet_id, amount=amount, currency="USD")


def outcome(reply: LegReply) -> tuple[str, str, bool | None, str | None]:
    return (
        reply.message_type,
        reply.transfer_id,
        getattr(reply, "ok", None),
        getattr(reply, "failure_code", None),
    )


async def assert_consistent(shard: Shard) -> dict[str, Any]:
    report = await shard_integrity(shard.uow, shard.context)
    assert report.problems == []
    assert report.consistent
    return report.model_dump(mode="json")


# --- deposits and withdrawals ------------------------------------------------------------------


async def test_deposits_and_withdrawals_give_exact_balances_and_transactions(shard: Shard) -> None:
    wallet = await open_wallet(shard)
    statuses = [
        (await deposit(shard, wallet.id, 1000)).status_code,
        (await deposit(shard, wallet.id, 250)).status_code,
        (await withdraw(shard, wallet.id, 300)).status_code,
    ]
    assert statuses == [201, 201, 201]
    assert await balances(shard, wallet.id) == (950, 0)

    page = await transactions.list_transactions(
        shard.uow, wallet.id, owner_scope=None, limit=2, cursor=None, only=TransactionFilter()
    )
    assert [(t.type, t.amount, t.balance_after) for t in page.items] == [
        ("withdrawal", 300, 950),
        ("deposit", 250, 1250),
    ]
    assert page.items[0].id.startswith("txn_")
    rest = await transactions.list_transactions(
        shard.uow,
        wallet.id,
        owner_scope=None,
        limit=2,
        cursor=page.next_cursor,
        only=TransactionFilter(),
    )
    assert [(t.type, t.balance_after, t.metadata) for t in rest.items] == [
        ("deposit", 1000, {"a": 1})
    ]
    assert rest.next_cursor is None

    events = [record.event() for record in await shard.take_outbox()]
    assert [e["event_type"] for e in events] == ["wallet.created"] + ["transaction.posted"] * 3
    assert events[-1]["transaction"]["amount"] == "300"
    assert shard.wakes.calls == 4
    await assert_consistent(shard)


async def test_refusals_are_stored_and_a_replay_moves_money_once(shard: Shard) -> None:
    wallet = await open_wallet(shard)
    first = await deposit(shard, wallet.id, 500, key="same")
    again = await deposit(shard, wallet.id, 500, key="same")
    assert (first.status_code, again.status_code, again.replayed) == (201, 201, True)
    assert again.body == first.body
    with pytest.raises(IdempotencyKeyReused):
        await deposit(shard, wallet.id, 501, key="same")

    refused = await withdraw(shard, wallet.id, 501, key="too-much")
    assert refused.status_code == 422
    assert orjson.loads(refused.body)["code"] == "insufficient_funds"
    assert (await withdraw(shard, wallet.id, 501, key="too-much")).replayed
    missing = await deposit(shard, "wlt_000" + "0" * 32, 5)
    assert missing.status_code == 404

    with pytest.raises(ValidationFailed):
        await deposit(shard, wallet.id, 10**15 + 1)
    assert await balances(shard, wallet.id) == (500, 0)
    await assert_consistent(shard)


async def test_a_deposit_into_a_frozen_wallet_is_refused(shard: Shard) -> None:
    wallet = await open_wallet(shard)
    await wallets.change_status(
        shard.uow, shard.context, wallet.id, StatusChange.FREEZE, owner_scope=None
    )
    refused = await deposit(shard, wallet.id, 5)
    assert orjson.loads(refused.body)["code"] == "wallet_not_active"


async def test_concurrent_withdrawals_succeed_exactly_as_far_as_the_balance_goes(
    shard: Shard,
) -> None:
    wallet = await open_wallet(shard)
    await deposit(shard, wallet.id, 1000)
    results = await asyncio.gather(*(withdraw(shard, wallet.id, 150) for _ in range(20)))
    codes = Counter(result.status_code for result in results)
    assert codes == {201: 6, 422: 14}
    assert await balances(shard, wallet.id) == (100, 0)
    await assert_consistent(shard)


async def test_the_journal_is_append_only(shard: Shard) -> None:
    wallet = await open_wallet(shard)
    await deposit(shard, wallet.id, 100)
    with pytest.raises(asyncpg.exceptions.RestrictViolationError, match="append-only"):
        await shard.pool.execute("UPDATE journal_entries SET amount = amount * 2")
    with pytest.raises(asyncpg.exceptions.RestrictViolationError, match="append-only"):
        await shard.pool.execute("DELETE FROM journal_transactions")


# --- wallets -----------------------------------------------------------------------------------


async def test_wallets_list_newest_first_with_a_cursor_and_respect_the_owner_scope(
    shard: Shard,
) -> None:
    opened = [await open_wallet(shard, USERS[1], currency) for currency in ("USD", "EUR", "GBP")]
    other = await open_wallet(shard, USERS[2])
    first = await wallets.list_wallets(
        shard.uow, user_id=USERS[1], owner_scope=None, limit=2, cursor=None
    )
    assert [w.id for w in first.items] == [opened[2].id, opened[1].id]
    second = await wallets.list_wallets(
        shard.uow, user_id=USERS[1], owner_scope=None, limit=2, cursor=first.next_cursor
    )
    assert ([w.id for w in second.items], second.next_cursor) == ([opened[0].id], None)
    everyone = await wallets.list_wallets(
        shard.uow, user_id=None, owner_scope=None, limit=10, cursor=None
    )
    assert everyone.items[0].id == other.id
    assert len(everyone.items) == 4
    scoped = await wallets.list_wallets(
        shard.uow, user_id=USERS[2], owner_scope=USERS[1], limit=10, cursor=None
    )
    assert scoped.items == []
    with pytest.raises(NotFound):
        await wallets.get_wallet(shard.uow, other.id, owner_scope=USERS[1])


async def test_a_user_of_another_shard_is_refused(shard: Shard) -> None:
    with pytest.raises(ValidationFailed):
        await open_wallet(shard, users_of_shard(1)[0])


async def test_close_needs_an_empty_wallet(shard: Shard) -> None:
    wallet = await open_wallet(shard)
    await deposit(shard, wallet.id, 10)
    with pytest.raises(Conflict):
        await wallets.change_status(
            shard.uow, shard.context, wallet.id, StatusChange.CLOSE, owner_scope=None
        )
    await withdraw(shard, wallet.id, 10)
    closed = await wallets.change_status(
        shard.uow, shard.context, wallet.id, StatusChange.CLOSE, owner_scope=None
    )
    assert closed.status.value == "closed"


# --- transfers (TCC) ---------------------------------------------------------------------------


async def test_a_transfer_books_once_however_often_its_commands_arrive(shard: Shard) -> None:
    source, destination = await open_wallet(shard, USERS[0]), await open_wallet(shard, USERS[1])
    await deposit(shard, source.id, 1000)
    await shard.take_outbox()
    transfer = new_transfer_id()
    tries = [leg(TryDebit, source.id, transfer), leg(TryCredit, destination.id, transfer)]
    replies = await run_batch(shard, tries)
    assert [outcome(r) for r in replies] == [
        ("DebitTried", transfer, True, None),
        ("CreditTried", transfer, True, None),
    ]
    assert await balances(shard, source.id) == (1000, 300)
    assert [outcome(r) for r in await run_batch(shard, tries)] == [outcome(r) for r in replies]
    assert await balances(shard, source.id) == (1000, 300)

    before = LEDGER_POSTINGS.labels("0", "transfer_out")._value.get()
    confirms = [
        leg(ConfirmDebit, source.id, transfer),
        leg(ConfirmCredit, destination.id, transfer),
    ]
    for _ in range(3):  # the first delivery and two redeliveries
        replies = await run_batch(shard, confirms)
        assert [type(r) for r in replies] == [DebitConfirmed, CreditConfirmed]
    assert LEDGER_POSTINGS.labels("0", "transfer_out")._value.get() == before + 1
    assert await balances(shard, source.id) == (700, 0)
    assert await balances(shard, destination.id) == (300, 0)
    booked = await shard.pool.fetch(
        "SELECT type FROM journal_transactions WHERE transfer_id = $1 ORDER BY type", transfer
    )
    assert [row["type"] for row in booked] == ["transfer_in", "transfer_out"]
    report = await assert_consistent(shard)
    assert report["currencies"]["USD"]["clearing"] == "0"


async def test_a_batch_mixing_transfers_is_one_unit_and_answers_each_command(shard: Shard) -> None:
    source, destination = await open_wallet(shard, USERS[0]), await open_wallet(shard, USERS[1])
    await deposit(shard, source.id, 10_000)
    transfers = [new_transfer_id() for _ in range(40)]
    tries = [
        command
        for t in transfers
        for command in (leg(TryDebit, source.id, t, 100), leg(TryCredit, destination.id, t, 100))
    ]
    confirms = [
        command
        for t in transfers
        for command in (
            leg(ConfirmDebit, source.id, t, 100),
            leg(ConfirmCredit, destination.id, t, 100),
        )
    ]
    replies = await run_batch(shard, tries + confirms)
    assert len(replies) == 160
    assert all(getattr(r, "ok", True) for r in replies)
    assert await balances(shard, source.id) == (6000, 0)
    assert await balances(shard, destination.id) == (4000, 0)
    await assert_consistent(shard)


async def test_cross_shard_debit_leaves_money_in_clearing_until_the_other_side(
    shard: Shard,
) -> None:
    source = await open_wallet(shard)
    await deposit(shard, source.id, 1000)
    transfer = new_transfer_id()
    await run_batch(shard, [leg(TryDebit, source.id, transfer)])
    await run_batch(shard, [leg(ConfirmDebit, source.id, transfer)])
    report = await assert_consistent(shard)
    assert report["currencies"]["USD"] == {
        "wallets_total": "700",
        "clearing": "300",
        "cash_in": "-1000",
        "cash_out": "0",
        "merchant": "0",
    }


async def test_try_refusals_carry_their_failure_codes(shard: Shard) -> None:
    poor, frozen = await open_wallet(shard, USERS[0]), await open_wallet(shard, USERS[1])
    euro = await open_wallet(shard, USERS[2], "EUR")
    await wallets.change_status(
        shard.uow, shard.context, frozen.id, StatusChange.FREEZE, owner_scope=None
    )
    t = [new_transfer_id() for _ in range(4)]
    replies = await run_batch(
        shard,
        [
            leg(TryDebit, poor.id, t[0]),
            leg(TryCredit, frozen.id, t[1]),
            leg(TryCredit, euro.id, t[2]),
            leg(TryDebit, "wlt_000" + "0" * 32, t[3]),
        ],
    )
    assert [(r.transfer_id, getattr(r, "failure_code", None)) for r in replies] == [
        (t[0], "insufficient_funds"),
        (t[1], "wallet_not_active"),
        (t[2], "currency_mismatch"),
        (t[3], "not_found"),
    ]
    cancels = [leg(CancelDebit, poor.id, t[0]), leg(CancelCredit, frozen.id, t[1])]
    assert [type(r) for r in await run_batch(shard, cancels)] == [DebitCancelled, CreditCancelled]
    await assert_consistent(shard)


async def test_cancel_before_try_leaves_a_tombstone_and_the_late_try_is_refused(
    shard: Shard,
) -> None:
    source, destination = await open_wallet(shard, USERS[0]), await open_wallet(shard, USERS[1])
    await deposit(shard, source.id, 1000)
    transfer = new_transfer_id()
    cancels = [leg(CancelDebit, source.id, transfer), leg(CancelCredit, destination.id, transfer)]
    assert [type(r) for r in await run_batch(shard, cancels)] == [DebitCancelled, CreditCancelled]
    tries = [leg(TryDebit, source.id, transfer), leg(TryCredit, destination.id, transfer)]
    late = await run_batch(shard, tries)
    assert [outcome(r) for r in late] == [
        ("DebitTried", transfer, False, "cancelled"),
        ("CreditTried", transfer, False, "cancelled"),
    ]
    assert await balances(shard, source.id) == (1000, 0)  # no hanging hold
    assert [outcome(r) for r in await run_batch(shard, tries)] == [outcome(r) for r in late]
    with pytest.raises(ConfirmWithoutTry):
        await run_batch(shard, [leg(ConfirmDebit, source.id, transfer)])
    await assert_consistent(shard)


async def test_cancel_releases_the_hold_and_a_redelivered_cancel_is_a_no_op(shard: Shard) -> None:
    source = await open_wallet(shard)
    await deposit(shard, source.id, 1000)
    transfer = new_transfer_id()
    await run_batch(shard, [leg(TryDebit, source.id, transfer)])
    for _ in range(2):
        replies = await run_batch(shard, [leg(CancelDebit, source.id, transfer)])
        assert [type(r) for r in replies] == [DebitCancelled]
        assert await balances(shard, source.id) == (1000, 0)
    await assert_consistent(shard)


async def test_a_hold_survives_withdrawals_which_only_spend_the_available_balance(
    shard: Shard,
) -> None:
    source = await open_wallet(shard)
    await deposit(shard, source.id, 1000)
    transfer = new_transfer_id()
    await run_batch(shard, [leg(TryDebit, source.id, transfer)])
    refused = await withdraw(shard, source.id, 701)
    assert orjson.loads(refused.body)["code"] == "insufficient_funds"
    assert await balances(shard, source.id) == (1000, 300)
    assert (await withdraw(shard, source.id, 700)).status_code == 201
    assert await balances(shard, source.id) == (300, 300)
    await run_batch(shard, [leg(ConfirmDebit, source.id, transfer)])
    assert await balances(shard, source.id) == (0, 0)
    await assert_consistent(shard)


async def test_confirm_succeeds_after_both_wallets_were_frozen_since_the_try(shard: Shard) -> None:
    source, destination = await open_wallet(shard, USERS[0]), await open_wallet(shard, USERS[1])
    await deposit(shard, source.id, 1000)
    transfer = new_transfer_id()
    tries = [leg(TryDebit, source.id, transfer), leg(TryCredit, destination.id, transfer)]
    assert all(
        isinstance(r, DebitTried | CreditTried) and r.ok for r in await run_batch(shard, tries)
    )
    for wallet in (source, destination):
        await wallets.change_status(
            shard.uow, shard.context, wallet.id, StatusChange.FREEZE, owner_scope=None
        )
    confirms = [
        leg(ConfirmDebit, source.id, transfer),
        leg(ConfirmCredit, destination.id, transfer),
    ]
    assert [type(r) for r in await run_batch(shard, confirms)] == [DebitConfirmed, CreditConfirmed]
    assert await balances(shard, source.id) == (700, 0)
    assert await balances(shard, destination.id) == (300, 0)
    await assert_consistent(shard)


async def test_a_batch_with_a_protocol_violation_changes_nothing(shard: Shard) -> None:
    source = await open_wallet(shard)
    await deposit(shard, source.id, 1000)
    await shard.take_outbox()
    good, never_tried = new_transfer_id(), new_transfer_id()
    with pytest.raises(ConfirmWithoutTry):
        await handle_transfer_commands(
            shard.uow,
            shard.context,
            [leg(TryDebit, source.id, good), leg(ConfirmDebit, source.id, never_tried)],
        )
    assert await balances(shard, source.id) == (1000, 0)
    assert await shard.take_outbox() == []


async def test_a_pending_credit_blocks_closing_the_wallet(shard: Shard) -> None:
    destination = await open_wallet(shard)
    transfer = new_transfer_id()
    await run_batch(shard, [leg(TryCredit, destination.id, transfer)])
    with pytest.raises(Conflict):
        await wallets.change_status(
            shard.uow, shard.context, destination.id, StatusChange.CLOSE, owner_scope=None
        )
    report = await assert_consistent(shard)
    assert report["pending_credit_transfer_ids"] == [transfer]


# --- integrity ---------------------------------------------------------------------------------


async def test_integrity_reports_what_does_not_add_up(shard: Shard) -> None:
    wallet = await open_wallet(shard)
    await deposit(shard, wallet.id, 1000)
    transfer = new_transfer_id()
    await run_batch(shard, [leg(TryDebit, wallet.id, transfer)])
    report = await assert_consistent(shard)
    assert report["active_hold_transfer_ids"] == [transfer]

    # Tamper with the snapshot behind the ledger's back.
    await shard.pool.execute("UPDATE wallets SET balance = balance + 5, frozen = 0")
    tampered = await shard_integrity(shard.uow, shard.context)
    assert not tampered.consistent
    assert any("entries sum to 1000" in problem for problem in tampered.problems)
    assert any("active holds sum to 300" in problem for problem in tampered.problems)


async def test_money_written_into_clearing_behind_the_legs_back_is_named(shard: Shard) -> None:
    wallet = await open_wallet(shard)
    await deposit(shard, wallet.id, 1000)
    transfer = new_transfer_id()
    await run_batch(shard, [leg(TryDebit, wallet.id, transfer)])
    await run_batch(shard, [leg(ConfirmDebit, wallet.id, transfer)])
    await assert_consistent(shard)  # 300 in clearing, as the confirmed debit leg says

    # A balanced journal transaction that no transfer leg explains: cash_in -> clearing.
    async with shard.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO journal_transactions (id, wallet_id, type, amount, balance_after,"
            " created_at) VALUES ('txn_forged', $1, 'deposit', 70, 1000, now())",
            wallet.id,
        )
        await conn.execute(
            "INSERT INTO journal_entries (transaction_id, account, currency, amount, created_at)"
            " VALUES ('txn_forged', 'system:cash_in:USD', 'USD', -70, now()),"
            " ('txn_forged', 'system:clearing:USD', 'USD', 70, now())"
        )
    tampered = await shard_integrity(shard.uow, shard.context)
    assert not tampered.consistent
    assert (
        "clearing account holds 370 USD but its confirmed transfer legs account for 300"
        " (difference 70)" in tampered.problems
    )
