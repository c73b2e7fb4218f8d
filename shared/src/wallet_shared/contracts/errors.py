"""Errors every service shares, each with the stable public `code` of API.md.

They are domain-level: no HTTP here. `wallet_shared.platform.problems` maps a code to its HTTP status when a
service answers a request; the same codes are the `failure_code` of a cancelled transfer.
Backend failures are translated once, at the adapter, into `TransientError` (a retry can help) or
left as bugs (a retry cannot).
"""

from __future__ import annotations

from typing import Any, ClassVar


class WalletError(Exception):
    """Base of the errors a client can be told about."""

    code: ClassVar[str] = "bad_request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class ValidationFailed(WalletError):
    """Input that breaks a rule; `errors` lists `{field, message}`."""

    code = "validation_error"


class Unauthorized(WalletError):
    code = "unauthorized"


class Forbidden(WalletError):
    code = "forbidden"


class NotFound(WalletError):
    """Names nothing the caller may see (whether it exists for someone else or not at all)."""

    code = "not_found"


class InsufficientFunds(WalletError):
    code = "insufficient_funds"


class WalletNotActive(WalletError):
    code = "wallet_not_active"


class CurrencyMismatch(WalletError):
    code = "currency_mismatch"


class SameWallet(WalletError):
    code = "same_wallet"


class LimitExceeded(WalletError):
    code = "limit_exceeded"


class DuplicateOrder(WalletError):
    """A purchase for an order the wallet already paid (under another Idempotency-Key)."""

    code = "duplicate_order"


class RefundExceedsPurchase(WalletError):
    """A refund larger than what is left of its purchase (or of a reversed purchase)."""

    code = "refund_exceeds_purchase"


class AlreadyReversed(WalletError):
    """A reversal of a transaction that was reversed before."""

    code = "already_reversed"


class TransferNotReversible(WalletError):
    """A reversal of one side of a transfer: its undo is a new transfer, agreed by both sides."""

    code = "transfer_not_reversible"


class ReversalNotReversible(WalletError):
    """A reversal of a reversal: undo mistakes with a new movement instead."""

    code = "reversal_not_reversible"


class PurchaseRefunded(WalletError):
    """A reversal of a purchase that refunds already gave money back for."""

    code = "purchase_refunded"


class Conflict(WalletError):
    """The request conflicts with the current state (e.g. closing a wallet that holds money)."""

    code = "conflict"


class IdempotencyKeyRequired(WalletError):
    code = "idempotency_key_required"


class IdempotencyKeyReused(WalletError):
    code = "idempotency_key_reused"


class IdempotencyKeyInUse(WalletError):
    code = "idempotency_key_in_use"


class RateLimited(WalletError):
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class ServiceUnavailable(WalletError):
    """A dependency is down; the request changed nothing and may be retried."""

    code = "service_unavailable"


class TransientError(Exception):
    """A failure that a retry may cure (connection lost, serialization failure, broker away)."""
