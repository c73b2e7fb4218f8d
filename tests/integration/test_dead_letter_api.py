"""The internal dead-letter routes every consuming service mounts (`wallet_shared.platform.dead_letter_api`)
against a real PostgreSQL and Kafka: the JSON of a dead letter, the newest-first pages and their
cursor, and the one replay that publishes the original again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from wallet_shared.platform.dead_letter_api import dead_letter_router
from wallet_shared.platform.dead_letters import DeadLetterStore
from wallet_shared.platform.kafka import ConsumedRecord, ensure_topics
from wallet_shared.platform.outbox import OutboxRelay
from wallet_shared.platform.problems import install_problem_handlers
from wallet_shared.platform.service_auth import RequireServiceCredential, ServiceTokenVerifier

from tests.integration.plumbing import SERVICE, read_topic
from tests.service_credentials import TEST_INTERNAL_SECRET, ServiceCredential


@pytest.fixture
async def topic(kafka_bootstrap: str, topic_prefix: str) -> str:
    name = f"{topic_prefix}commands"
    await ensure_topics(kafka_bootstrap, [name, f"{name}.dlq"], partitions=1)
    return name


@pytest.fixture
def store(pool: asyncpg.Pool, relay: OutboxRelay) -> DeadLetterStore:
    return DeadLetterStore(pool=pool, service=SERVICE, relay=relay)


@pytest.fixture
async def client(store: DeadLetterStore) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(dead_letter_router())
    app.state.dead_letters = store
    verifier = ServiceTokenVerifier(secret=TEST_INTERNAL_SECRET)
    app.add_middleware(RequireServiceCredential, verifier=verifier)
    transport = httpx.ASGITransport(app=app)
    auth = ServiceCredential()
    async with httpx.AsyncClient(
        transport=transport, base_url="http://service.test", auth=auth
    ) as http:
        yield http


async def dead_letter(
    store: DeadLetterStore, topic: str, offset: int, value: bytes | None, *, error: str = "boom"
) -> None:
    record = ConsumedRecord(
        topic=topic,
        partition=0,
        offset=offset,
        key=b"wlt_1",
        value=value,
        headers=(("message_type", b"TryDebit"),),
    )
    await store.add(record, error=error, attempts=5)


async def test_lists_dead_letters_newest_first_with_their_origin_and_value(
    client: httpx.AsyncClient, store: DeadLetterStore, topic: str
) -> None:
    await dead_letter(store, topic, 7, b'{"not": "a command"}', error="cannot book this")
    await dead_letter(store, topic, 8, b"\xff\xfe binary")
    await dead_letter(store, topic, 9, None)

    response = await client.get("/internal/dead-letters")

    assert response.status_code == 200
    page = response.json()
    assert page["next_cursor"] is None
    assert [(i["offset"], i["value"], i["value_encoding"]) for i in page["items"]] == [
        (9, None, "utf-8"),
        (8, "//4gYmluYXJ5", "base64"),
        (7, '{"not": "a command"}', "utf-8"),
    ]
    oldest = page["items"][2]
    assert isinstance(oldest["id"], int)
    assert oldest["service"] == SERVICE
    assert (oldest["topic"], oldest["partition"], oldest["key"]) == (topic, 0, "wlt_1")
    assert (oldest["error"], oldest["attempts"]) == ("cannot book this", 5)
    assert oldest["headers"] == {"message_type": "TryDebit"}
    assert oldest["created_at"] is not None
    assert oldest["replayed_at"] is None


async def test_pages_follow_the_cursor_unshifted_by_new_dead_letters(
    client: httpx.AsyncClient, store: DeadLetterStore, topic: str
) -> None:
    for offset in range(5):
        await dead_letter(store, topic, offset, f"m-{offset}".encode())

    first = (await client.get("/internal/dead-letters", params={"limit": 2})).json()
    await dead_letter(store, topic, 99, b"newer")
    second = (
        await client.get(
            "/internal/dead-letters", params={"limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    third = (
        await client.get(
            "/internal/dead-letters", params={"limit": 2, "cursor": second["next_cursor"]}
        )
    ).json()

    values = [[item["value"] for item in page["items"]] for page in (first, second, third)]
    assert values == [["m-4", "m-3"], ["m-2", "m-1"], ["m-0"]]
    assert third["next_cursor"] is None


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 201}, {"limit": "x"}, {"cursor": "bm90LWEtY3Vyc29y"}]
)
async def test_bad_limits_and_cursors_are_validation_errors(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await client.get("/internal/dead-letters", params=params)

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_a_replay_publishes_the_original_once(
    client: httpx.AsyncClient, store: DeadLetterStore, topic: str, kafka_bootstrap: str
) -> None:
    await dead_letter(store, topic, 3, b"poison")
    [listed] = (await client.get("/internal/dead-letters")).json()["items"]

    replays = await asyncio.gather(
        client.post(f"/internal/dead-letters/{listed['id']}/replay"),
        client.post(f"/internal/dead-letters/{listed['id']}/replay"),
    )

    assert sorted(r.status_code for r in replays) == [200, 409]
    [done] = [r.json() for r in replays if r.status_code == 200]
    [refused] = [r.json() for r in replays if r.status_code == 409]
    assert done["id"] == listed["id"]
    assert done["replayed_at"] is not None
    assert refused["code"] == "conflict"
    records = await read_topic(kafka_bootstrap, topic, count=1)
    assert [(r.key, r.value) for r in records] == [(b"wlt_1", b"poison")]
    assert dict(records[0].headers)["replayed_dead_letter"] == str(listed["id"]).encode()
    [after] = (await client.get("/internal/dead-letters")).json()["items"]
    assert after["replayed_at"] == done["replayed_at"]


@pytest.mark.parametrize(("path_id", "status"), [("12345", 404), ("abc", 422), ("0", 422)])
async def test_replaying_what_is_not_a_dead_letter_is_refused(
    client: httpx.AsyncClient, path_id: str, status: int
) -> None:
    response = await client.post(f"/internal/dead-letters/{path_id}/replay")

    assert response.status_code == status
    assert response.json()["code"] == ("not_found" if status == 404 else "validation_error")
