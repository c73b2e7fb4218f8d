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
    get_local_transfer,
    list_local_transfers,
    start_local_transfer,
)
from wallet_shard.service_layer.unit_of_work import UnitOfWork
from wallet_shared.contracts.errors import NotFound
from wallet_shared.platform.idempotency import StoredResponse

from .conftest import Shard, users_of_shard
from .test_shard_ledger import balances, deposit, idempotent, open_wallet

ALICE, DAVE = users_of_shard(0)[:2]


async def local_transfer(
    shard: Shard, source: str, destination: str, amount: int, key: str | None = None
) -> StoredResponse:
    request = LocalTransferRequest(
        source_wallet_id=source,
        destination_wallet_id=destination,
        amount=amount,
        currency="USD",
        description=None,
        initiator=ALICE,
    )
    return await start_local_transfer(
        shard.uow,
        shard.context,
        request,
        owner_scope=None,
        idempotency=idempotent({"source": source, "to": destination, "amount": amount}, key),
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


@pytest.mark.parametrize("group_commit", [False, True], ids=["alone", "group-commit"])
async def test_concurrent_transfers_from_one_wallet_never_overdraw_it(
    shard: Shard, group_commit: bool
) -> None:
    if group_commit:  # concurrent requests share transactions, as in a running shard
        shard = replace(
            shard,
            uow=UnitOfWork(pool=shard.pool, relay=shard.wakes, group_commit=True),
        )
    source = (await open_wallet(shard, ALICE)).id
    destinations = [(await open_wallet(shard, DAVE)).id for _ in range(3)]
    await deposit(shard, source, 1000)

    results = await asyncio.gather(
        *(local_transfer(shard, source, destinations[n % 3], 150) for n in range(12))
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
