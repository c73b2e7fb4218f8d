"""Deposits and withdrawals booked in batches on a real database: each movement of a batch is
booked on what the ones before it left, a key named twice books once, a refusal is stored and
leaves the others booked, each event keeps its own request's trace, and concurrent withdrawals
through one desk never overdraw a wallet."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Literal

import orjson
import structlog
from wallet_shard.service_layer.integrity import shard_integrity
from wallet_shard.service_layer.movements import CashMovements
from wallet_shared.contracts.errors import IdempotencyKeyReused
from wallet_shared.platform.idempotency import StoredResponse

from .conftest import Shard, users_of_shard
from .test_local_transfers_db import until_waiting_for_a_lock
from .test_shard_ledger import balances, deposit, open_wallet, withdraw

ALICE, DAVE = users_of_shard(0)[:2]


@dataclass(frozen=True)
class Movement:
    """A deposit or a withdrawal to send, with its Idempotency-Key and the trace it runs in."""

    kind: Literal["deposit", "withdraw"]
    wallet_id: str
    amount: int
    key: str
    trace_id: str = ""

    async def send(self, shard: Shard, desk: CashMovements) -> StoredResponse:
        move = deposit if self.kind == "deposit" else withdraw
        with structlog.contextvars.bound_contextvars(trace_id=self.trace_id):
            return await move(shard, self.wallet_id, self.amount, self.key, desk=desk)


def depositing(wallet_id: str, amount: int, key: str, trace_id: str = "") -> Movement:
    return Movement("deposit", wallet_id, amount, key, trace_id)


def withdrawing(wallet_id: str, amount: int, key: str) -> Movement:
    return Movement("withdraw", wallet_id, amount, key)


async def in_one_batch(shard: Shard, *movements: Movement) -> list[StoredResponse | BaseException]:
    """Book `movements` in one batch: a desk that sends one batch at a time is held on a locked
    wallet with a first deposit while the next batch forms; returns what each was answered."""
    desk = CashMovements(shard.uow, shard.context, max_in_flight=1)
    held_wallet = (await open_wallet(shard, DAVE)).id
    async with shard.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM wallets WHERE id = $1 FOR UPDATE", held_wallet)
        held = asyncio.create_task(deposit(shard, held_wallet, 1, desk=desk))
        await until_waiting_for_a_lock(shard)
        together = asyncio.gather(
            *(movement.send(shard, desk) for movement in movements), return_exceptions=True
        )
    await held
    results: list[StoredResponse | BaseException] = await together
    booked_in = await shard.pool.fetchval(
        "SELECT count(DISTINCT xmin::text) FROM idempotency_keys WHERE key = ANY($1::text[])",
        [movement.key for movement in movements],
    )
    assert booked_in == 1, "the movements were not booked in one batch"
    return results


async def test_a_batch_books_each_movement_on_what_those_before_it_left(shard: Shard) -> None:
    wallet = (await open_wallet(shard, ALICE)).id
    await shard.take_outbox()

    # The withdrawal of 500 is covered only by the deposit before it in the same batch.
    results = await in_one_batch(
        shard,
        depositing(wallet, 500, "in"),
        withdrawing(wallet, 500, "out"),
        withdrawing(wallet, 1, "out-again"),
    )
    answers = [r for r in results if isinstance(r, StoredResponse)]
    assert [a.status_code for a in answers] == [201, 201, 422]
    assert orjson.loads(answers[2].body)["code"] == "insufficient_funds"
    assert [orjson.loads(a.body)["balance_after"] for a in answers[:2]] == ["500", "0"]
    assert await balances(shard, wallet) == (0, 0)

    posted = [
        transaction
        for record in await shard.take_outbox()
        if (transaction := record.event().get("transaction", {})).get("wallet_id") == wallet
    ]
    assert [(t["type"], t["amount"]) for t in posted] == [("deposit", "500"), ("withdrawal", "500")]
    requests = await shard.pool.fetch(
        "SELECT m.actor, m.client_address FROM movement_requests m"
        " JOIN journal_transactions j ON j.id = m.transaction_id WHERE j.wallet_id = $1",
        wallet,
    )
    assert [tuple(row) for row in requests] == [("tester", "127.0.0.1")] * 2
    assert (await shard_integrity(shard.uow, shard.context)).consistent


async def test_a_key_named_twice_in_one_batch_books_once(shard: Shard) -> None:
    wallet = (await open_wallet(shard, ALICE)).id
    first, repeat, other = await in_one_batch(
        shard,
        depositing(wallet, 100, "twice"),
        depositing(wallet, 100, "twice"),
        depositing(wallet, 300, "twice"),
    )
    assert isinstance(first, StoredResponse)
    assert isinstance(repeat, StoredResponse)
    assert (first.status_code, first.replayed) == (201, False)
    assert (repeat.status_code, repeat.body, repeat.replayed) == (201, first.body, True)
    assert isinstance(other, IdempotencyKeyReused)
    assert await balances(shard, wallet) == (100, 0)


async def test_a_refusal_in_a_batch_is_stored_and_leaves_the_others_booked(shard: Shard) -> None:
    wallet = (await open_wallet(shard, ALICE)).id
    frozen = (await open_wallet(shard, ALICE)).id
    await shard.pool.execute("UPDATE wallets SET status = 'frozen' WHERE id = $1", frozen)

    mine, refused, missing, mine_again = await in_one_batch(
        shard,
        depositing(wallet, 100, "k1"),
        depositing(frozen, 100, "k2"),
        depositing("wlt_000" + "0" * 32, 5, "k3"),
        depositing(wallet, 50, "k4"),
    )
    assert isinstance(mine, StoredResponse)
    assert isinstance(refused, StoredResponse)
    assert isinstance(missing, StoredResponse)
    assert isinstance(mine_again, StoredResponse)
    assert (mine.status_code, mine_again.status_code) == (201, 201)
    assert (refused.status_code, orjson.loads(refused.body)["code"]) == (422, "wallet_not_active")
    assert (missing.status_code, orjson.loads(missing.body)["code"]) == (404, "not_found")
    again = await deposit(shard, frozen, 100, key="k2")
    assert (again.status_code, again.body, again.replayed) == (422, refused.body, True)
    assert [await balances(shard, w) for w in (wallet, frozen)] == [(150, 0), (0, 0)]


async def test_each_event_of_a_batch_keeps_its_own_requests_trace(shard: Shard) -> None:
    wallet = (await open_wallet(shard, ALICE)).id
    await shard.take_outbox()

    await in_one_batch(
        shard, depositing(wallet, 10, "a", "trace-a"), depositing(wallet, 20, "b", "trace-b")
    )
    traces = {
        transaction["amount"]: record.headers.get("trace_id")
        for record in await shard.take_outbox()
        if (transaction := record.event().get("transaction", {})).get("wallet_id") == wallet
    }
    assert traces == {"10": "trace-a", "20": "trace-b"}


async def test_concurrent_withdrawals_through_one_desk_never_overdraw(shard: Shard) -> None:
    wallet = (await open_wallet(shard, ALICE)).id
    await deposit(shard, wallet, 1000)
    desk = CashMovements(shard.uow, shard.context)
    results = await asyncio.gather(*(withdraw(shard, wallet, 150, desk=desk) for _ in range(20)))
    assert Counter(result.status_code for result in results) == {201: 6, 422: 14}
    assert await balances(shard, wallet) == (100, 0)
    transactions = await shard.pool.fetchval(
        "SELECT count(*) FROM journal_transactions WHERE wallet_id = $1", wallet
    )
    assert transactions == 7
    assert (await shard_integrity(shard.uow, shard.context)).consistent
