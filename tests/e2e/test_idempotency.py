"""Idempotency keys: replay, reuse, in use, required, scoped per caller; money moves once."""

from __future__ import annotations

import asyncio

import httpx

from tests.e2e.client import (
    Api,
    Gateway,
    assert_problem,
    expect,
    new_key,
    user_on_shard,
)

REPLAYED = "Idempotent-Replayed"


def _is_replay(response: httpx.Response) -> bool:
    value: str = response.headers.get(REPLAYED, "")
    return value.lower() == "true"


async def test_replayed_deposit_returns_the_original_and_moves_nothing(gw: Gateway) -> None:
    alice = gw.user("alice")
    wid = (await alice.create_wallet("USD"))["id"]
    key = new_key()

    original = await alice.deposit_raw(wid, 700, key=key)
    assert original.status_code == 201, original.text
    assert not _is_replay(original)
    for _ in range(3):
        replay = await alice.deposit_raw(wid, 700, key=key)
        assert replay.status_code == 201, replay.text
        assert _is_replay(replay)
        assert replay.json() == original.json()

    assert (await alice.wallet(wid))["balance"] == "700"
    history = expect(await alice.get(f"/v1/wallets/{wid}/transactions"), 200)
    assert [t["id"] for t in history["items"]] == [original.json()["id"]]


async def test_replayed_refusal_returns_the_same_problem(gw: Gateway) -> None:
    alice = gw.user("alice")
    wid = (await alice.create_wallet("USD"))["id"]
    key = new_key()

    refused = await alice.withdraw_raw(wid, 500, key=key)
    body = assert_problem(refused, 422, "insufficient_funds")
    await alice.deposit(wid, 1000)
    # The stored answer is replayed even though the wallet could afford it now.
    replay = await alice.withdraw_raw(wid, 500, key=key)
    assert_problem(replay, 422, "insufficient_funds")
    assert _is_replay(replay)
    assert replay.json() == body
    assert (await alice.wallet(wid))["balance"] == "1000"


async def test_same_key_with_another_body_is_refused(gw: Gateway) -> None:
    alice = gw.user("alice")
    wid = (await alice.create_wallet("USD"))["id"]
    second = (await alice.create_wallet("USD"))["id"]
    key = new_key()
    await alice.deposit(wid, 100, key=key)

    assert_problem(await alice.deposit_raw(wid, 200, key=key), 422, "idempotency_key_reused")
    assert_problem(await alice.withdraw_raw(wid, 100, key=key), 422, "idempotency_key_reused")
    assert_problem(await alice.deposit_raw(second, 100, key=key), 422, "idempotency_key_reused")
    assert (await alice.wallet(wid))["balance"] == "100"
    assert (await alice.wallet(second))["balance"] == "0"


async def test_a_key_serves_one_request_across_shards_and_transfers(gw: Gateway) -> None:
    admin = gw.admin()
    on_0 = (await gw.user(user_on_shard(0, "carol")).create_wallet("USD"))["id"]
    on_1 = (await gw.user(user_on_shard(1, "dave")).create_wallet("USD"))["id"]
    key = new_key()
    await admin.deposit(on_0, 100, key=key)
    # The same key on another shard's wallet, or for a transfer, is another request.
    assert_problem(await admin.deposit_raw(on_1, 100, key=key), 422, "idempotency_key_reused")
    transfer = {"source_wallet_id": on_0, "destination_wallet_id": on_1, "amount": 10}
    assert_problem(
        await admin.post("/v1/transfers", transfer, key=key), 422, "idempotency_key_reused"
    )
    # And a transfer's key cannot then move money on a shard.
    other_key = new_key()
    expect(await admin.post("/v1/transfers", transfer, key=other_key), 202)
    assert_problem(await admin.deposit_raw(on_1, 5, key=other_key), 422, "idempotency_key_reused")
    assert (await admin.wallet(on_1))["balance"] in ("0", "10")  # the transfer may still run


async def test_money_moving_posts_require_a_key(gw: Gateway) -> None:
    alice = gw.user("alice")
    wid = (await alice.create_wallet("USD"))["id"]
    other = (await gw.user("bob").create_wallet("USD"))["id"]
    await alice.deposit(wid, 1000)

    requests = [
        (f"/v1/wallets/{wid}/deposits", {"amount": 5}),
        (f"/v1/wallets/{wid}/withdrawals", {"amount": 5}),
        ("/v1/transfers", {"source_wallet_id": wid, "destination_wallet_id": other, "amount": 5}),
    ]
    for path, body in requests:
        assert_problem(await alice.post(path, body), 400, "idempotency_key_required")
        # Keys are 1-255 printable characters; anything else is refused as a client error.
        for bad_key in ("k" * 256, "tab\tkey"):
            response = await alice.post(path, body, key=bad_key)
            assert 400 <= response.status_code < 500, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
    assert (await alice.wallet(wid))["balance"] == "1000"
    assert (await gw.user("bob").wallet(other))["balance"] == "0"
    assert expect(await alice.get("/v1/transfers", {"wallet_id": wid}), 200)["items"] == []


