"""Rules on request headers and amounts that the gateway checks before calling anyone."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from wallet_shared.contracts.errors import ValidationFailed
from wallet_shared.contracts.rules import MAX_WAIT_S

_WAIT: Final = re.compile(r"^[0-9]{1,6}$")


def wait_preference(prefer: str | None) -> int | None:
    """The seconds of `Prefer: wait=N` (RFC 7240), None when not asked; N above 30 is refused.

    Other preferences in the header are ignored, as RFC 7240 allows.
    """
    if prefer is None:
        return None
    for preference in prefer.split(","):
        name, _, value = preference.split(";", 1)[0].partition("=")
        if name.strip().lower() != "wait":
            continue
        seconds = value.strip().strip('"')
        if _WAIT.fullmatch(seconds) is None or int(seconds) > MAX_WAIT_S:
            raise ValidationFailed(
                "The Prefer header's wait is not valid.",
                errors=[
                    {
                        "field": "Prefer",
                        "message": f"wait must be a whole number of seconds from 0 to {MAX_WAIT_S}",
                    }
                ],
            )
        return int(seconds)
    return None


def check_amount_limit(amount: int, *, max_amount: int) -> None:
    """The configured per-operation maximum (the request model checks the global one)."""
    if amount > max_amount:
        raise ValidationFailed(
            "The amount is too large.",
            errors=[{"field": "amount", "message": f"must be at most {max_amount}"}],
        )


def check_time_range(since: datetime | None, until: datetime | None) -> None:
    """`since` must not come after `until`."""
    if since is not None and until is not None and since > until:
        raise ValidationFailed(
            "The time range is empty.",
            errors=[{"field": "since", "message": "must not be after until"}],
        )
