"""Query parameters the routes parse beyond what pydantic's lax rules would accept."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from wallet_shared.contracts.errors import ValidationFailed
from wallet_shared.contracts.pagination import in_utc

_RFC3339: Final = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)"
    r"(?P<offset>[Zz]|[+\- ]\d{2}:\d{2})$"
)


def parse_timestamp(raw: str | None, *, field: str) -> datetime | None:
    """An RFC 3339 timestamp with its offset (`2024-05-01T12:00:00Z`), or None when absent.

    A space where the offset's `+` belongs is read as `+`: an unencoded `+` in a query string
    arrives as a space.
    """
    if raw is None:
        return None
    match = _RFC3339.fullmatch(raw.strip())
    invalid = ValidationFailed(
        f"{field} is not a valid timestamp.",
        errors=[{"field": field, "message": "must be an RFC 3339 timestamp with an offset"}],
    )
    if match is None:
        raise invalid
    offset = match["offset"].replace(" ", "+").upper()
    try:
        return in_utc(datetime.fromisoformat(f"{match['date']}T{match['time'][:15]}{offset}"))
    except ValueError as error:  # e.g. month 13, or before the first storable instant
        raise invalid from error