async def test_keys_are_scoped_to_the_caller(gw: Gateway) -> None:
    # Two users on the same shard, so that only the caller scoping keeps their keys apart.
    alice, bob = gw.user(user_on_shard(0, "alice")), gw.user(user_on_shard(0, "bob"))
    alices = (await alice.create_wallet("USD"))["id"]
    bobs = (await bob.create_wallet("USD"))["id"]
    key = "shared-key-1"

    first = await alice.deposit_raw(alices, 300, key=key)
    second = await bob.deposit_raw(bobs, 300, key=key)
    assert (first.status_code, second.status_code) == (201, 201)
    assert not _is_replay(first)
    assert not _is_replay(second)
    assert first.json()["id"] != second.json()["id"]
    assert (await alice.wallet(alices))["balance"] == "300"
    assert (await bob.wallet(bobs))["balance"] == "300"


async def _two_at_once(alice: Api, wid: str) -> None:
    """Two identical deposits at once: one runs, the other replays it or is told it is running."""
    key = new_key()
    responses = await asyncio.gather(*(alice.deposit_raw(wid, 250, key=key) for _ in range(2)))
    originals = [r for r in responses if r.status_code == 201 and not _is_replay(r)]
    assert len(originals) == 1, [r.text for r in responses]
    for response in responses:
        if response is originals[0]:
            continue
        if response.status_code == 409:
            assert_problem(response, 409, "idempotency_key_in_use")
        else:
            assert response.status_code == 201, response.text
            assert _is_replay(response)
            assert response.json() == originals[0].json()


async def test_concurrent_identical_deposits_move_money_once(gw: Gateway) -> None:
    alice = gw.user("alice")
    pair = (await alice.create_wallet("USD"))["id"]
    await _two_at_once(alice, pair)
    assert (await alice.wallet(pair))["balance"] == "250"

    # A storm of the same request, 50 at once, on another wallet.
    wid = (await alice.create_wallet("USD"))["id"]
    key = new_key()

    responses = await asyncio.gather(*(alice.deposit_raw(wid, 40, key=key) for _ in range(50)))
    statuses = {r.status_code for r in responses}
    assert statuses <= {201, 409}, [r.text for r in responses if r.status_code not in (201, 409)]
    created = [r for r in responses if r.status_code == 201]
    assert sum(not _is_replay(r) for r in created) == 1
    assert len({r.json()["id"] for r in created}) == 1
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "idempotency_key_in_use")

    assert (await alice.wallet(wid))["balance"] == "40"
    late = await alice.deposit_raw(wid, 40, key=key)
    assert late.status_code == 201
    assert _is_replay(late)
    history = expect(await alice.get(f"/v1/wallets/{wid}/transactions"), 200)
    assert len(history["items"]) == 1


async def test_storm_of_identical_transfers_moves_money_once(gw: Gateway) -> None:
    alice = gw.user(user_on_shard(0, "alice"))
    bob = gw.user(user_on_shard(1, "bob"))
    source = (await alice.create_wallet("USD"))["id"]
    destination = (await bob.create_wallet("USD"))["id"]
    await alice.deposit(source, 1000)
    key = new_key()

    responses = await asyncio.gather(
        *(alice.transfer_raw(source, destination, 300, key=key) for _ in range(50))
    )
    accepted = [r for r in responses if r.status_code in (200, 202)]
    refused = [r for r in responses if r.status_code not in (200, 202)]
    for response in refused:
        assert_problem(response, 409, "idempotency_key_in_use")
    assert sum(not _is_replay(r) for r in accepted) == 1
    transfer_ids = {r.json()["id"] for r in accepted}
    assert len(transfer_ids) == 1
    final = await alice.await_final(transfer_ids.pop())
    assert final["status"] == "completed"

    assert (await alice.wallet(source))["balance"] == "700"
    assert (await bob.wallet(destination))["balance"] == "300"
    listed = expect(await alice.get("/v1/transfers", {"wallet_id": source}), 200)
    assert [t["id"] for t in listed["items"]] == [final["id"]]
