"""Token buckets per caller: burst, refill, Retry-After, bounded memory; and where they apply."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from gateway.bootstrap import create_app
from gateway.domain.rate_limit import TokenBucketLimiter

from .gateway_fakes import FakeClock, FakeCluster, bearer, make_settings


def limiter(
    clock: FakeClock, *, rate: float = 2, burst: int = 3, **kwargs: int
) -> TokenBucketLimiter:
    return TokenBucketLimiter(rate_per_s=rate, burst=burst, clock=clock, **kwargs)


def test_a_new_caller_gets_the_whole_burst_then_waits(clock: FakeClock) -> None:
    bucket = limiter(clock, rate=2, burst=3)
    assert [bucket.acquire("a") for _ in range(3)] == [None, None, None]
    assert bucket.acquire("a") == 1  # one token back after 0.5 s, announced as 1 whole second


def test_tokens_come_back_at_the_refill_rate(clock: FakeClock) -> None:
    bucket = limiter(clock, rate=2, burst=3)
    for _ in range(3):
        bucket.acquire("a")
    clock.advance(0.49)
    assert bucket.acquire("a") is not None
    clock.advance(0.02)  # 0.51 s at 2/s: one token
    assert bucket.acquire("a") is None
    assert bucket.acquire("a") is not None


def test_the_bucket_never_holds_more_than_the_burst(clock: FakeClock) -> None:
    bucket = limiter(clock, rate=100, burst=2)
    bucket.acquire("a")
    clock.advance(3600)
    assert [bucket.acquire("a") for _ in range(3)] == [None, None, 1]


def test_retry_after_is_whole_seconds_rounded_up(clock: FakeClock) -> None:
    slow = limiter(clock, rate=0.25, burst=1)  # one token every 4 s
    assert slow.acquire("a") is None
    assert slow.acquire("a") == 4
    clock.advance(2.5)
    assert slow.acquire("a") == 2  # 1.5 s left, rounded up


def test_a_refused_request_takes_no_token(clock: FakeClock) -> None:
    bucket = limiter(clock, rate=1, burst=1)
    bucket.acquire("a")
    for _ in range(10):
        assert bucket.acquire("a") == 1
    clock.advance(1.0)
    assert bucket.acquire("a") is None


def test_callers_have_separate_buckets(clock: FakeClock) -> None:
    bucket = limiter(clock, rate=1, burst=1)
    assert bucket.acquire("a") is None
    assert bucket.acquire("a") == 1
    assert bucket.acquire("b") is None


def test_idle_buckets_are_dropped(clock: FakeClock) -> None:
    bucket = limiter(clock, rate=1, burst=5)
    for key in ("a", "b", "c"):
        bucket.acquire(key)
    clock.advance(4.9)
    bucket.acquire("d")
    assert len(bucket) == 4  # a, b, c not yet full again
    clock.advance(0.2)  # a, b, c full again: indistinguishable from new ones
    bucket.acquire("d")
    assert len(bucket) == 1


def test_memory_is_bounded_by_max_buckets(clock: FakeClock) -> None:
    bucket = limiter(clock, rate=1, burst=5, max_buckets=100)
    for n in range(1000):
        bucket.acquire(f"caller-{n}")
    assert len(bucket) == 100


def test_a_clock_that_steps_back_does_not_mint_tokens(clock: FakeClock) -> None:
    bucket = limiter(clock, rate=1, burst=1)
    bucket.acquire("a")
    clock.advance(-10)
    assert bucket.acquire("a") == 1


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_nonsense_limits_are_refused(clock: FakeClock, rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        TokenBucketLimiter(rate_per_s=rate, burst=burst, clock=clock)


# Through HTTP.


@pytest.fixture
def app(cluster: FakeCluster, clock: FakeClock) -> FastAPI:
    settings = make_settings(cluster, rate_limit_per_s=1, rate_limit_burst=2)
    return create_app(settings, backend_transport=cluster.transport(), clock=clock)


async def test_over_the_limit_is_429_with_retry_after(client: httpx.AsyncClient) -> None:
    alice = bearer("alice")
    assert (await client.get("/v1/wallets", headers=alice)).status_code == 200
    assert (await client.get("/v1/wallets", headers=alice)).status_code == 200
    refused = await client.get("/v1/wallets", headers=alice)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"


async def test_the_bucket_refills_with_time(client: httpx.AsyncClient, clock: FakeClock) -> None:
    for _ in range(2):
        await client.get("/v1/wallets", headers=bearer("alice"))
    assert (await client.get("/v1/wallets", headers=bearer("alice"))).status_code == 429
    clock.advance(1.0)
    assert (await client.get("/v1/wallets", headers=bearer("alice"))).status_code == 200


async def test_each_subject_has_its_own_bucket(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await client.get("/v1/wallets", headers=bearer("alice"))
    assert (await client.get("/v1/wallets", headers=bearer("bob"))).status_code == 200


async def test_callers_without_a_token_share_their_address_bucket(
    client: httpx.AsyncClient,
) -> None:
    statuses = [(await client.get("/v1/wallets")).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    # A bad token does not name a bucket of its own either.
    bad = {"Authorization": "Bearer nonsense"}
    assert (await client.get("/v1/wallets", headers=bad)).status_code == 429
    # A verified user is unaffected by the anonymous bucket.
    assert (await client.get("/v1/wallets", headers=bearer("carol"))).status_code == 200


async def test_liveness_metrics_and_docs_are_not_limited(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        for path in ("/health/live", "/metrics", "/openapi.json"):
            assert (await client.get(path)).status_code == 200


async def test_readiness_takes_from_the_address_bucket(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    # It asks every backend (at most once a second): a flood of it must not pass unlimited.
    statuses = [(await client.get("/health/ready")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert (await client.get("/v1/wallets")).status_code == 429  # the same anonymous bucket
    clock.advance(1.0)
    assert (await client.get("/health/ready")).status_code == 200
