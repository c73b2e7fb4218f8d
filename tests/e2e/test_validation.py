"""Bad input of every kind gets a 4xx problem and changes nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from wallet_shared.contracts.ids import new_transaction_id, new_transfer_id, new_wallet_id
from wallet_shared.contracts.pagination import encode_cursor

from tests.e2e.client import (
    Api,
    Gateway,
    assert_problem,
    assert_validation_problem,
    describe,
    expect,
    new_key,
    user_on_shard,
)

BAD_AMOUNTS: list[Any] = [
    0,
    -1,
    1.5,
    10.0,
    "1.5",
    "abc",
    "",
    " 5",
    "-5",
    "1e3",
    True,
    None,
    [],
    {},
    10**15 + 1,
    str(10**15 + 1),
    10**40,
]


def _assert_client_error_problem(response: httpx.Response) -> None:
    """A 4xx problem with a code and a detail (which code depends on how the input broke)."""
    assert 400 <= response.status_code < 500, describe(response)
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == response.status_code, describe(response)
    assert isinstance(body["code"], str), describe(response)
    assert isinstance(body["detail"], str), describe(response)
    assert body["detail"], describe(response)


async def _history_size(api: Api, wallet_id: str) -> int:
    return len(await api.all_pages(f"/v1/wallets/{wallet_id}/transactions"))


async def test_invalid_amounts_are_refused_and_change_nothing(gw: Gateway) -> None:
    alice = gw.user(user_on_shard(0, "alice"))
    bob = gw.user(user_on_shard(1, "bob"))
    wid = (await alice.create_wallet("USD"))["id"]
    other = (await bob.create_wallet("USD"))["id"]
    await alice.deposit(wid, 1000)

    for amount in BAD_AMOUNTS:
        for response in (
            await alice.deposit_raw(wid, amount),
            await alice.withdraw_raw(wid, amount),
            await alice.transfer_raw(wid, other, amount, wait_s=5),
        ):
            assert_validation_problem(response, "amount")
    for path in (f"/v1/wallets/{wid}/deposits", f"/v1/wallets/{wid}/withdrawals"):
        response = await alice.post_money(path, {"reference": "no amount"})
        assert_validation_problem(response, "amount")
    no_amount = {"source_wallet_id": wid, "destination_wallet_id": other}
    assert_validation_problem(await alice.post_money("/v1/transfers", no_amount), "amount")

    wallet = await alice.wallet(wid)
    assert (wallet["balance"], wallet["frozen_balance"]) == ("1000", "0")
    assert (await bob.wallet(other))["balance"] == "0"
    assert await _history_size(alice, wid) == 1
    assert expect(await alice.get("/v1/transfers", {"wallet_id": wid}), 200)["items"] == []


async def test_malformed_oversized_and_mistyped_bodies_are_refused(gw: Gateway) -> None:
    alice = gw.user("alice")
    wid = (await alice.create_wallet("USD"))["id"]
    bodies = ["{", '{"amount": 5', "[]", "[1, 2]", '"USD"', "123", "null", "", "\xff\xfe"]
    for path in ("/v1/wallets", f"/v1/wallets/{wid}/deposits", "/v1/transfers"):
        for content in bodies:
            response = await alice.post(path, key=new_key(), content=content.encode("latin-1"))
            _assert_client_error_problem(response)
    assert (await alice.wallet(wid))["balance"] == "0"
    assert len(expect(await alice.get("/v1/wallets"), 200)["items"]) == 1
    assert await _history_size(alice, wid) == 0

    path = f"/v1/wallets/{wid}/deposits"
    cases = [
        ({"amount": 5, "reference": "r" * 256}, "reference"),
        ({"amount": 5, "reference": 12}, "reference"),
        ({"amount": 5, "metadata": {"blob": "x" * 5000}}, "metadata"),
        ({"amount": 5, "metadata": "not an object"}, "metadata"),
        # What PostgreSQL cannot store must be refused as input, not fail as a server error.
        ({"amount": 5, "reference": "a\x00b"}, "reference"),
        ({"amount": 5, "metadata": {"note": "a\x00b"}}, "metadata"),
        ({"amount": 5, "metadata": {"big": 10**30}}, "metadata"),
    ]
    for body, field in cases:
        assert_validation_problem(await alice.post_money(path, body), field)
    other = (await alice.create_wallet("USD"))["id"]
    await alice.deposit(wid, 10)
    long_description = {
        "source_wallet_id": wid,
        "destination_wallet_id": other,
        "amount": 5,
        "description": "d" * 501,
    }
    response = await alice.post_money("/v1/transfers", long_description)
    assert_validation_problem(response, "description")
    assert (await alice.wallet(wid))["balance"] == "10"
    assert await _history_size(alice, wid) == 1
    assert len(expect(await alice.get("/v1/wallets"), 200)["items"]) == 2


async def test_ids_of_every_odd_form_are_not_found(gw: Gateway) -> None:
    admin = gw.admin()
    real = (await gw.user("alice").create_wallet("USD"))["id"]
    odd_wallet_ids = [
        "nope",
        "wlt_",
        "wlt_123",
        real.upper(),
        real + "0",
        real[:-1],
        "wlt_fff" + "0" * 32,  # bucket 4095: beyond the 1024 buckets
        new_wallet_id(5),  # well formed, names nothing (shard 0)
        new_wallet_id(1000),  # well formed, names nothing (shard 1)
        new_transaction_id(5),
        new_transfer_id(),
        "wlt_é" + "0" * 34,
        "x" * 300,
        "0",
        "-1",
        "null",
        "%00",
        "'; DROP TABLE wallets; --",
    ]
    lone_surrogate = b'{"amount": 5, "metadata": {"a": "\\ud800"}}'
    deposit = f"/v1/wallets/{real}/deposits"
    _assert_client_error_problem(await admin.post(deposit, key=new_key(), content=lone_surrogate))
    for odd in odd_wallet_ids:
        wid = quote(odd, safe="")
        responses = [
            await admin.get(f"/v1/wallets/{wid}"),
            await admin.get(f"/v1/wallets/{wid}/transactions"),
            await admin.deposit_raw(wid, 5),
            await admin.withdraw_raw(wid, 5),
            await admin.post(f"/v1/wallets/{wid}/freeze"),
        ]
        for response in responses:
            assert_problem(response, 404, "not_found")
            assert "DROP" not in response.text

    for odd in ["nope", "trf_", new_transfer_id(), new_transfer_id().upper(), real, "x" * 300]:
        response = await admin.get(f"/v1/transfers/{quote(odd, safe='')}")
        assert_problem(response, 404, "not_found")
    assert (await admin.wallet(real))["balance"] == "0"


async def test_pagination_parameters_are_validated(gw: Gateway) -> None:
    alice = gw.user("alice")
    wid = (await alice.create_wallet("USD"))["id"]
    await alice.deposit(wid, 5)
    lists = ["/v1/wallets", f"/v1/wallets/{wid}/transactions"]
    transfer_list = ("/v1/transfers", {"wallet_id": wid})

    for path, base in [(p, {}) for p in lists] + [transfer_list]:
        for limit in (0, 201, -1, "x", "1.5", ""):
            response = await alice.get(path, base | {"limit": limit})
            assert_validation_problem(response, "limit")
        crafted = [encode_cursor([2**64 - 1]), encode_cursor(["0001-01-01T00:00:00+14:00", "x"])]
        for cursor in ("garbage", "!!!", "e30", "W10", "x" * 600, *crafted):
            response = await alice.get(path, base | {"cursor": cursor})
            assert_validation_problem(response, "cursor")
        for limit in (1, 200):
            page = expect(await alice.get(path, base | {"limit": limit}), 200)
            assert set(page) == {"items", "next_cursor"}

    history = f"/v1/wallets/{wid}/transactions"
    for moment in ("0001-01-01T00:00:00+14:00", "2024-13-01T00:00:00Z", "yesterday"):
        assert_validation_problem(await alice.get(history, {"since": moment}), "since")
