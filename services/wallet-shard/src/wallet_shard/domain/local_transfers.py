"""A transfer between two wallets of this shard, booked in one local transaction.

It takes the saga's steps, in memory and at once: Try both legs; Confirm both when both were
accepted, else Cancel both. So it leaves the same records as a saga (a hold and a pending credit,
resolved; `transfer_out` and `transfer_in` through the clearing account, which nets to zero) and
ends the same way: `completed`, or `cancelled` with the failure code of the leg that refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from wallet_shared.contracts.messages import (
    CancelCredit,
    CancelDebit,
    ConfirmCredit,
    ConfirmDebit,
    LegCommand,
    TryCredit,
    TryDebit,
)

from wallet_shard.domain.leg_book import LegBook, LegOutcome

LocalTransferStatus = Literal["completed", "cancelled"]


@dataclass(frozen=True, slots=True)
class LocalTransferRequest:
    """What the caller asks to move between two wallets of this shard."""

    source_wallet_id: str
    destination_wallet_id: str
    amount: int
    currency: str
    description: str | None
    initiator: str


@dataclass(frozen=True, slots=True)
class LocalTransfer:
    """A booked local transfer: always final."""

    id: str
    source_wallet_id: str
    destination_wallet_id: str
    amount: int
    currency: str
    description: str | None
    status: LocalTransferStatus
    failure_code: str | None
    initiator: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LocalBooking:
    """What booking a local transfer did: the transfer, and each leg step's outcome (in order:
    the two Tries, then the two Confirms or Cancels), under the trace of its request."""

    transfer: LocalTransfer
    outcomes: list[LegOutcome]
    trace_id: str = ""


def local_transfer_commands(
    transfer_id: str, request: LocalTransferRequest, *, trace_id: str = ""
) -> tuple[LegCommand, LegCommand]:
    """The Try of each leg (the wallets they name are what the book must hold, locked)."""
    legs = {"transfer_id": transfer_id, "amount": request.amount, "currency": request.currency}
    return (
        TryDebit(wallet_id=request.source_wallet_id, trace_id=trace_id, **legs),
        TryCredit(wallet_id=request.destination_wallet_id, trace_id=trace_id, **legs),
    )


def book_local_transfer(
    book: LegBook,
    transfer_id: str,
    request: LocalTransferRequest,
    *,
    at: datetime,
    trace_id: str = "",
) -> LocalBooking:
    """Try both legs, then Confirm both or Cancel both, on `book` (which holds both wallets)."""
    try_debit, try_credit = local_transfer_commands(transfer_id, request, trace_id=trace_id)
    tried = [book.apply(try_debit), book.apply(try_credit)]
    refusals = [o.answer.failure_code for o in tried if o.answer is not None and not o.answer.ok]
    failure_code = (refusals[0] or "declined") if refusals else None
    second_steps = (
        (ConfirmDebit, ConfirmCredit) if failure_code is None else (CancelDebit, CancelCredit)
    )
    resolved = [
        book.apply(step(**command.model_dump(exclude={"message_id", "occurred_at"})))
        for step, command in zip(second_steps, (try_debit, try_credit), strict=True)
    ]
    transfer = LocalTransfer(
        id=transfer_id,
        source_wallet_id=request.source_wallet_id,
        destination_wallet_id=request.destination_wallet_id,
        amount=request.amount,
        currency=request.currency,
        description=request.description,
        status="completed" if failure_code is None else "cancelled",
        failure_code=failure_code,
        initiator=request.initiator,
        created_at=at,
        updated_at=at,
    )
    return LocalBooking(transfer=transfer, outcomes=[*tried, *resolved], trace_id=trace_id)
