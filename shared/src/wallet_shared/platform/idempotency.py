"""Idempotency keys (invariant 4: a request repeated with the same key moves money at most once).

The service that moves the money stores the answer in the same transaction as the movement,
keyed `(caller, key)` with a fingerprint of the request. A transaction-scoped advisory lock on the
key tells a concurrent duplicate that the first request is still running.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

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
from wallet_shared.platform.writes import Write, write_together

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


class KeyedRequest(Protocol):
    """A request under an Idempotency-Key: who asked, the key, the request's fingerprint."""

    @property
    def caller(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...


_TRY_LOCKS: Final = """
SELECT pg_try_advisory_xact_lock(hashtextextended(caller || ':' || key, 0)) AS locked
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS asked (caller, key, position)
ORDER BY position
"""
# One primary-key probe per key (LATERAL, kept a subquery by its LIMIT): a hash join would scan
# the whole table, which the planner may choose, not knowing how few keys the arrays hold.
_STORED: Final = """
SELECT k.caller, k.key, k.fingerprint, k.status_code, k.body
FROM unnest($1::text[], $2::text[]) AS asked (caller, key) CROSS JOIN LATERAL (
    SELECT * FROM idempotency_keys AS stored
    WHERE stored.caller = asked.caller AND stored.key = asked.key
    LIMIT 1
) AS k
"""
_STORE_MANY: Final = """
INSERT INTO idempotency_keys (caller, key, fingerprint, status_code, body)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bytea[])
"""


async def run_idempotent_batch(
    conn: asyncpg.Connection,
    requests: Sequence[KeyedRequest],
    operation: Callable[[int], Awaitable[tuple[int, Any]]],
    *,
    prepare: Callable[[list[int]], Awaitable[None]] | None = None,
    writes: Callable[[], Sequence[Write]] | None = None,
) -> list[StoredResponse | WalletError]:
    """`run_idempotent` for many requests in the transaction open on `conn`, in order, with
    three statements whatever their number: one answer per request, or its refusal.

    `operation(i)` books request `i` (in memory, or with writes of its own) and raises its
    refusals before changing anything, as with `savepoint=False`. A key named twice in the
    batch is answered like a repeat once its first request has its answer. `prepare`, given
    the positions `operation` will run for, reads (or claims) what they need, set-based.
    `writes`, called once every operation has run, gives what the batch writes (what was
    booked in memory): they go in the statement that stores the answers (`write_together`).
    """
    if not conn.is_in_transaction():
        raise RuntimeError("run_idempotent_batch needs an open transaction on conn")
    callers = [request.caller for request in requests]
    keys = [request.key for request in requests]
    # Lock first, then read (a statement of its own, so its snapshot is taken once the locks
    # are held): an answer committed by the transaction that held a key is then always seen.
    locked = [row["locked"] for row in await conn.fetch(_TRY_LOCKS, callers, keys)]
    answered: dict[tuple[str, str], tuple[str, StoredResponse]] = {
        (row["caller"], row["key"]): (
            row["fingerprint"],
            StoredResponse(row["status_code"], bytes(row["body"]), replayed=True),
        )
        for row in await conn.fetch(_STORED, callers, keys)
    }
    to_run = _to_run(requests, locked, answered)
    if prepare is not None:
        await prepare(to_run)
    running = set(to_run)
    unstored: dict[tuple[str, str], WalletError] = {}
    outcomes: list[StoredResponse | WalletError] = []
    new: list[tuple[str, str, str, int, bytes]] = []
    for position, request in enumerate(requests):
        scope = (request.caller, request.key)
        if not locked[position]:
            outcomes.append(
                IdempotencyKeyInUse("A request with this Idempotency-Key is still running.")
            )
            continue
        if scope in answered:
            fingerprint, stored = answered[scope]
            outcomes.append(
                stored
                if fingerprint == request.fingerprint
                else IdempotencyKeyReused("This Idempotency-Key was used for another request.")
            )
            continue
        if position not in running:  # its key's first request was refused without an answer
            outcomes.append(unstored[scope])
            continue
        try:
            status_code, body = await _answer_of(operation, position)
        except WalletError as refusal:
            unstored[scope] = refusal
            outcomes.append(refusal)
            continue
        encoded = orjson.dumps(body)
        outcomes.append(StoredResponse(status_code, encoded, replayed=False))
        answered[scope] = (
            request.fingerprint,
            StoredResponse(status_code, encoded, replayed=True),
        )
        new.append((request.caller, request.key, request.fingerprint, status_code, encoded))
    answers = [Write(_STORE_MANY, tuple(map(list, zip(*new, strict=True))))] if new else []
    await write_together(conn, [*answers, *(writes() if writes is not None else [])])
    return outcomes


def _to_run(
    requests: Sequence[KeyedRequest], locked: list[bool], answered: Mapping[tuple[str, str], Any]
) -> list[int]:
    """The positions whose operation will run: the first of each key that is held here and has
    no answer yet."""
    first: dict[tuple[str, str], int] = {}
    for position, request in enumerate(requests):
        scope = (request.caller, request.key)
        if locked[position] and scope not in answered:
            first.setdefault(scope, position)
    return sorted(first.values())


async def _answer_of(
    operation: Callable[[int], Awaitable[tuple[int, Any]]], position: int
) -> tuple[int, Any]:
    """`operation(position)`'s answer, or the problem answer of its refusal (a refusal that
    must not be stored is raised)."""
    try:
        return await operation(position)
    except WalletError as refusal:
        return _stored_refusal(refusal)


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
        return _stored_refusal(refusal)


def _stored_refusal(refusal: WalletError) -> tuple[int, Any]:
    """The problem answer a refusal leaves as its key's answer; a refusal that says "try again
    later" is raised instead."""
    if isinstance(refusal, _NOT_STORED):
        raise refusal
    return status_of(refusal.code), problem_body(
        refusal.code, refusal.detail, errors=refusal.errors
    )


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
