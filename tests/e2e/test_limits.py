"""Spending limits through the gateway: defaults from settings, per-wallet limits set by admins,
withdrawals, purchases and transfers counted per UTC day and month, a cancelled transfer giving
its usage back, and concurrent requests never overshooting."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.e2e.client import (
    Api,
    Gateway,
    Json,
    assert_problem,
    assert_validation_problem,
    expect,
    new_key,
    user_on_shard,
)

DEFAULTS = {"WALLET_DEFAULT_DAILY_LIMIT": "1000", "WALLET_DEFAULT_MONTHLY_LIMIT": "1500"}


async def _limits(api: Api, wallet_id: str) -> Json:
    limits: Json = expect(await api.get(f"/v1/wallets/{wallet_id}/limits"), 200)
    return limits


async def _set_limits(api: Api, wallet_id: str, body: Json) -> httpx.Response:
    return await api.put(f"/v1/wallets/{wallet_id}/limits", body)


async def _used_today_becomes(api: Api, wallet_id: str, expected: str) -> None:
    """Wait (at most a minute) for the usage: a cancelled transfer's hold is released after
    the transfer is final, when the source shard handles the Cancel."""
    deadline = time.monotonic() + 60
    while (used := (await _limits(api, wallet_id))["used_today"]) != expected:
        assert time.monotonic() < deadline, f"used_today is {used}, not {expected}"
        await asyncio.sleep(0.1)


async def _purchase_raw(api: Api, wallet_id: str, amount: int) -> httpx.Response:
    body = {"amount": amount, "order_id": new_key()}
    return await api.post_money(f"/v1/wallets/{wallet_id}/purchases", body)


async def _transfer_outcome(api: Api, source: str, destination: str, amount: int) -> str:
    """`completed`, or the failure code of a transfer cancelled or refused up front."""
    response = await api.transfer_raw(source, destination, amount, wait_s=20)
    if response.status_code == 422:
        code: str = response.json()["code"]
        return code
    assert response.status_code in (200, 202), response.text
    transfer = await api.await_final(response.json()["id"])
    outcome: str = transfer["failure_code"] or transfer["status"]
    return outcome


@pytest.mark.cluster(env=DEFAULTS)
async def test_limits_defaults_overrides_and_every_outgoing_kind(gw: Gateway) -> None:
    alice, admin = gw.user(user_on_shard(0, "alice")), gw.admin()
    bob = gw.user(user_on_shard(1, "bob"))
    wid = (await alice.create_wallet("USD"))["id"]
    assert await _limits(alice, wid) == {
        "wallet_id": wid,
        "daily": "1000",
        "monthly": "1500",
        "used_today": "0",
        "used_this_month": "0",
        "daily_is_default": True,
        "monthly_is_default": True,
    }
    await alice.deposit(wid, 5000)  # money in never counts
    expect(await alice.withdraw_raw(wid, 600), 201)
    expect(await _purchase_raw(alice, wid, 300), 201)
    over = assert_problem(await alice.withdraw_raw(wid, 101), 422, "limit_exceeded")
    assert "900" in over["detail"]
    assert_problem(await _purchase_raw(alice, wid, 101), 422, "limit_exceeded")
    used = await _limits(gw.auditor(), wid)
    assert (used["used_today"], used["used_this_month"]) == ("900", "900")

    # Admins set a wallet's own limits; null goes back to the default.
    assert_problem(await _set_limits(alice, wid, {"daily": 5000}), 403, "forbidden")
    assert_validation_problem(await _set_limits(admin, wid, {"daily": 0}), "daily")
    assert_problem(await _set_limits(admin, "wlt_nothing", {"daily": 5}), 404, "not_found")
    raised = expect(await _set_limits(admin, wid, {"daily": "3000", "monthly": None}), 200)
    assert (raised["daily"], raised["monthly"], raised["daily_is_default"]) == (
        "3000",
        "1500",
        False,
    )
    expect(await alice.withdraw_raw(wid, 500), 201)
    monthly = assert_problem(await alice.withdraw_raw(wid, 101), 422, "limit_exceeded")
    assert "month" in monthly["detail"]
    assert_problem(await bob.get(f"/v1/wallets/{wid}/limits"), 404, "not_found")

    # Transfers count when tried; a cancelled one gives its usage back.
    source = (await alice.create_wallet("USD"))["id"]
    await alice.deposit(source, 5000)
    frozen = (await bob.create_wallet("USD"))["id"]
    await admin.freeze(frozen)
    open_ = (await bob.create_wallet("USD"))["id"]
    assert await _transfer_outcome(alice, source, open_, 800) == "completed"
    assert await _transfer_outcome(alice, source, frozen, 150) == "wallet_not_active"
    await _used_today_becomes(alice, source, "800")
    assert await _transfer_outcome(alice, source, open_, 201) == "limit_exceeded"
    assert await _transfer_outcome(alice, source, open_, 200) == "completed"
    assert (await _limits(alice, source))["used_today"] == "1000"
    assert (await bob.wallet(open_))["balance"] == "1000"
    report = await admin.integrity()
    assert report["consistent"] is True, report


async def test_concurrent_outgoing_money_never_overshoots_the_limit(gw: Gateway) -> None:
    alice, admin = gw.user(user_on_shard(0, "alice")), gw.admin()
    bob = gw.user(user_on_shard(1, "bob"))
    wid = (await alice.create_wallet("USD"))["id"]
    destination = (await bob.create_wallet("USD"))["id"]
    await alice.deposit(wid, 100_000)
    expect(await _set_limits(admin, wid, {"daily": 1000}), 200)

    withdrawals = [alice.withdraw_raw(wid, 100) for _ in range(10)]
    purchases = [_purchase_raw(alice, wid, 100) for _ in range(10)]
    transferred = [_transfer_outcome(alice, wid, destination, 100) for _ in range(10)]
    responses, transfers = await asyncio.gather(
        asyncio.gather(*withdrawals, *purchases), asyncio.gather(*transferred)
    )
    moved = [r for r in responses if r.status_code == 201]
    for response in responses:
        if response.status_code != 201:
            assert_problem(response, 422, "limit_exceeded")
    completed = transfers.count("completed")
    assert set(transfers) <= {"completed", "limit_exceeded"}, transfers
    assert len(moved) + completed == 10, ([r.text for r in responses], transfers)
    await _used_today_becomes(alice, wid, "1000")
    assert (await alice.wallet(wid))["balance"] == "99000"
    assert (await bob.wallet(destination))["balance"] == str(100 * completed)
    report = await admin.integrity()
    assert report["consistent"] is True, report
