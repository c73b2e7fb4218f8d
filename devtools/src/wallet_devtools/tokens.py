"""Minting HS256 JWTs that the gateway accepts, for local use and the tests."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import get_args

import jwt
from wallet_shared.contracts.schemas import Role

ROLES: tuple[Role, ...] = get_args(Role)

# Printed by `wallet run` when WALLET_JWT_SECRET is unset. At least 32 bytes, as RFC 7518 wants
# for HS256 (PyJWT warns below that). Never to be used outside a developer's machine.
DEV_JWT_SECRET = "wallet-local-development-secret-do-not-use-in-production"  # noqa: S105


def random_secret() -> str:
    """A fresh 256-bit HMAC secret (hex), for throwaway clusters."""
    return secrets.token_hex(32)


def mint_token(
    *,
    secret: str,
    sub: str,
    role: Role = "user",
    ttl_s: int = 3600,
    issuer: str | None = None,
    audience: str | None = None,
    now: datetime | None = None,
) -> str:
    """An HS256 token for user `sub` with `role`, valid for `ttl_s` seconds from `now`.

    `ttl_s` may be negative to mint an already expired token (for tests of the 401 path).
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    issued_at = now or datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": sub,
        "role": role,
        "iat": int(issued_at.timestamp()),
        "exp": int((issued_at + timedelta(seconds=ttl_s)).timestamp()),
    }
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")
