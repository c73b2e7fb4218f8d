"""The transfer saga: Try on both legs, then Confirm both or Cancel both.

A pure state machine. Every transition takes the current instant and returns the saga's next
state with the commands to send; a reply that arrives twice, late or out of order returns the
saga unchanged and sends nothing. The coordinator owns every decision, and makes it exactly once:
Confirm when both legs tried ok, Cancel on the first failure or when the deadline passes while
still trying. Confirm is never undone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Final

from wallet_shared.contracts.messages import (
    COMMAND_FOR,
    CreditTried,
    DebitTried,
    Leg,
    LegCommand,
    LegReply,
    Step,
)

TIMEOUT: Final = "timeout"
"""Failure code of a transfer cancelled because its Try did not finish before the deadline."""

DECLINED: Final = "declined"
"""Failure code when a participant refused a Try without saying why (it always should)."""


class TransferStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class SagaPhase(StrEnum):
    """Where the saga is: waiting for Tries, for Confirms, for Cancels, or finished."""

    TRYING = "trying"
    CONFIRMING = "confirming"
    CANCELLING = "cancelling"
    DONE = "done"


class TryResult(StrEnum):
    OK = "ok"
    FAILED = "failed"


class Resolution(StrEnum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class LegState:
    """What the coordinator knows of one leg: its Try outcome, then how it was resolved."""

    tried: TryResult | None = None
    resolved: Resolution | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A saga's next state and the commands that carry the saga there."""

    saga: TransferSaga
    commands: tuple[LegCommand, ...] = ()


