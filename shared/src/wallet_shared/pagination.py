"""Opaque, stable list cursors.

A cursor is the position of the last item returned (e.g. `(created_at, id)`), so new items
arriving at the head of a newest-first list never shift a page. It is base64url JSON: opaque to
clients, validated on the way back in.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel

from wallet_shared.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a newest-first list."""

    items: list[T]
    next_cursor: str | None = None


def encode_cursor(position: list[Any]) -> str:
    """An opaque cursor for a position (a short list of JSON scalars)."""
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, *, arity: int) -> list[Any]:
    """The position in a cursor; `ValidationFailed` (field `cursor`) for anything else."""
    invalid = ValidationFailed(
        "The cursor is not valid.", errors=[{"field": "cursor", "message": "is not a valid cursor"}]
    )
    if not cursor or len(cursor) > 512:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as error:
        raise invalid from error
    if not isinstance(position, list) or len(position) != arity:
        raise invalid
    if not all(isinstance(part, str | int) and not isinstance(part, bool) for part in position):
        raise invalid
    return position


def time_position(created_at: datetime, entity_id: str) -> list[Any]:
    """The `(created_at, id)` position used by lists ordered by creation time, newest first."""
    return [created_at.isoformat(), entity_id]


def parse_time_position(position: list[Any]) -> tuple[datetime, str]:
    """The inverse of `time_position`, validating both parts."""
    try:
        created_at = datetime.fromisoformat(str(position[0]))
    except ValueError as error:
        raise ValidationFailed(
            "The cursor is not valid.",
            errors=[{"field": "cursor", "message": "is not a valid cursor"}],
        ) from error
    if created_at.tzinfo is None or not isinstance(position[1], str):
        raise ValidationFailed(
            "The cursor is not valid.",
            errors=[{"field": "cursor", "message": "is not a valid cursor"}],
        )
    return created_at, position[1]
