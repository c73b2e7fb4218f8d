"""A transfer between two wallets of one shard is booked by that shard in one local transaction
(no saga): final in its first answer, found by id and in the wallet's list beside the sagas,
idempotent, and counted by the integrity check like any other."""

from __future__ import annotations

from tests.e2e.client import (
    Gateway,
    assert_problem,
    expect,
    new_key,
    user_on_shard,
)

LOCAL_ID_LENGTH = len("trf_") + 3 + 32  # the source's bucket, then the time-ordered part


async def test_a_same_shard_transfer_is_final_in_its_first_answer(gw: Gateway) -> None:
    alice, dave, bob = (
        gw.user(user_on_shard(0, "alice")),
        gw.user(user_on_shard(0, "dave")),
        gw.user(user_on_shard(1, "bob")),
    )
    source = (await alice.create_wallet("USD"))["id"]
    await alice.deposit(source, 1000)
    local = (await dave.create_wallet("USD"))["id"]
    remote = (await bob.create_wallet("USD"))["id"]

    key = new_key()
    first = await alice.transfer_raw(source, local, 300, key=key)
    transfer = expect(first, 202)
    assert (transfer["status"], transfer["failure_code"], transfer["amount"]) == (
        "completed",
        None,
        "300",
    )
    assert len(transfer["id"]) == LOCAL_ID_LENGTH
    assert (await alice.wallet(source))["balance"] == "700"
    assert (await dave.wallet(local))["available_balance"] == "300"

    # A repeat books nothing more and is told the final transfer; another request is refused.
    replay = await alice.transfer_raw(source, local, 300, key=key)
    assert (replay.status_code, replay.json()) == (200, transfer)
    assert replay.headers["idempotent-replayed"] == "true"
    assert_problem(
        await alice.transfer_raw(source, local, 301, key=key), 422, "idempotency_key_reused"
    )
    assert (await alice.wallet(source))["balance"] == "700"

    # Either side's owner finds it; anyone else does not.
    assert await alice.transfer(transfer["id"]) == transfer
    assert await dave.transfer(transfer["id"]) == transfer
    assert_problem(await bob.get(f"/v1/transfers/{transfer['id']}"), 404, "not_found")

    # What cannot be booked ends cancelled with its code, having moved nothing.
    refused = expect(await alice.transfer_raw(source, local, 5000, wait_s=5), 200)
    assert (refused["status"], refused["failure_code"]) == ("cancelled", "insufficient_funds")
    assert (await alice.wallet(source))["frozen_balance"] == "0"

    waited = expect(await alice.transfer_raw(source, local, 100, wait_s=5), 200)
    saga = expect(await alice.transfer_raw(source, remote, 50, wait_s=10), 200)
    assert saga["status"] == "completed"
    assert len(saga["id"]) != LOCAL_ID_LENGTH

    # The wallet's list merges its local transfers and its sagas, newest first, page by page.
    listed = await alice.all_pages("/v1/transfers", {"wallet_id": source, "limit": 2})
    assert [t["id"] for t in listed] == [saga["id"], waited["id"], refused["id"], transfer["id"]]
    assert [t["id"] for t in await dave.all_pages("/v1/transfers", {"wallet_id": local})] == [
        waited["id"],
        refused["id"],
        transfer["id"],
    ]
    assert (await alice.wallet(source))["balance"] == str(1000 - 300 - 100 - 50)

    report = await gw.admin().integrity()
    assert report["consistent"], report
