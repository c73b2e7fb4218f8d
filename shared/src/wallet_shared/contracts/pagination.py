"""Opaque, stable list cursors.

A cursor is the position of the last item returned (e.g. `(created_at, id)`), so new items
arriving at the head of a newest-first list never shift a page. It is base64url JSON: opaque to
clients, validated on the way back in.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel

from wallet_shared.contracts.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_INTERNAL_LIMIT = MAX_LIMIT + 1
"""Internal list routes take one item more than the public maximum: a gateway merging the pages
of several backends asks each for `limit + 1`, to know whether a next page exists."""

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a newest-first list."""

    items: list[T]
    next_cursor: str | None = None


R = TypeVar("R")


def cut_page(
    rows: Sequence[R], *, limit: int, position: Callable[[R], list[Any]]
) -> tuple[list[R], str | None]:
    """The first `limit` of `rows` and the cursor after the last of them, or None at the end.

    Fetch `limit + 1` rows: the one more than asked tells whether a next page exists, without a
    count.
    """
    page = list(rows[:limit])
    return page, encode_cursor(position(page[-1])) if len(rows) > limit else None


def encode_cursor(position: list[Any]) -> str:
    """An opaque cursor for a position (a short list of JSON scalars)."""
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode("ascii").rstrip("=")


BIGINT_MAX = 2**63 - 1
"""The largest integer a cursor position (or any PostgreSQL bigint) may hold."""

_INT64 = range(-BIGINT_MAX - 1, BIGINT_MAX + 1)


def invalid_cursor() -> ValidationFailed:
    """The error for a cursor that is not one this service handed out."""
    return ValidationFailed(
        "The cursor is not valid.", errors=[{"field": "cursor", "message": "is not a valid cursor"}]
    )


def _position_part(part: object) -> bool:
    # Parts go to the database as bigint or text: a cursor must not smuggle in what those
    # cannot hold (a 65-bit integer, a NUL) and turn a client's mistake into a server error.
    if isinstance(part, bool):
        return False
    if isinstance(part, int):
        return part in _INT64
    return isinstance(part, str) and len(part) <= 200 and "\x00" not in part


def decode_cursor(cursor: str, *, arity: int) -> list[Any]:
    """The position in a cursor; `ValidationFailed` (field `cursor`) for anything else."""
    if not cursor or len(cursor) > 512:
        raise invalid_cursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as error:
        raise invalid_cursor() from error
    if not isinstance(position, list) or len(position) != arity:
        raise invalid_cursor()
    if not all(_position_part(part) for part in position):
        raise invalid_cursor()
    return position


def time_position(created_at: datetime, entity_id: str) -> list[Any]:
    """The `(created_at, id)` position used by lists ordered by creation time, newest first."""
    return [created_at.isoformat(), entity_id]


def parse_time_position(position: list[Any]) -> tuple[datetime, str]:
    """The inverse of `time_position`, validating both parts."""
    try:
        created_at = in_utc(datetime.fromisoformat(str(position[0])))
    except ValueError as error:
        raise invalid_cursor() from error
    if not isinstance(position[1], str):
        raise invalid_cursor()
    return created_at, position[1]


def in_utc(instant: datetime) -> datetime:
    """An aware instant in UTC; `ValueError` when naive or outside what UTC can express
    (year 1 at +14:00 is before the first instant a database can store)."""
    if instant.tzinfo is None:
        raise ValueError("a timestamp needs an offset")
    try:
        return instant.astimezone(UTC)
    except OverflowError as error:
        raise ValueError("the timestamp is out of range") from error
