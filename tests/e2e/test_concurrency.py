"""Many requests at once against one wallet: exactly the affordable number succeed."""

from __future__ import annotations

import asyncio

from tests.e2e.client import Gateway, assert_problem, expect, user_on_shard


async def test_concurrent_withdrawals_never_overdraw(gw: Gateway) -> None:
    alice = gw.user("alice")
    wid = (await alice.create_wallet("USD"))["id"]
    await alice.deposit(wid, 1000)

    responses = await asyncio.gather(*(alice.withdraw_raw(wid, 100) for _ in range(30)))

    succeeded = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert len(succeeded) == 10, [r.text for r in responses]
    for response in refused:
        assert_problem(response, 422, "insufficient_funds")
    assert sorted(int(r.json()["balance_after"]) for r in succeeded) == list(range(0, 1000, 100))
    wallet = await alice.wallet(wid)
    assert (wallet["balance"], wallet["available_balance"], wallet["frozen_balance"]) == (
        "0",
        "0",
        "0",
    )
    history = await alice.all_pages(f"/v1/wallets/{wid}/transactions")
    assert [t["type"] for t in history].count("withdrawal") == 10
    assert len(history) == 11


async def test_concurrent_transfers_out_of_one_wallet(gw: Gateway) -> None:
    alice = gw.user(user_on_shard(0, "alice"))
    bob = gw.user(user_on_shard(1, "bob"))
    source = (await alice.create_wallet("USD"))["id"]
    across = (await bob.create_wallet("USD"))["id"]
    within = (await alice.create_wallet("USD"))["id"]  # same shard: the local path
    await alice.deposit(source, 1000)

    destinations = [across, within] * 10
    responses = await asyncio.gather(
        *(alice.transfer_raw(source, dest, 100, wait_s=10) for dest in destinations)
    )
    outcomes: list[str] = []
    for response in responses:
        if response.status_code in (200, 202):
            final = await alice.await_final(response.json()["id"])
            outcomes.append(final["failure_code"] or final["status"])
        else:  # refused up front, which API.md allows for the same reason
            outcomes.append(assert_problem(response, 422, "insufficient_funds")["code"])
    assert sorted(outcomes) == ["completed"] * 10 + ["insufficient_funds"] * 10

    after = await alice.wallet(source)
    assert (after["balance"], after["available_balance"], after["frozen_balance"]) == (
        "0",
        "0",
        "0",
    )
    received = [
        int((await api.wallet(w))["balance"]) for api, w in ((bob, across), (alice, within))
    ]
    assert sum(received) == 1000
    completed = await alice.all_pages("/v1/transfers", {"wallet_id": source})
    assert sum(t["status"] == "completed" for t in completed) == 10
    assert all(t["status"] in ("completed", "cancelled") for t in completed)
    report = expect(await gw.admin().get("/v1/admin/integrity"), 200)
    assert report["consistent"] is True, report
