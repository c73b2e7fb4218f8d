"""Service credentials for tests that talk to a shard or the coordinator directly, as the gateway
would, and for fakes that check what the gateway sent (wallet_shared.platform.service_auth).

Tokens are minted when a request is made, never at import, with the real clock: they live a
minute, far longer than any request of a test.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Final

import httpx
import jwt
from wallet_shared.contracts.schemas import Role
from wallet_shared.platform.service_auth import Caller, ServiceTokenIssuer, ServiceTokenVerifier

TEST_INTERNAL_SECRET: Final = "internal-test-secret-of-at-least-thirty-two-bytes"
"""The `internal_secret` of every service a test builds."""
SYSTEM: Final = Caller(user_id="system", role="admin", owner_scope=None)


def issuer(secret: str = TEST_INTERNAL_SECRET, *, service: str = "tests") -> ServiceTokenIssuer:
    """An issuer that mints a fresh token for every call (no reuse)."""
    return ServiceTokenIssuer(secret=secret, service=service, reuse_s=0)


def internal_headers(
    user_id: str = SYSTEM.user_id,
    role: Role = SYSTEM.role,
    owner_scope: str | None = None,
    *,
    secret: str = TEST_INTERNAL_SECRET,
) -> dict[str, str]:
    """`Authorization` of an internal call made for `user_id` with `role` and `owner_scope`."""
    caller = Caller(user_id=user_id, role=role, owner_scope=owner_scope)
    return {"Authorization": issuer(secret).authorization(caller)}


class ServiceCredential(httpx.Auth):
    """Signs every request of a client that carries no `Authorization` of its own, as `caller`
    (the system's admin unless told otherwise)."""

    def __init__(self, caller: Caller = SYSTEM, *, secret: str = TEST_INTERNAL_SECRET) -> None:
        self._caller = caller
        self._issuer = issuer(secret)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" not in request.headers:
            request.headers["Authorization"] = self._issuer.authorization(self._caller)
        yield request


def caller_of(request: httpx.Request, *, secret: str = TEST_INTERNAL_SECRET) -> Caller:
    """Who the credential of an internal request names (`InvalidServiceCredential` otherwise)."""
    return ServiceTokenVerifier(secret=secret).verify(request.headers.get("authorization"))


def refused_credentials() -> dict[str, dict[str, str]]:
    """What a shard or the coordinator must refuse with 401, by name: no credential, a forged
    one, an expired one, and a user's public JWT sent straight to it (with another secret, and
    with the internal one but for the public audience)."""
    forged = internal_headers("mallory", "admin", secret="x" * 32 + "-not-the-internal-secret")
    hour_ago = ServiceTokenIssuer(
        secret=TEST_INTERNAL_SECRET, service="gateway", clock=lambda: time.time() - 3600
    )
    public_claims = {"sub": "alice", "role": "admin", "exp": int(time.time()) + 300}
    return {
        "none": {},
        "wrong_signature": forged,
        "expired": {"Authorization": hour_ago.authorization(SYSTEM)},
        "public_token": _bearer(jwt.encode(public_claims, PUBLIC_SECRET, algorithm="HS256")),
        "public_token_internal_key": _bearer(
            jwt.encode(public_claims, TEST_INTERNAL_SECRET, algorithm="HS256")
        ),
        "not_bearer": {"Authorization": "Basic c3lzdGVtOmFkbWlu"},
    }


PUBLIC_SECRET: Final = "public-jwt-secret-of-the-gateway-at-least-32-bytes"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
