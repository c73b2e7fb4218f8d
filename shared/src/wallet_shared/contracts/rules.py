"""Rules on requests that every service applies, written once (pure: no I/O).

A request crosses the gateway and then a shard or the coordinator; each checks it again (no
service trusts another's input), and each must reach the same verdict, or a request accepted at
one layer is refused at the next.
"""

from __future__ import annotations

import re
from typing import Final

from wallet_shared.contracts.errors import IdempotencyKeyRequired, SameWallet, ValidationFailed

MAX_WAIT_S: Final = 30
"""The longest a caller may ask to wait for a transfer's final status (`Prefer: wait=N`)."""
KEY_HEADER: Final = "Idempotency-Key"
MAX_KEY_LENGTH: Final = 255
_KEY: Final = re.compile(rf"[\x20-\x7e]{{1,{MAX_KEY_LENGTH}}}")
"""API.md: 1-255 printable characters. ASCII only: a header travels as bytes, and a key must be
the same string in every service it crosses."""


def checked_key(raw: str | None) -> str:
    """The Idempotency-Key of a money-moving request: absent → `IdempotencyKeyRequired` (400);
    not 1-255 printable ASCII characters → `ValidationFailed` (422)."""
    if raw is None:
        raise IdempotencyKeyRequired(
            "This request moves money: send an Idempotency-Key header (1-255 printable characters)."
        )
    if _KEY.fullmatch(raw) is None:
        raise ValidationFailed(
            "The Idempotency-Key header is not valid.",
            errors=[{"field": KEY_HEADER, "message": "must be 1-255 printable ASCII characters"}],
        )
    return raw


def check_distinct_wallets(source_wallet_id: str, destination_wallet_id: str) -> None:
    """A transfer moves money between two wallets: `SameWallet` (422) otherwise."""
    if source_wallet_id == destination_wallet_id:
        raise SameWallet("The source and destination wallets are the same.")
