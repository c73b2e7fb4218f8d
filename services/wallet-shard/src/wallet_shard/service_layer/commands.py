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


@dataclass(frozen=True, slots=True)
class PayOrder:
    """A purchase: the wallet pays one order of a shop."""

    wallet_id: str
    amount: int
    order_id: str
    merchant: str | None = None


@dataclass(frozen=True, slots=True)
class RefundPurchase:
    """Give back part or all of a purchase to the wallet that paid it."""

    wallet_id: str
    purchase_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class ReverseTransaction:
    """Undo one transaction of the wallet with a new, linked one."""

    wallet_id: str
    transaction_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ChangeLimits:
    """Set a wallet's own spending limits (None: the configured default)."""

    wallet_id: str
    daily: int | None
    monthly: int | None
