"""The internal admin routes of a service's dead letters, the same on every service that consumes
Kafka (wallet shards, the coordinator): mount `dead_letter_router()` and put the service's
`DeadLetterStore` in `app.state.dead_letters`.

- `GET /internal/dead-letters?limit=&cursor=`: newest first by `(created_at, id)`; the cursor is
  that opaque position, so a caller merging several services' lists can page them all alike.
- `POST /internal/dead-letters/{id}/replay`: publish the original message again to its topic;
  404 `not_found` for an unknown id, 409 `conflict` when it was replayed before (a replay that
  fails again is dead-lettered anew, with header `replayed_dead_letter`: replay that one).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from wallet_shared.contracts.pagination import (
    BIGINT_MAX,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    cut_page,
    decode_cursor,
    encode_cursor,
    in_utc,
    invalid_cursor,
)
from wallet_shared.contracts.schemas import InternalDeadLetter, ProblemDetail
from wallet_shared.platform.audit import AuditEntry, requested_action
from wallet_shared.platform.dead_letters import DeadLetter, DeadLetterStore
from wallet_shared.platform.http import Caller, internal_caller


def dead_letter_view(letter: DeadLetter) -> InternalDeadLetter:
    """A stored dead letter as JSON can carry it: the value as text when it is UTF-8, else
    base64 (`value_encoding` says which)."""
    value, encoding = _value_text(letter.value)
    return InternalDeadLetter(
        id=letter.id,
        service=letter.service,
        topic=letter.topic,
        partition=letter.partition,
        offset=letter.offset,
        key=letter.key.decode("utf-8", "replace") if letter.key is not None else None,
        error=letter.error,
        attempts=letter.attempts,
        headers=letter.headers,
        value=value,
        value_encoding=encoding,
        created_at=letter.created_at,
        replayed_at=letter.replayed_at,
    )


def dead_letter_position(created_at: datetime, dead_letter_id: int) -> str:
    """The opaque cursor of the list position `(created_at, id)`."""
    return encode_cursor(_position(created_at, dead_letter_id))


def _position(created_at: datetime, dead_letter_id: int) -> list[Any]:
    return [created_at.isoformat(), dead_letter_id]


def parse_dead_letter_position(cursor: str) -> tuple[datetime, int]:
    """The position in a cursor of `dead_letter_position`; `ValidationFailed` otherwise."""
    raw_time, raw_id = decode_cursor(cursor, arity=2)
    if not isinstance(raw_time, str) or not isinstance(raw_id, int) or raw_id < 0:
        raise invalid_cursor()
    try:
        return in_utc(datetime.fromisoformat(raw_time)), raw_id
    except ValueError as error:
        raise invalid_cursor() from error


async def list_dead_letters(
    store: DeadLetterStore, *, limit: int, cursor: str | None
) -> Page[InternalDeadLetter]:
    """A page of dead letters, newest first, after the cursor's position."""
    before = parse_dead_letter_position(cursor) if cursor is not None else None
    letters = await store.page(limit=limit + 1, before=before)
    page, next_cursor = cut_page(
        letters, limit=limit, position=lambda last: _position(last.created_at, last.id)
    )
    return Page[InternalDeadLetter](
        items=[dead_letter_view(letter) for letter in page], next_cursor=next_cursor
    )


async def replay_dead_letter(
    store: DeadLetterStore, dead_letter_id: int, *, audit: AuditEntry | None = None
) -> InternalDeadLetter:
    """Publish a dead letter again, once: `NotFound` when unknown, `Conflict` when replayed;
    `audit` is recorded with the replay."""
    return dead_letter_view(await store.replay(dead_letter_id, audit=audit))


async def store_of_app(request: Request) -> DeadLetterStore:
    """The store a service's lifespan left in `app.state.dead_letters`."""
    store: DeadLetterStore = request.app.state.dead_letters
    return store


Store = Annotated[DeadLetterStore, Depends(store_of_app)]


def dead_letter_router() -> APIRouter:
    """The `/internal/dead-letters` routes of one app, on the store in `app.state.dead_letters`."""
    # The app's credential check guards these already; the dependency keeps them closed even
    # when mounted on an app without it.
    router = APIRouter(
        prefix="/internal/dead-letters",
        tags=["dead letters"],
        dependencies=[Depends(internal_caller)],
    )
    problems: dict[int | str, dict[str, Any]] = {
        code: {"model": ProblemDetail} for code in (404, 409, 422)
    }

    @router.get("", response_model=Page[InternalDeadLetter], responses=problems)
    async def get_dead_letters(
        letters: Store,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> Page[InternalDeadLetter]:
        """This service's dead letters, newest first."""
        return await list_dead_letters(letters, limit=limit, cursor=cursor)

    @router.post("/{dead_letter_id}/replay", response_model=InternalDeadLetter, responses=problems)
    async def post_replay(
        letters: Store,
        dead_letter_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)],
        caller: Annotated[Caller, Depends(internal_caller)],
        request: Request,
    ) -> InternalDeadLetter:
        """Publish a dead letter again to its topic (once); the replay is audited."""
        audit = requested_action(caller, request, "dead_letter.replay", target=str(dead_letter_id))
        return await replay_dead_letter(letters, dead_letter_id, audit=audit)

    return router


def _value_text(value: bytes | None) -> tuple[str | None, str]:
    if value is None:
        return None, "utf-8"
    try:
        return value.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(value).decode("ascii"), "base64"
