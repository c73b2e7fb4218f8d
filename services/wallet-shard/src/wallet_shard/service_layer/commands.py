"""The commands a shard's HTTP entrypoint hands to the handlers (parsed and validated input)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class OpenWallet:
    """Create a wallet (and register its owner on first use)."""

    user_id: str
    currency: str
    label: str | None = None


@dataclass(frozen=True, slots=True)
class MoveMoney:
    """A deposit into, or a withdrawal from, one wallet."""

    wallet_id: str
    amount: int
    reference: str | None = None
    metadata: dict[str, Any] | None = None


class StatusChange(StrEnum):
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """The idempotency key of a request, scoped to its caller, and the request's fingerprint."""

    caller: str
    key: str
    fingerprint: str
