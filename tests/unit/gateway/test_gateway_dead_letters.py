"""`/v1/admin/dead-letters`: every service's dead letters in one list, and replays routed by id."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .gateway_fakes import EPOCH, FakeCluster, bearer


def admin() -> dict[str, str]:
    """An admin's Authorization header, minted when a test asks (tokens expire)."""
    return bearer("ops", role="admin")


LIST = "/v1/admin/dead-letters"


async def all_pages(client: httpx.AsyncClient, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        response = await client.get(LIST, params=params, headers=admin())
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        params["cursor"] = page["next_cursor"]


async def test_lists_every_service_newest_first_with_routable_ids(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    cluster.shards[0].dead_letters.add(value="first")
    cluster.coordinator.dead_letters.add(value="second", error="cannot book this")
    cluster.shards[1].dead_letters.add(value="third")
    cluster.shards[0].dead_letters.add(value="fourth")

    response = await client.get(LIST, headers=admin())

    assert response.status_code == 200
    page = response.json()
    assert [item["id"] for item in page["items"]] == [
        "dl_shard-0_2",
        "dl_shard-1_1",
        "dl_coordinator_1",
        "dl_shard-0_1",
    ]
    assert [item["value"] for item in page["items"]] == ["fourth", "third", "second", "first"]
    assert page["next_cursor"] is None
    coordinator = page["items"][2]
    assert coordinator["service"] == "transfer-coordinator"
    assert coordinator["topic"] == "wallet.transfer-replies"
    assert coordinator["error"] == "cannot book this"
    assert set(coordinator) == {
        "id",
        "service",
        "topic",
        "partition",
        "offset",
        "key",
        "error",
        "attempts",
        "headers",
        "value",
        "value_encoding",
        "created_at",
        "replayed_at",
    }


async def test_pages_stay_stable_while_new_dead_letters_arrive(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    sources = [*(shard.dead_letters for shard in cluster.shards), cluster.coordinator.dead_letters]
    for n in range(9):
        sources[n % 3].add(value=f"old-{n}")
    first = (await client.get(LIST, params={"limit": 4}, headers=admin())).json()
    for n in range(5):
        sources[n % 3].add(value=f"new-{n}")

    items: list[dict[str, Any]] = list(first["items"])
    cursor = first["next_cursor"]
    while cursor is not None:
        page = (
            await client.get(LIST, params={"limit": 4, "cursor": cursor}, headers=admin())
        ).json()
        items += page["items"]
        cursor = page["next_cursor"]

    assert [item["value"] for item in items] == [f"old-{n}" for n in reversed(range(9))]


async def test_dead_letters_of_the_same_instant_are_each_listed_once(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    sources = [*(shard.dead_letters for shard in cluster.shards), cluster.coordinator.dead_letters]
    for source in sources:
        for _ in range(3):
            number = source.add()
            source.letters[number]["created_at"] = EPOCH.isoformat()

    for limit in (1, 2, 4, 9):
        items = await all_pages(client, limit)
        ids = [item["id"] for item in items]
        assert len(ids) == 9 == len(set(ids)), (limit, ids)


@pytest.mark.parametrize("role", ["user", "auditor"])
async def test_only_admins_read_or_replay(
    client: httpx.AsyncClient, cluster: FakeCluster, role: str
) -> None:
    number = cluster.shards[0].dead_letters.add()
    headers = bearer("someone", role=role)

    listed = await client.get(LIST, headers=headers)
    replayed = await client.post(f"{LIST}/dl_shard-0_{number}/replay", headers=headers)

    for response in (listed, replayed):
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"
    assert cluster.requests == []
    assert cluster.shards[0].dead_letters.letters[number]["replayed_at"] is None


async def test_a_replay_goes_to_the_service_that_holds_the_dead_letter_once(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    cluster.shards[1].dead_letters.add()
    number = cluster.coordinator.dead_letters.add(value="reply")

    response = await client.post(f"{LIST}/dl_coordinator_{number}/replay", headers=admin())

    assert response.status_code == 200
    letter = response.json()
    assert letter["id"] == f"dl_coordinator_{number}"
    assert letter["value"] == "reply"
    assert letter["replayed_at"] is not None
    assert [r.url.path for r in cluster.requests] == [f"/internal/dead-letters/{number}/replay"]
    assert cluster.requests[0].url.host == "coordinator.test"
    assert cluster.shards[1].dead_letters.letters[1]["replayed_at"] is None

    again = await client.post(f"{LIST}/dl_coordinator_{number}/replay", headers=admin())
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["code"] == "conflict"

    listed = (await client.get(LIST, headers=admin())).json()["items"]
    assert [(i["id"], i["replayed_at"] is not None) for i in listed] == [
        (f"dl_coordinator_{number}", True),
        ("dl_shard-1_1", False),
    ]


@pytest.mark.parametrize(
    "dead_letter_id",
    [
        "dl_shard-0_7",  # the shard has no such dead letter: its own 404, relayed
        "dl_shard-2_1",  # only two shards
        "dl_shard-0_0",
        "dl_shard-0_01",
        "dl_shard-0_99999999999999999999",
        "dl_gateway_1",
        "shard-0_1",
        "trf_0123",
        "dl_shard-0_1_1",
    ],
)
async def test_an_id_that_names_no_dead_letter_is_not_found(
    client: httpx.AsyncClient, cluster: FakeCluster, dead_letter_id: str
) -> None:
    cluster.shards[0].dead_letters.add()

    response = await client.post(f"{LIST}/{dead_letter_id}/replay", headers=admin())

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    asked = [r.url.path for r in cluster.requests]
    assert asked == (
        ["/internal/dead-letters/7/replay"] if dead_letter_id == "dl_shard-0_7" else []
    )


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 201}, {"cursor": "not-a-cursor"}, {"cursor": "WzEsMiwzXQ"}],
)
async def test_bad_limits_and_cursors_are_validation_errors(
    client: httpx.AsyncClient, cluster: FakeCluster, params: dict[str, Any]
) -> None:
    response = await client.get(LIST, params=params, headers=admin())

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert cluster.requests == []


async def test_a_service_that_does_not_answer_makes_the_list_unavailable(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    cluster.down.add("coordinator.test")

    response = await client.get(LIST, headers=admin())

    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"


def test_the_routes_are_documented(document: dict[str, Any]) -> None:
    listing = document["paths"][LIST]["get"]["responses"]
    replay = document["paths"][f"{LIST}/{{dead_letter_id}}/replay"]["post"]["responses"]

    def model(responses: dict[str, Any], status: str, media_type: str) -> str:
        ref: str = responses[status]["content"][media_type]["schema"]["$ref"]
        return ref.rsplit("/", 1)[1]

    assert model(listing, "200", "application/json") == "DeadLetterPage"
    assert model(replay, "200", "application/json") == "DeadLetter"
    for responses, statuses in ((listing, ("403", "422")), (replay, ("403", "404", "409"))):
        for status in (*statuses, "401", "429", "503"):
            assert model(responses, status, "application/problem+json") == "ProblemDetail"
    fields = document["components"]["schemas"]["DeadLetter"]["properties"]
    assert {"id", "error", "attempts", "topic", "value", "value_encoding", "replayed_at"} <= set(
        fields
    )
