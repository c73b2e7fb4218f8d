"""Wallets: creation, shape, users spread over both shards, lists and their cursors."""

from __future__ import annotations

from datetime import datetime

from tests.e2e.client import (
    Gateway,
    Json,
    assert_validation_problem,
    expect,
    shard_of_wallet,
    user_on_shard,
)

WALLET_FIELDS = {
    "id",
    "user_id",
    "currency",
    "label",
    "status",
    "balance",
    "available_balance",
    "frozen_balance",
    "created_at",
    "updated_at",
}


def _assert_fresh_wallet(wallet: Json, *, user_id: str, currency: str, label: str | None) -> None:
    assert set(wallet) >= WALLET_FIELDS, wallet
    assert (wallet["user_id"], wallet["currency"], wallet["label"]) == (user_id, currency, label)
    assert wallet["status"] == "active"
    assert (wallet["balance"], wallet["available_balance"], wallet["frozen_balance"]) == (
        "0",
        "0",
        "0",
    )
    assert isinstance(wallet["id"], str)
    assert datetime.fromisoformat(wallet["created_at"]).tzinfo is not None


async def test_wallets_of_users_on_both_shards(gw: Gateway) -> None:
    north, south = user_on_shard(0, "north"), user_on_shard(1, "south")
    north_api, south_api = gw.user(north), gw.user(south)

    usd = await north_api.create_wallet("USD", label="daily")
    eur = await north_api.create_wallet("EUR")
    south_usd = await south_api.create_wallet("USD", label="rent")

    _assert_fresh_wallet(usd, user_id=north, currency="USD", label="daily")
    _assert_fresh_wallet(eur, user_id=north, currency="EUR", label=None)
    _assert_fresh_wallet(south_usd, user_id=south, currency="USD", label="rent")
    assert [shard_of_wallet(w["id"]) for w in (usd, eur, south_usd)] == [0, 0, 1]

    assert await north_api.wallet(usd["id"]) == usd
    assert await south_api.wallet(south_usd["id"]) == south_usd
    north_list = expect(await north_api.get("/v1/wallets"), 200)
    assert [w["id"] for w in north_list["items"]] == [eur["id"], usd["id"]]  # newest first
    assert north_list["next_cursor"] is None
    south_list = expect(await south_api.get("/v1/wallets"), 200)
    assert [w["id"] for w in south_list["items"]] == [south_usd["id"]]


async def test_admin_creates_a_wallet_for_a_user(gw: Gateway) -> None:
    admin, carol = gw.admin(), gw.user("carol")
    wallet = await admin.create_wallet("GBP", label="opened by support", user_id="carol")
    _assert_fresh_wallet(wallet, user_id="carol", currency="GBP", label="opened by support")

    assert await carol.wallet(wallet["id"]) == wallet
    by_user = expect(await admin.get("/v1/wallets", {"user_id": "carol"}), 200)
    assert [w["id"] for w in by_user["items"]] == [wallet["id"]]
    nobody = expect(await admin.get("/v1/wallets", {"user_id": "nobody"}), 200)
    assert nobody == {"items": [], "next_cursor": None}


async def test_admin_list_merges_shards_with_stable_cursors(gw: Gateway) -> None:
    admin = gw.admin()
    users = [user_on_shard(n % 2, f"owner{n}") for n in range(7)]
    created = [await admin.create_wallet("USD", user_id=user) for user in users]
    assert {shard_of_wallet(w["id"]) for w in created} == {0, 1}
    newest_first = [w["id"] for w in reversed(created)]

    first = expect(await admin.get("/v1/wallets", {"limit": 2}), 200)
    assert [w["id"] for w in first["items"]] == newest_first[:2]
    assert first["next_cursor"] is not None

    # Wallets created after the first page must not shift the pages that follow it.
    late = [await admin.create_wallet("USD", user_id=u) for u in (users[0], users[1])]
    walked = [w["id"] for w in first["items"]]
    cursor = first["next_cursor"]
    while cursor is not None:
        page = expect(await admin.get("/v1/wallets", {"limit": 2, "cursor": cursor}), 200)
        assert 1 <= len(page["items"]) <= 2
        walked += [w["id"] for w in page["items"]]
        cursor = page["next_cursor"]
    assert walked == newest_first

    everything = await admin.all_pages("/v1/wallets", {"limit": 3})
    assert [w["id"] for w in everything] == [w["id"] for w in reversed(late)] + newest_first


async def test_invalid_wallet_requests_are_refused(gw: Gateway) -> None:
    alice = gw.user("alice")
    for currency in ("usd", "US", "USDX", "XXX", "ABC", "", 840, None, ["USD"]):
        response = await alice.post("/v1/wallets", {"currency": currency})
        assert_validation_problem(response, "currency")
    assert_validation_problem(await alice.post("/v1/wallets", {}), "currency")
    too_long = await alice.post("/v1/wallets", {"currency": "USD", "label": "x" * 101})
    assert_validation_problem(too_long, "label")
    assert expect(await alice.get("/v1/wallets"), 200)["items"] == []
