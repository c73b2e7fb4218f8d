"""This shard's side of a transfer: a hold (debit leg) or a pending credit (credit leg).

State machine, keyed by (transfer id, leg):

    Try ok      → active ─┬─ Confirm → confirmed
                          └─ Cancel  → cancelled
    Try refused → refused             (Cancel: no-op)
    Cancel first → cancelled tombstone (`tried` false): a later Try is refused with `cancelled`

A redelivered command finds the leg resolved and changes nothing: Try answers what it answered the
first time, Confirm of a confirmed leg and Cancel of a cancelled or refused one are no-ops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from wallet_shared.contracts.messages import Leg, LegCommand

from wallet_shard.domain.errors import CancelAfterConfirm, ConfirmWithoutTry, LegMismatch

CANCELLED_BEFORE_TRY: Final = "cancelled"
"""The failure code of a Try that arrives after its transfer's Cancel."""


class LegState(StrEnum):
    ACTIVE = "active"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class TryAnswer:
    """What a Try answers: ok, or the failure code that makes the coordinator cancel."""

    ok: bool
    failure_code: str | None = None


@dataclass(eq=False)
class TransferLeg:
    """One leg of one transfer on this shard."""

    transfer_id: str
    leg: Leg
    wallet_id: str
    amount: int
    currency: str
    state: LegState
    failure_code: str | None = None
    tried: bool = True
    """False for a tombstone: the Cancel came first and no Try was ever accepted."""
    placed_at: datetime | None = None
    """When the leg was recorded: the day and month a hold counts against the limits of."""

    @classmethod
    def accepted(cls, command: LegCommand, *, placed_at: datetime | None = None) -> TransferLeg:
        """A Try that succeeded: the hold or pending credit is active."""
        leg = cls._of(command, LegState.ACTIVE)
        leg.placed_at = placed_at
        return leg

    @classmethod
    def refused(cls, command: LegCommand, failure_code: str) -> TransferLeg:
        """A Try that failed, kept so that a redelivered Try answers the same."""
        return cls._of(command, LegState.REFUSED, failure_code=failure_code)

    @classmethod
    def tombstone(cls, command: LegCommand) -> TransferLeg:
        """A Cancel for a leg never tried: it bars a late Try from leaving a hanging hold."""
        return cls._of(command, LegState.CANCELLED, tried=False)

    @classmethod
    def _of(
        cls,
        command: LegCommand,
        state: LegState,
        *,
        failure_code: str | None = None,
        tried: bool = True,
    ) -> TransferLeg:
        return cls(
            transfer_id=command.transfer_id,
            leg=command.leg,
            wallet_id=command.wallet_id,
            amount=command.amount,
            currency=command.currency,
            state=state,
            failure_code=failure_code,
            tried=tried,
        )

    @property
    def key(self) -> tuple[str, Leg]:
        return (self.transfer_id, self.leg)

    def try_answer(self) -> TryAnswer:
        """The answer to a Try for this leg, the first time and on every redelivery."""
        if not self.tried:
            return TryAnswer(ok=False, failure_code=CANCELLED_BEFORE_TRY)
        if self.state is LegState.REFUSED:
            return TryAnswer(ok=False, failure_code=self.failure_code)
        return TryAnswer(ok=True)

    def confirm(self) -> bool:
        """Resolve as confirmed; True when the money must move now, False for a redelivery."""
        if self.state is LegState.CONFIRMED:
            return False
        if self.state is not LegState.ACTIVE:
            raise ConfirmWithoutTry(
                f"transfer {self.transfer_id} {self.leg.value} leg is {self.state.value}"
            )
        self.state = LegState.CONFIRMED
        return True

    def cancel(self) -> bool:
        """Resolve as cancelled; True when the hold or pending credit must be cancelled now."""
        if self.state is LegState.CONFIRMED:
            raise CancelAfterConfirm(
                f"transfer {self.transfer_id} {self.leg.value} leg is already confirmed"
            )
        if self.state is not LegState.ACTIVE:
            return False
        self.state = LegState.CANCELLED
        return True

    def check_same_as(self, command: LegCommand) -> None:
        """Every command of a leg must name the same wallet, amount and currency."""
        if (command.wallet_id, command.amount, command.currency) != (
            self.wallet_id,
            self.amount,
            self.currency,
        ):
            raise LegMismatch(
                f"{command.message_type} for transfer {self.transfer_id} does not match its "
                f"{self.leg.value} leg ({self.wallet_id}, {self.amount} {self.currency})"
            )
