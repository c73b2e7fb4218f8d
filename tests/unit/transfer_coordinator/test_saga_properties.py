"""Whatever the network does (reorder, duplicate, lose, delay past the deadline), a saga decides
exactly once, never undoes Confirm, and ends in exactly one final state that matches what the
participants booked.

The participants are small honest fakes of a TCC shard: idempotent per (transfer, step, leg), a
Cancel before its Try leaves a tombstone, a Try after its Cancel is refused. They assert that the
coordinator never asks them for something a correct coordinator never asks (Confirm without a
successful Try, Cancel after Confirm).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum

from hypothesis import given, settings
from hypothesis import strategies as st
from transfer_coordinator.domain.saga import (
    TIMEOUT,
    SagaPhase,
    TransferSaga,
    TransferStatus,
    Transition,
)
from wallet_shared.contracts.messages import (
    CreditTried,
    DebitTried,
    Leg,
    LegCommand,
    LegReply,
    Step,
    reply_to,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
DEADLINE = T0 + timedelta(seconds=30)
FAILURE_CODES = st.sampled_from(["insufficient_funds", "wallet_not_active", "currency_mismatch"])
# None means the leg's Try succeeds; a code means the participant refuses it with that code.
TRY_OUTCOMES = st.one_of(st.none(), FAILURE_CODES)


class LegBooking(Enum):
    NOTHING = "nothing"
    HELD = "held"  # tried ok: a hold or a pending credit
    REFUSED = "refused"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"  # released, or a tombstone written before any Try


@dataclass
class FakeParticipant:
    """One leg's shard, as the TCC rules say it must behave."""

    refusal: str | None
    booking: LegBooking = LegBooking.NOTHING

    def handle(self, command: LegCommand) -> LegReply:
        if command.step is Step.TRY:
            return self._try(command)
        if command.step is Step.CONFIRM:
            assert self.booking in (LegBooking.HELD, LegBooking.CONFIRMED), "confirm without try"
            self.booking = LegBooking.CONFIRMED
            return reply_to(command)
        assert self.booking is not LegBooking.CONFIRMED, "cancel after confirm"
        self.booking = LegBooking.CANCELLED
        return reply_to(command)

    def _try(self, command: LegCommand) -> LegReply:
        if self.booking is LegBooking.NOTHING:
            self.booking = LegBooking.REFUSED if self.refusal else LegBooking.HELD
        if self.booking is LegBooking.CANCELLED:
            return reply_to(command, ok=False, failure_code="cancelled")
        if self.booking is LegBooking.REFUSED:
            return reply_to(command, ok=False, failure_code=self.refusal)
        return reply_to(command, ok=True)


@dataclass
class World:
    """A saga, its two participants, and every message ever sent (any may arrive again)."""

    saga: TransferSaga
    participants: dict[Leg, FakeParticipant]
    commands: list[LegCommand] = field(default_factory=list)
    replies: list[LegReply] = field(default_factory=list)
    now: datetime = T0
    decisions: list[SagaPhase] = field(default_factory=list)
    first_refusal: str | None = None

    @classmethod
    def start(cls, debit_refusal: str | None, credit_refusal: str | None) -> World:
        begun = TransferSaga.begin(
            transfer_id="trf_" + "a" * 32,
            source_wallet_id="wlt_001" + "1" * 32,
            destination_wallet_id="wlt_200" + "2" * 32,
            amount=700,
            currency="EUR",
            description=None,
            initiator="alice",
            trace_id="t",
            now=T0,
            deadline_at=DEADLINE,
        )
        participants = {
            Leg.DEBIT: FakeParticipant(debit_refusal),
            Leg.CREDIT: FakeParticipant(credit_refusal),
        }
        world = cls(saga=begun.saga, participants=participants)
        world.commands.extend(begun.commands)
        return world

    def deliver_command(self, command: LegCommand) -> None:
        self.replies.append(self.participants[command.leg].handle(command))

    def deliver_reply(self, reply: LegReply) -> None:
        if isinstance(reply, DebitTried | CreditTried) and not reply.ok:
            self._note_refusal(reply.failure_code)
        self._advance(self.saga.on_reply(reply, self.now))

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def expire(self) -> None:
        self._advance(self.saga.expire(self.now))

    def redrive(self) -> list[LegCommand]:
        transition = self.saga.redrive(self.now)
        self._advance(transition)
        return list(transition.commands)

    def _note_refusal(self, code: str | None) -> None:
        if self.saga.phase is SagaPhase.TRYING and self.now < self.saga.deadline_at:
            self.first_refusal = self.first_refusal or code

    def _advance(self, transition: Transition) -> None:
        before, after = self.saga, transition.saga
        if before.is_final:
            assert after is before, "a final saga moved"
            assert transition.commands == (), "a final saga sent commands"
        if after is before:
            assert transition.commands == (), "commands without a change of state"
        if before.phase is SagaPhase.TRYING and after.phase is not SagaPhase.TRYING:
            self.decisions.append(after.phase)
        self._check_decision(after)
        self.commands.extend(transition.commands)
        self.saga = after

    def _check_decision(self, saga: TransferSaga) -> None:
        assert len(self.decisions) <= 1, f"decided more than once: {self.decisions}"
        if not self.decisions:
            assert saga.phase is SagaPhase.TRYING
            assert saga.status is TransferStatus.PENDING
            return
        if self.decisions[0] is SagaPhase.CONFIRMING:
            assert saga.phase in (SagaPhase.CONFIRMING, SagaPhase.DONE)
            assert saga.status in (TransferStatus.PENDING, TransferStatus.COMPLETED)
            assert all(p.refusal is None for p in self.participants.values())
        else:
            assert saga.phase in (SagaPhase.CANCELLING, SagaPhase.DONE)
            assert saga.status in (TransferStatus.PENDING, TransferStatus.CANCELLED)
            assert saga.failure_code == (self.first_refusal or TIMEOUT)

    def check_final(self) -> None:
        assert self.saga.is_final, f"not final: {self.saga}"
        bookings = {p.booking for p in self.participants.values()}
        if self.saga.status is TransferStatus.COMPLETED:
            assert bookings == {LegBooking.CONFIRMED}
        else:
            # No hold or pending credit is left behind once the transfer is final.
            assert bookings == {LegBooking.CANCELLED}


