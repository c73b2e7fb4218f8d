"""Local (same-shard) transfers on a real database: one transaction leaves the saga's records
(resolved legs, both journal transactions), the transfer's row and its events; concurrent
transfers from one wallet never overdraw it; the shard's integrity check stays consistent."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import orjson
import pytest
from wallet_shard.domain.local_transfers import LocalTransferRequest
from wallet_shard.service_layer.integrity import shard_integrity
from wallet_shard.service_layer.local_transfers import (
    LocalTransfers,
    get_local_transfer,
    list_local_transfers,
)
from wallet_shared.contracts.errors import IdempotencyKeyInUse, IdempotencyKeyReused, NotFound
from wallet_shared.platform.idempotency import StoredResponse

from .conftest import Shard, users_of_shard
from .test_shard_ledger import balances, deposit, idempotent, open_wallet

ALICE, DAVE = users_of_shard(0)[:2]


async def local_transfer(
    shard: Shard,
    source: str,
    destination: str,
    amount: int,
    key: str | None = None,
    *,
    desk: LocalTransfers | None = None,
    owner_scope: str | None = None,
    caller: str = "tester",
) -> StoredResponse:
    """A local transfer booked by `desk` (where concurrent ones are booked in batches), or
    alone by a desk of its own."""
    request = LocalTransferRequest(
        source_wallet_id=source,
        destination_wallet_id=destination,
        amount=amount,
        currency="USD",
        description=None,
        initiator=ALICE,
    )
    desk = desk or LocalTransfers(shard.uow, shard.context)
    body = {"source": source, "to": destination, "amount": amount}
    return await desk.start(
        request,
        owner_scope=owner_scope,
        idempotency=replace(idempotent(body, key), caller=caller),
    )


async def test_one_transaction_leaves_the_sagas_records_and_events(shard: Shard) -> None:
    source = (await open_wallet(shard, ALICE)).id
    destination = (await open_wallet(shard, DAVE)).id
    await deposit(shard, source, 1000)
    await shard.take_outbox()

    stored = await local_transfer(shard, source, destination, 400, key="t1")
    transfer = orjson.loads(stored.body)
    assert (stored.status_code, transfer["status"]) == (202, "completed")
    assert await balances(shard, source) == (600, 0)  # (balance, frozen)
    assert await balances(shard, destination) == (400, 0)

    legs = await shard.pool.fetch(
        "SELECT 'hold' AS leg, state FROM holds WHERE transfer_id = $1 UNION ALL"
        " SELECT 'credit', state FROM pending_credits WHERE transfer_id = $1",
        transfer["id"],
    )
    assert sorted((row["leg"], row["state"]) for row in legs) == [
        ("credit", "confirmed"),
        ("hold", "confirmed"),
    ]
    booked = await shard.pool.fetch(
        "SELECT type FROM journal_transactions WHERE transfer_id = $1 ORDER BY type",
        transfer["id"],
    )
    assert [row["type"] for row in booked] == ["transfer_in", "transfer_out"]
    events = [record.event() for record in await shard.take_outbox()]
    assert [e["event_type"] for e in events] == [
        "transaction.posted",
        "transaction.posted",
        "transfer.completed",
    ]
    assert events[-1]["transfer"] == transfer

    again = await local_transfer(shard, source, destination, 400, key="t1")
    assert (again.status_code, again.body, again.replayed) == (200, stored.body, True)
    assert await shard.take_outbox() == []
    assert (await get_local_transfer(shard.uow, transfer["id"])).status == "completed"
    page = await list_local_transfers(shard.uow, wallet_id=destination, limit=10, cursor=None)
    assert [t.id for t in page.items] == [transfer["id"]]
    with pytest.raises(NotFound):
        await get_local_transfer(shard.uow, "trf_000" + "0" * 32)
    assert (await shard_integrity(shard.uow, shard.context)).consistent


@pytest.mark.parametrize("batched", [False, True], ids=["alone", "batched"])
async def test_concurrent_transfers_from_one_wallet_never_overdraw_it(
    shard: Shard, batched: bool
) -> None:
    # Batched: one desk, as in a running shard (concurrent requests are booked together).
    desk = LocalTransfers(shard.uow, shard.context) if batched else None
    source = (await open_wallet(shard, ALICE)).id
    destinations = [(await open_wallet(shard, DAVE)).id for _ in range(3)]
    await deposit(shard, source, 1000)

    results = await asyncio.gather(
        *(local_transfer(shard, source, destinations[n % 3], 150, desk=desk) for n in range(12))
    )
    statuses = [orjson.loads(result.body)["status"] for result in results]
    assert statuses.count("completed") == 6  # 6 * 150 = 900 <= 1000 < 7 * 150
    assert statuses.count("cancelled") == 6
    assert await balances(shard, source) == (100, 0)
    received = [await balances(shard, wallet) for wallet in destinations]
    assert sum(balance for balance, _ in received) == 900
    assert (await shard_integrity(shard.uow, shard.context)).consistent


async def test_a_transfer_to_the_same_wallet_is_refused_and_books_nothing(shard: Shard) -> None:
    # The gateway refuses it first; the shard does not rely on that (one rule, every service).
    wallet = (await open_wallet(shard, ALICE)).id
    await deposit(shard, wallet, 1000)
    await shard.take_outbox()

    stored = await local_transfer(shard, wallet, wallet, 400, key="self")
    assert (stored.status_code, orjson.loads(stored.body)["code"]) == (422, "same_wallet")
    assert await balances(shard, wallet) == (1000, 0)
    assert await shard.take_outbox() == []
    booked = await shard.pool.fetchval(
        "SELECT count(*) FROM journal_transactions WHERE wallet_id = $1 AND type <> 'deposit'",
        wallet,
    )
    assert booked == 0


async def in_one_batch(
    shard: Shard, *transfers: Transfer, owner_scope: str | None = None
) -> list[StoredResponse | BaseException]:
    """Book `transfers` in one batch: a desk that sends one batch at a time is held on a locked
    wallet with a first transfer while the next batch forms."""
    desk = LocalTransfers(shard.uow, shard.context, max_in_flight=1)
    held_source, held_destination = [(await open_wallet(shard, DAVE)).id for _ in range(2)]
    await deposit(shard, held_source, 1)
    async with shard.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM wallets WHERE id = $1 FOR UPDATE", held_source)
        held = asyncio.create_task(
            local_transfer(shard, held_source, held_destination, 1, desk=desk)
        )
        await until_waiting_for_a_lock(shard)
        together = asyncio.gather(
            *(
                local_transfer(shard, *transfer, desk=desk, owner_scope=owner_scope)
                for transfer in transfers
            ),
            return_exceptions=True,
        )
    await held
    results: list[StoredResponse | BaseException] = await together
    booked_in = await shard.pool.fetchval(
        "SELECT count(DISTINCT xmin::text) FROM idempotency_keys WHERE key = ANY($1::text[])",
        [key for *_, key in transfers],
    )
    assert booked_in == 1, "the transfers were not booked in one batch"
    return results


Transfer = tuple[str, str, int, str]
"""source, destination, amount, Idempotency-Key"""


async def until_waiting_for_a_lock(shard: Shard) -> None:
    """Until some session of the database waits for a row lock (the database tells it only
    when asked: no event to wait on)."""
    while not await shard.pool.fetchval(  # noqa: ASYNC110
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    ):
        await asyncio.sleep(0.01)


async def test_a_batch_books_each_transfer_on_what_those_before_it_left(shard: Shard) -> None:
    a, b, c = [(await open_wallet(shard, owner)).id for owner in (ALICE, DAVE, DAVE)]
    await deposit(shard, a, 500)
    await shard.take_outbox()

    # A → B then B → C completes only if it sees the first.
    results = await in_one_batch(shard, (a, b, 500, "ab"), (b, c, 500, "bc"), (b, c, 1, "bc-again"))
    assert all(isinstance(result, StoredResponse) for result in results)
    statuses = [orjson.loads(r.body)["status"] for r in results if isinstance(r, StoredResponse)]
    assert statuses == ["completed", "completed", "cancelled"]
    assert [await balances(shard, wallet) for wallet in (a, b, c)] == [(0, 0), (0, 0), (500, 0)]
    events = [record.event()["event_type"] for record in await shard.take_outbox()]
    assert events.count("transfer.completed") == 3  # with the transfer that held the desk
    assert events.count("transfer.cancelled") == 1
    assert (await shard_integrity(shard.uow, shard.context)).consistent


async def test_a_key_named_twice_in_one_batch_books_once(shard: Shard) -> None:
    source = (await open_wallet(shard, ALICE)).id
    destination = (await open_wallet(shard, DAVE)).id
    await deposit(shard, source, 1000)

    first, repeat, other = await in_one_batch(
        shard,
        (source, destination, 100, "twice"),
        (source, destination, 100, "twice"),
        (source, destination, 300, "twice"),
    )
    assert isinstance(first, StoredResponse)
    assert isinstance(repeat, StoredResponse)
    assert (first.status_code, first.replayed) == (202, False)
    assert (repeat.status_code, repeat.body, repeat.replayed) == (200, first.body, True)
    assert isinstance(other, IdempotencyKeyReused)
    assert await balances(shard, source) == (900, 0)


async def test_a_refusal_in_a_batch_is_stored_and_leaves_the_others_booked(shard: Shard) -> None:
    alices = (await open_wallet(shard, ALICE)).id
    daves = (await open_wallet(shard, DAVE)).id
    await deposit(shard, alices, 1000)
    await deposit(shard, daves, 1000)

    # Dave's wallet is not the caller's: refused (404), stored, and nothing of it booked.
    mine, not_mine, mine_again = await in_one_batch(
        shard,
        (alices, daves, 100, "k1"),
        (daves, alices, 100, "k2"),
        (alices, daves, 50, "k3"),
        owner_scope=ALICE,
    )
    assert isinstance(mine, StoredResponse)
    assert isinstance(not_mine, StoredResponse)
    assert isinstance(mine_again, StoredResponse)
    assert orjson.loads(mine.body)["status"] == "completed"
    assert orjson.loads(mine_again.body)["status"] == "completed"
    assert (not_mine.status_code, orjson.loads(not_mine.body)["code"]) == (404, "not_found")
    again = await local_transfer(shard, daves, alices, 100, key="k2", owner_scope=ALICE)
    assert (again.status_code, again.body, again.replayed) == (404, not_mine.body, True)
    assert [await balances(shard, w) for w in (alices, daves)] == [(850, 0), (1150, 0)]


async def test_a_key_held_by_another_transaction_is_in_use(shard: Shard) -> None:
    source = (await open_wallet(shard, ALICE)).id
    destination = (await open_wallet(shard, DAVE)).id
    await deposit(shard, source, 1000)
    async with shard.pool.acquire() as conn, conn.transaction():
        # What a request running the same key elsewhere holds (`run_idempotent`).
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))", "tester", "busy"
        )
        with pytest.raises(IdempotencyKeyInUse):
            await local_transfer(shard, source, destination, 100, key="busy")
    assert await balances(shard, source) == (1000, 0)
    done = await local_transfer(shard, source, destination, 100, key="busy")
    assert (done.status_code, done.replayed) == (202, False)
