"""What the gateway serves besides the money: OpenAPI, health, metrics."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from tests.e2e.client import Gateway, assert_problem, expect

# Issue 2's routes, plus the admin status routes the transfer tests rely on.
PUBLIC_ROUTES = {
    ("post", "/v1/wallets"),
    ("get", "/v1/wallets"),
    ("get", "/v1/wallets/{}"),
    ("post", "/v1/wallets/{}/deposits"),
    ("post", "/v1/wallets/{}/withdrawals"),
    ("get", "/v1/wallets/{}/transactions"),
    ("post", "/v1/wallets/{}/freeze"),
    ("post", "/v1/wallets/{}/unfreeze"),
    ("post", "/v1/transfers"),
    ("get", "/v1/transfers"),
    ("get", "/v1/transfers/{}"),
    ("get", "/v1/admin/integrity"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/metrics"),
}


HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(method, path) of every operation, with path parameters' names erased."""
    return {
        (method, re.sub(r"\{[^}]+\}", "{}", path))
        for path, operations in document["paths"].items()
        for method in operations
        if method in HTTP_METHODS
    }


async def test_openapi_health_and_metrics_are_served(gw: Gateway) -> None:
    anonymous = gw.with_token(None)
    document = expect(await anonymous.get("/openapi.json"), 200)
    assert document["openapi"].startswith("3.")
    missing = PUBLIC_ROUTES - _routes(document)
    assert not missing, f"routes missing from /openapi.json: {sorted(missing)}"
    transfer_post = document["paths"]["/v1/transfers"]["post"]
    parameters = {p["name"].lower() for p in transfer_post.get("parameters", [])}
    assert {"idempotency-key", "prefer"} <= parameters, transfer_post
    # Nothing internal leaks into the public document.
    assert not any(path.startswith("/internal") for path in document["paths"])

    assert expect(await anonymous.get("/health/live"), 200)["status"] == "ok"
    ready = expect(await anonymous.get("/health/ready"), 200)
    assert ready["status"] == "ok"
    assert ready["checks"]
    assert set(ready["checks"].values()) == {"ok"}
    await gw.user("alice").create_wallet("USD")
    metrics = await anonymous.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "wallet_" in metrics.text


@pytest.mark.cluster(env={"WALLET_RATE_LIMIT_PER_S": "1", "WALLET_RATE_LIMIT_BURST": "5"})
async def test_rate_limit_is_per_caller_with_retry_after(gw: Gateway) -> None:
    alice, bob = gw.user("alice"), gw.user("bob")
    statuses = [(await alice.get("/v1/wallets")).status_code for _ in range(5)]
    assert statuses == [200] * 5  # a full bucket holds the burst
    limited = None
    for _ in range(20):  # one token a second comes back; these come much faster
        response = await alice.get("/v1/wallets")
        if response.status_code != 200:
            limited = response
            break
    assert limited is not None, "no request was rate limited"
    assert_problem(limited, 429, "rate_limited")
    retry_after = int(limited.headers["Retry-After"])
    assert retry_after >= 1

    assert (await bob.get("/v1/wallets")).status_code == 200  # another caller's own bucket
    await asyncio.sleep(retry_after)
    assert (await alice.get("/v1/wallets")).status_code == 200
