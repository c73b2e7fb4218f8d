"""The gateway's `/health/ready` asks every backend, at most once per second whoever asks: one
round answers every request within the second, and requests that arrive together share it."""

from __future__ import annotations

import asyncio

import httpx

from .gateway_fakes import FakeClock, FakeCluster

BACKENDS = 3  # two shards and the coordinator


def readiness_asks(cluster: FakeCluster) -> int:
    return sum(request.url.path == "/health/ready" for request in cluster.requests)


async def test_one_round_of_backend_checks_answers_for_a_second(
    client: httpx.AsyncClient, cluster: FakeCluster, clock: FakeClock
) -> None:
    for _ in range(5):
        assert (await client.get("/health/ready")).status_code == 200
    assert readiness_asks(cluster) == BACKENDS
    clock.advance(0.99)
    await client.get("/health/ready")
    assert readiness_asks(cluster) == BACKENDS
    clock.advance(0.01)
    await client.get("/health/ready")
    assert readiness_asks(cluster) == 2 * BACKENDS


async def test_concurrent_askers_share_one_round(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    answers = await asyncio.gather(*(client.get("/health/ready") for _ in range(10)))
    assert {answer.status_code for answer in answers} == {200}
    assert readiness_asks(cluster) == BACKENDS


async def test_a_backend_going_away_shows_once_the_answer_is_a_second_old(
    client: httpx.AsyncClient, cluster: FakeCluster, clock: FakeClock
) -> None:
    assert (await client.get("/health/ready")).status_code == 200
    cluster.down.add("shard-1.test")
    assert (await client.get("/health/ready")).status_code == 200
    clock.advance(1.0)
    down = await client.get("/health/ready")
    assert down.status_code == 503
    assert down.json()["checks"]["shard-1"] == "down"
    assert down.json()["checks"]["coordinator"] == "ok"


async def test_the_document_says_readiness_may_be_rate_limited(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    limited = document["paths"]["/health/ready"]["get"]["responses"]["429"]
    assert "Retry-After" in limited["headers"]
    assert "application/problem+json" in limited["content"]
