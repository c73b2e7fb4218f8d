"""Idempotency keys (invariant 4: a request repeated with the same key moves money at most once).

The service that moves the money stores the answer in the same transaction as the movement,
keyed `(caller, key)` with a fingerprint of the request. A transaction-scoped advisory lock on the
key tells a concurrent duplicate that the first request is still running.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import asyncpg
import orjson
from starlette.responses import Response

from wallet_shared.contracts.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    ServiceUnavailable,
    WalletError,
)
from wallet_shared.platform.problems import PROBLEM_MEDIA_TYPE, problem_body, status_of

REPLAYED_HEADER: Final = "Idempotent-Replayed"
# A refusal that says "try again later" must not become the key's permanent answer.
_NOT_STORED: Final[tuple[type[WalletError], ...]] = (ServiceUnavailable,)


def request_fingerprint(method: str, path: str, body: Mapping[str, Any]) -> str:
    """The fingerprint of a request: sha256 of the canonical JSON (sorted keys) of
    `[method, path, body]`, so that the same request in another key order matches."""
    # The standard library rather than orjson: a body may hold integers beyond 64 bits (an
    # absurd amount), which must still get a fingerprint, to be refused later by validation.
    canonical = json.dumps(
        [method.upper(), path, dict(body)],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    # JSON may carry lone surrogates ("\ud800"); they must hash, not crash.
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The answer to an idempotent request: its status and JSON body bytes, and whether it is
    the replay of an earlier answer."""

    status_code: int
    body: bytes
    replayed: bool


async def run_idempotent(
    conn: asyncpg.Connection,
    *,
    caller: str,
    key: str,
    fingerprint: str,
    operation: Callable[[], Awaitable[tuple[int, Any]]],
    savepoint: bool = True,
) -> StoredResponse:
    """Run `operation` at most once per `(caller, key)`, inside the transaction open on `conn`.

    - another transaction holds the key right now → `IdempotencyKeyInUse`;
    - an answer is stored for another fingerprint → `IdempotencyKeyReused`;
    - an answer is stored for this fingerprint → that answer, `replayed=True`;
    - otherwise `operation()` runs in a savepoint and its `(status, JSON-able body)` is stored.
      A `WalletError` it raises (a business refusal such as `InsufficientFunds`) undoes its
      writes and its problem response is stored instead, so a retry gets the same refusal.

    `savepoint=False` saves the savepoint's two round trips; only for an `operation` that raises
    its refusals before its first write (there is nothing to undo then).

    The stored answer commits or rolls back with the caller's transaction (READ COMMITTED).
    """
    if not conn.is_in_transaction():
        # Outside a transaction the lock and the stored answer would not cover the movement.
        raise RuntimeError("run_idempotent needs an open transaction on conn")
    if not await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))", caller, key
    ):
        raise IdempotencyKeyInUse("A request with this Idempotency-Key is still running.")
    stored = await conn.fetchrow(
        "SELECT fingerprint, status_code, body FROM idempotency_keys"
        " WHERE caller = $1 AND key = $2",
        caller,
        key,
    )
    if stored is not None:
        if stored["fingerprint"] != fingerprint:
            raise IdempotencyKeyReused("This Idempotency-Key was used for another request.")
        return StoredResponse(stored["status_code"], bytes(stored["body"]), replayed=True)
    status_code, body = await _run_refusing(conn, operation, savepoint=savepoint)
    encoded = orjson.dumps(body)
    await conn.execute(
        "INSERT INTO idempotency_keys (caller, key, fingerprint, status_code, body)"
        " VALUES ($1, $2, $3, $4, $5)",
        caller,
        key,
        fingerprint,
        status_code,
        encoded,
    )
    return StoredResponse(status_code, encoded, replayed=False)


async def _run_refusing(
    conn: asyncpg.Connection,
    operation: Callable[[], Awaitable[tuple[int, Any]]],
    *,
    savepoint: bool,
) -> tuple[int, Any]:
    """`operation`'s answer, or the problem answer of the refusal it raised."""
    try:
        if not savepoint:
            return await operation()
        async with conn.transaction():
            return await operation()
    except WalletError as refusal:
        if isinstance(refusal, _NOT_STORED):
            raise
        body = problem_body(refusal.code, refusal.detail, errors=refusal.errors)
        return status_of(refusal.code), body


def stored_response_to_http(stored: StoredResponse) -> Response:
    """The HTTP response of a stored answer: problem+json from 400 up, with
    `Idempotent-Replayed: true` when it is a replay."""
    headers = {REPLAYED_HEADER: "true"} if stored.replayed else None
    media_type = PROBLEM_MEDIA_TYPE if stored.status_code >= 400 else "application/json"
    return Response(
        content=stored.body,
        status_code=stored.status_code,
        media_type=media_type,
        headers=headers,
    )