@dataclass(frozen=True, slots=True)
class TransferSaga:
    """One transfer between two wallets, run as Try → Confirm | Cancel."""

    id: str
    source_wallet_id: str
    destination_wallet_id: str
    amount: int
    currency: str
    description: str | None
    initiator: str
    trace_id: str
    deadline_at: datetime
    created_at: datetime
    updated_at: datetime
    status: TransferStatus = TransferStatus.PENDING
    phase: SagaPhase = SagaPhase.TRYING
    debit: LegState = LegState()
    credit: LegState = LegState()
    failure_code: str | None = None
    decided_at: datetime | None = None

    @classmethod
    def begin(
        cls,
        *,
        transfer_id: str,
        source_wallet_id: str,
        destination_wallet_id: str,
        amount: int,
        currency: str,
        description: str | None,
        initiator: str,
        trace_id: str,
        now: datetime,
        deadline_at: datetime,
    ) -> Transition:
        """A new pending saga and its two Try commands."""
        saga = cls(
            id=transfer_id,
            source_wallet_id=source_wallet_id,
            destination_wallet_id=destination_wallet_id,
            amount=amount,
            currency=currency,
            description=description,
            initiator=initiator,
            trace_id=trace_id,
            deadline_at=deadline_at,
            created_at=now,
            updated_at=now,
        )
        return Transition(saga, saga._commands(Step.TRY, (Leg.DEBIT, Leg.CREDIT)))

    @property
    def is_final(self) -> bool:
        return self.status is not TransferStatus.PENDING

    def leg(self, leg: Leg) -> LegState:
        return self.debit if leg is Leg.DEBIT else self.credit

    def wallet_of(self, leg: Leg) -> str:
        return self.source_wallet_id if leg is Leg.DEBIT else self.destination_wallet_id

    def on_reply(self, reply: LegReply, now: datetime) -> Transition:
        """Take a participant's reply into account (a duplicate or late one changes nothing).

        The deadline is applied first, so that a Try outcome arriving after it cannot confirm
        a transfer the sweeper would have cancelled a moment earlier.
        """
        expired = self.expire(now)
        step = expired.saga._apply(reply, now)
        if step.saga is expired.saga:
            return expired
        return Transition(step.saga, expired.commands + step.commands)

    def expire(self, now: datetime) -> Transition:
        """Cancel with `timeout` when the deadline passed while still trying; else nothing."""
        if self.phase is not SagaPhase.TRYING or now < self.deadline_at:
            return Transition(self)
        return self._decide_cancel(TIMEOUT, now)

    def redrive(self, now: datetime) -> Transition:
        """The current phase's commands again, for the legs that have not answered yet.

        Participants are idempotent, so this heals a lost or dead-lettered message at no risk.
        """
        commands = self._pending_commands()
        if not commands:
            return Transition(self)
        return Transition(replace(self, updated_at=now), commands)

    def _apply(self, reply: LegReply, now: datetime) -> Transition:
        if isinstance(reply, DebitTried | CreditTried):
            return self._on_tried(reply.leg, reply.ok, reply.failure_code, now)
        if reply.step is Step.CONFIRM:
            return self._on_resolved(reply.leg, Resolution.CONFIRMED, now)
        return self._on_resolved(reply.leg, Resolution.CANCELLED, now)

    def _on_tried(self, leg: Leg, ok: bool, failure_code: str | None, now: datetime) -> Transition:
        current = self.leg(leg)
        if self.phase is not SagaPhase.TRYING or current.tried is not None:
            return Transition(self)
        result = TryResult.OK if ok else TryResult.FAILED
        legs = self._legs_with(leg, LegState(result, current.resolved))
        if not ok:
            return self._decide_cancel(failure_code or DECLINED, now, legs)
        if all(state.tried is TryResult.OK for state in legs):
            return self._decide_confirm(now, legs)
        return Transition(replace(self, debit=legs[0], credit=legs[1], updated_at=now))

    def _on_resolved(self, leg: Leg, resolution: Resolution, now: datetime) -> Transition:
        expected = (
            SagaPhase.CONFIRMING if resolution is Resolution.CONFIRMED else SagaPhase.CANCELLING
        )
        current = self.leg(leg)
        if self.phase is not expected or current.resolved is not None:
            return Transition(self)
        debit, credit = self._legs_with(leg, LegState(current.tried, resolution))
        status, phase = self.status, self.phase
        if debit.resolved is not None and credit.resolved is not None:
            phase = SagaPhase.DONE
            status = (
                TransferStatus.COMPLETED
                if resolution is Resolution.CONFIRMED
                else TransferStatus.CANCELLED
            )
        saga = replace(self, debit=debit, credit=credit, status=status, phase=phase, updated_at=now)
        return Transition(saga)

    def _decide_confirm(self, now: datetime, legs: tuple[LegState, LegState]) -> Transition:
        saga = replace(
            self,
            debit=legs[0],
            credit=legs[1],
            phase=SagaPhase.CONFIRMING,
            decided_at=now,
            updated_at=now,
        )
        return Transition(saga, saga._commands(Step.CONFIRM, (Leg.DEBIT, Leg.CREDIT)))

    def _decide_cancel(
        self, failure_code: str, now: datetime, legs: tuple[LegState, LegState] | None = None
    ) -> Transition:
        # Both legs, even one that never answered its Try: the participant records a tombstone
        # so that a Try arriving later is refused instead of leaving a hanging hold.
        debit, credit = legs or (self.debit, self.credit)
        saga = replace(
            self,
            debit=debit,
            credit=credit,
            phase=SagaPhase.CANCELLING,
            failure_code=failure_code,
            decided_at=now,
            updated_at=now,
        )
        return Transition(saga, saga._commands(Step.CANCEL, (Leg.DEBIT, Leg.CREDIT)))

    def _legs_with(self, leg: Leg, state: LegState) -> tuple[LegState, LegState]:
        """(debit, credit) with `leg` in its new state: one `replace` per transition, since
        copying a frozen saga is the main cost of a reply."""
        return (state, self.credit) if leg is Leg.DEBIT else (self.debit, state)

    def _pending_commands(self) -> tuple[LegCommand, ...]:
        legs = (Leg.DEBIT, Leg.CREDIT)
        if self.phase is SagaPhase.DONE:
            return ()
        if self.phase is SagaPhase.TRYING:
            return self._commands(Step.TRY, [leg for leg in legs if self.leg(leg).tried is None])
        step = Step.CONFIRM if self.phase is SagaPhase.CONFIRMING else Step.CANCEL
        return self._commands(step, [leg for leg in legs if self.leg(leg).resolved is None])

    def _commands(self, step: Step, legs: Sequence[Leg]) -> tuple[LegCommand, ...]:
        return tuple(
            COMMAND_FOR[(step, leg)](
                transfer_id=self.id,
                trace_id=self.trace_id,
                wallet_id=self.wallet_of(leg),
                amount=self.amount,
                currency=self.currency,
            )
            for leg in legs
        )