def drain(world: World) -> None:
    """Deliver everything ever sent, in order, until nothing moves (a fair network)."""
    for _ in range(10):
        for command in list(world.commands):
            world.deliver_command(command)
        for reply in list(world.replies):
            world.deliver_reply(reply)
        if world.saga.is_final:
            return


ACTIONS = st.sampled_from(["command", "reply", "tick", "expire"])


@settings(max_examples=400, deadline=None)
@given(debit=TRY_OUTCOMES, credit=TRY_OUTCOMES, data=st.data())
def test_any_order_and_duplication_of_messages_decides_once(
    debit: str | None, credit: str | None, data: st.DataObject
) -> None:
    world = World.start(debit, credit)
    for _ in range(data.draw(st.integers(0, 40), label="steps")):
        action = data.draw(ACTIONS, label="action")
        if action == "command" and world.commands:
            world.deliver_command(data.draw(st.sampled_from(world.commands), label="command"))
        elif action == "reply" and world.replies:
            world.deliver_reply(data.draw(st.sampled_from(world.replies), label="reply"))
        elif action == "tick":
            world.tick(data.draw(st.floats(0, 20), label="seconds"))
        elif action == "expire":
            world.expire()
    drain(world)

    world.check_final()
    if world.decisions == [SagaPhase.CONFIRMING]:
        assert world.saga.status is TransferStatus.COMPLETED
    else:
        assert world.saga.status is TransferStatus.CANCELLED
    # After the end, anything arriving again changes nothing.
    for reply in world.replies:
        assert world.saga.on_reply(reply, world.now + timedelta(days=1)).saga is world.saga


@settings(max_examples=300, deadline=None)
@given(debit=TRY_OUTCOMES, credit=TRY_OUTCOMES, data=st.data())
def test_redrive_heals_lost_messages(
    debit: str | None, credit: str | None, data: st.DataObject
) -> None:
    """Messages are lost at random; only the sweeper's redrive and deadline bring the saga home."""
    world = World.start(debit, credit)
    outbound = list(world.commands)
    for _ in range(30):
        replies = []
        for command in outbound:
            if data.draw(st.booleans(), label="command arrives"):
                replies.append(world.participants[command.leg].handle(command))
        for reply in replies:
            if data.draw(st.booleans(), label="reply arrives"):
                world.deliver_reply(reply)
        if world.saga.is_final:
            break
        world.tick(data.draw(st.sampled_from([1.0, 5.0, 10.0]), label="seconds"))
        world.expire()
        outbound = world.redrive()
    else:
        # Hypothesis may lose everything thirty times in a row; then let the network heal.
        for _ in range(5):
            for command in world.redrive():
                world.deliver_reply(world.participants[command.leg].handle(command))

    world.check_final()


def test_a_saga_without_any_reply_times_out_and_cancels_both_legs() -> None:
    world = World.start(None, None)
    world.tick(31)
    world.expire()
    for command in world.redrive():
        world.deliver_reply(world.participants[command.leg].handle(command))

    world.check_final()
    assert world.saga.failure_code == TIMEOUT
    # The Try that arrives after the Cancel is refused: no hold is left hanging.
    world.deliver_command(world.commands[0])
    assert world.participants[Leg.DEBIT].booking is LegBooking.CANCELLED
