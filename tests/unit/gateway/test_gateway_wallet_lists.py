"""Wallet lists: a user's own from their shard; everyone's merged across shards, newest first,
with a cursor that walks the whole set exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from gateway.domain.listing import ListedItem, merge_newest_first
from wallet_shared.contracts.pagination import decode_cursor

from tests.service_credentials import caller_of

from .gateway_fakes import FakeCluster, bearer

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def item(seconds: int, id_: str) -> ListedItem:
    return ListedItem(created_at=T0 + timedelta(seconds=seconds), id=id_, body={"id": id_})


def test_pages_merge_newest_first_and_cut_at_the_limit() -> None:
    shard0 = [item(9, "a"), item(5, "b"), item(1, "c")]
    shard1 = [item(8, "d"), item(7, "e"), item(2, "f")]
    page = merge_newest_first([shard0, shard1], limit=4)
    assert [i.id for i in page.items] == ["a", "d", "e", "b"]
    assert page.next_cursor is not None
    assert decode_cursor(page.next_cursor, arity=2) == [
        (T0 + timedelta(seconds=5)).isoformat(),
        "b",
    ]


def test_the_last_page_has_no_cursor() -> None:
    page = merge_newest_first([[item(3, "a")], [item(2, "b")], []], limit=2)
    assert [i.id for i in page.items] == ["a", "b"]
    assert page.next_cursor is None


def test_equal_times_are_ordered_by_id() -> None:
    page = merge_newest_first([[item(1, "wlt_1")], [item(1, "wlt_2")]], limit=5)
    assert [i.id for i in page.items] == ["wlt_2", "wlt_1"]


def test_nothing_anywhere_is_an_empty_page() -> None:
    page = merge_newest_first([[], []], limit=50)
    assert page.items == []
    assert page.next_cursor is None


@pytest.fixture
def wallets(cluster: FakeCluster) -> list[str]:
    """Eleven wallets of seven users spread over both shards, in creation order."""
    users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"]
    created = [cluster.add_wallet(users[n % len(users)])["id"] for n in range(11)]
    assert all(shard.wallets for shard in cluster.shards), "the users should span both shards"
    return created


async def test_admins_walk_every_wallet_of_every_shard_exactly_once(
    client: httpx.AsyncClient, cluster: FakeCluster, wallets: list[str]
) -> None:
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/v1/wallets", params=params, headers=bearer("root", "admin"))
        assert response.status_code == 200
        page = response.json()
        assert len(page["items"]) <= 3
        seen += [w["id"] for w in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == wallets[::-1]
    # Each shard was asked for one more than the page, from the same cursor.
    limits = {r.url.params["limit"] for r in cluster.requests_to("shard-")}
    assert limits == {"4"}


async def test_the_merged_items_are_the_shards_items_unchanged(
    client: httpx.AsyncClient, cluster: FakeCluster, wallets: list[str]
) -> None:
    response = await client.get("/v1/wallets", headers=bearer("eve", "auditor"))
    by_id = {w["id"]: w for shard in cluster.shards for w in shard.wallets.values()}
    assert response.json()["items"] == [by_id[i] for i in wallets[::-1]]
    assert response.json()["next_cursor"] is None


async def test_a_user_lists_their_own_wallets_on_their_shard_only(
    client: httpx.AsyncClient, cluster: FakeCluster, wallets: list[str]
) -> None:
    response = await client.get("/v1/wallets", headers=bearer("alice"))
    assert response.status_code == 200
    assert {w["user_id"] for w in response.json()["items"]} == {"alice"}
    (request,) = cluster.requests
    assert request.url.host == f"shard-{cluster.shard_map.shard_for_user('alice')}.test"
    assert request.url.params["user_id"] == "alice"
    assert caller_of(request).owner_scope == "alice"


async def test_an_admin_lists_one_users_wallets(
    client: httpx.AsyncClient, cluster: FakeCluster, wallets: list[str]
) -> None:
    response = await client.get(
        "/v1/wallets", params={"user_id": "bob"}, headers=bearer("root", "admin")
    )
    assert {w["user_id"] for w in response.json()["items"]} == {"bob"}
    assert len(cluster.requests) == 1
    assert caller_of(cluster.requests[0]).owner_scope is None


async def test_a_user_may_not_list_someone_elses_wallets(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/wallets", params={"user_id": "bob"}, headers=bearer("alice"))
    assert response.status_code == 403


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": -1},
        {"limit": ""},
        {"limit": 201},
        {"limit": "ten"},
        {"limit": 1.5},
        {"cursor": ""},
        {"cursor": "not a cursor!"},
        {"cursor": "x" * 600},
        {"user_id": "bad user"},
    ],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, cluster: FakeCluster, params: dict[str, str | int | float]
) -> None:
    response = await client.get("/v1/wallets", params=params, headers=bearer("root", "admin"))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["errors"][0]["field"] == next(iter(params))
    assert cluster.requests == []


async def test_a_cursor_the_shards_refuse_is_their_problem_relayed(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/v1/wallets", params={"cursor": "bm9wZQ"}, headers=bearer("root", "admin")
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "cursor", "message": "is not a valid cursor"}]
