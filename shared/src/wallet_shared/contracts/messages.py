"""Versioned messages between the services, and public events.

Commands are imperative (`TryDebit`), replies past tense (`DebitTried`). Every transfer message
carries the transfer id, the step, the leg, a message id and the trace id; the same values travel
as Kafka headers so that tooling can read them without decoding the value. The natural key of a
step is `(transfer_id, step, leg)`: that is what participants deduplicate on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Step(StrEnum):
    """A TCC step."""

    TRY = "try"
    CONFIRM = "confirm"
    CANCEL = "cancel"


class Leg(StrEnum):
    """Which side of a transfer a message is about."""

    DEBIT = "debit"
    CREDIT = "credit"


class UndecodableMessage(ValueError):
    """A Kafka record that is not a message this version understands (goes to dead letters)."""


def utc_now() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(UTC)


def new_message_id() -> str:
    """A unique message id."""
    return uuid.uuid4().hex


class TransferMessage(BaseModel):
    """Base of every saga message. Subclasses fix `message_type`, `step` and `leg`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_type: ClassVar[str]
    step: ClassVar[Step]
    leg: ClassVar[Leg]
    version: ClassVar[int] = 1

    message_id: str = Field(default_factory=new_message_id)
    transfer_id: str
    trace_id: str = ""
    occurred_at: datetime = Field(default_factory=utc_now)


class LegCommand(TransferMessage):
    """A command to one shard about one leg of a transfer."""

    wallet_id: str
    amount: int = Field(gt=0)
    currency: str


class TryDebit(LegCommand):
    """Place a hold on the source wallet (refuse on insufficient funds, inactive, currency)."""

    message_type = "TryDebit"
    step = Step.TRY
    leg = Leg.DEBIT


class TryCredit(LegCommand):
    """Check the destination can accept the money and record a pending credit."""

    message_type = "TryCredit"
    step = Step.TRY
    leg = Leg.CREDIT


class ConfirmDebit(LegCommand):
    """Turn the hold into entries: wallet → clearing. Must succeed once tried ok."""

    message_type = "ConfirmDebit"
    step = Step.CONFIRM
    leg = Leg.DEBIT


class ConfirmCredit(LegCommand):
    """Book the pending credit: clearing → wallet. Must succeed once tried ok."""

    message_type = "ConfirmCredit"
    step = Step.CONFIRM
    leg = Leg.CREDIT


class CancelDebit(LegCommand):
    """Cancel the hold (or leave a tombstone when the Try has not arrived yet)."""

    message_type = "CancelDebit"
    step = Step.CANCEL
    leg = Leg.DEBIT


class CancelCredit(LegCommand):
    """Cancel the pending credit (or leave a tombstone when the Try has not arrived yet)."""

    message_type = "CancelCredit"
    step = Step.CANCEL
    leg = Leg.CREDIT


class LegReply(TransferMessage):
    """A shard's answer to a leg command."""

    wallet_id: str


class DebitTried(LegReply):
    """Outcome of TryDebit: `ok`, or the failure code that makes the transfer cancel."""

    message_type = "DebitTried"
    step = Step.TRY
    leg = Leg.DEBIT
    ok: bool
    failure_code: str | None = None


class CreditTried(LegReply):
    """Outcome of TryCredit."""

    message_type = "CreditTried"
    step = Step.TRY
    leg = Leg.CREDIT
    ok: bool
    failure_code: str | None = None


class DebitConfirmed(LegReply):
    """The source side booked wallet → clearing."""

    message_type = "DebitConfirmed"
    step = Step.CONFIRM
    leg = Leg.DEBIT


class CreditConfirmed(LegReply):
    """The destination side booked clearing → wallet."""

    message_type = "CreditConfirmed"
    step = Step.CONFIRM
    leg = Leg.CREDIT


class DebitCancelled(LegReply):
    """The hold is cancelled (or a tombstone recorded)."""

    message_type = "DebitCancelled"
    step = Step.CANCEL
    leg = Leg.DEBIT


class CreditCancelled(LegReply):
    """The pending credit is cancelled (or a tombstone recorded)."""

    message_type = "CreditCancelled"
    step = Step.CANCEL
    leg = Leg.CREDIT


_COMMANDS: tuple[type[LegCommand], ...] = (
    TryDebit,
    TryCredit,
    ConfirmDebit,
    ConfirmCredit,
    CancelDebit,
    CancelCredit,
)
_REPLIES: tuple[type[LegReply], ...] = (
    DebitTried,
    CreditTried,
    DebitConfirmed,
    CreditConfirmed,
    DebitCancelled,
    CreditCancelled,
)
MESSAGE_TYPES: dict[str, type[TransferMessage]] = {
    cls.message_type: cls for cls in (*_COMMANDS, *_REPLIES)
}
COMMAND_FOR: dict[tuple[Step, Leg], type[LegCommand]] = {(c.step, c.leg): c for c in _COMMANDS}
REPLY_FOR: dict[tuple[Step, Leg], type[LegReply]] = {(r.step, r.leg): r for r in _REPLIES}


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A Kafka record ready for the outbox: topic, key, value bytes and headers."""

    topic: str
    key: str
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        """Headers in the form aiokafka takes."""
        return [(name, value.encode("utf-8")) for name, value in self.headers.items()]


def encode_transfer_message(message: TransferMessage, *, topic: str, key: str) -> OutgoingMessage:
    """The Kafka record of a saga message."""
    body = {
        "message_type": message.message_type,
        "version": message.version,
        "step": message.step.value,
        "leg": message.leg.value,
        **message.model_dump(mode="json"),
    }
    headers = {
        "message_type": message.message_type,
        "message_id": message.message_id,
        "transfer_id": message.transfer_id,
        "step": message.step.value,
        "leg": message.leg.value,
        "trace_id": message.trace_id,
    }
    return OutgoingMessage(topic=topic, key=key, value=orjson.dumps(body), headers=headers)


def decode_transfer_message(value: bytes | None) -> TransferMessage:
    """The saga message of a Kafka record value; `UndecodableMessage` when it is not one."""
    if value is None:
        raise UndecodableMessage("record has no value")
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise UndecodableMessage(f"value is not JSON: {error}") from error
    if not isinstance(body, dict):
        raise UndecodableMessage("value is not a JSON object")
    cls = MESSAGE_TYPES.get(str(body.pop("message_type", "")))
    if cls is None:
        raise UndecodableMessage("unknown message_type")
    if body.pop("version", None) != cls.version:
        raise UndecodableMessage(f"unsupported version for {cls.message_type}")
    if (body.pop("step", None), body.pop("leg", None)) != (cls.step.value, cls.leg.value):
        raise UndecodableMessage(f"step/leg do not match {cls.message_type}")
    try:
        return cls.model_validate(body)
    except ValidationError as error:
        raise UndecodableMessage(f"invalid {cls.message_type}: {error}") from error


M = TypeVar("M", bound=TransferMessage)


def decode_command(value: bytes | None) -> LegCommand:
    """A command for a wallet shard; anything else on a command topic is undecodable there."""
    return _decode_as(value, LegCommand, "a command for a wallet shard")


def decode_reply(value: bytes | None) -> LegReply:
    """A shard's reply; anything else on the reply topic (a command, say) is undecodable there."""
    return _decode_as(value, LegReply, "a reply; only replies belong on the reply topic")


def _decode_as(value: bytes | None, kind: type[M], what: str) -> M:
    message = decode_transfer_message(value)
    if not isinstance(message, kind):
        raise UndecodableMessage(f"{message.message_type} is not {what}")
    return message


def reply_to(command: LegCommand, **fields: Any) -> LegReply:
    """The reply type matching a command, for the same transfer, leg, wallet and trace."""
    reply_cls = REPLY_FOR[(command.step, command.leg)]
    return reply_cls(
        transfer_id=command.transfer_id,
        trace_id=command.trace_id,
        wallet_id=command.wallet_id,
        **fields,
    )


class EventType(StrEnum):
    """Public event types of `wallet.events.v1` (API.md)."""

    WALLET_CREATED = "wallet.created"
    WALLET_STATUS_CHANGED = "wallet.status_changed"
    TRANSACTION_POSTED = "transaction.posted"
    TRANSFER_COMPLETED = "transfer.completed"
    TRANSFER_CANCELLED = "transfer.cancelled"
    RISK_FLAGGED = "risk.flagged"


# The key under which each event carries its API object (wallet_shared.contracts.asyncapi describes them).
EVENT_SUBJECT: dict[EventType, str] = {
    EventType.WALLET_CREATED: "wallet",
    EventType.WALLET_STATUS_CHANGED: "wallet",
    EventType.TRANSACTION_POSTED: "transaction",
    EventType.TRANSFER_COMPLETED: "transfer",
    EventType.TRANSFER_CANCELLED: "transfer",
    EventType.RISK_FLAGGED: "flag",
}


def encode_public_event(
    event_type: EventType,
    subject: dict[str, Any],
    *,
    topic: str,
    wallet_id: str,
    trace_id: str = "",
    occurred_at: datetime | None = None,
) -> OutgoingMessage:
    """A public event about `subject` (the API object as JSON), keyed by wallet id.

    `event_id` is unique per event; consumers deduplicate on it (delivery is at least once).
    """
    event_id = new_message_id()
    body = {
        "event_id": event_id,
        "event_type": event_type.value,
        "occurred_at": (occurred_at or utc_now()).isoformat().replace("+00:00", "Z"),
        EVENT_SUBJECT[event_type]: subject,
    }
    headers = {"event_type": event_type.value, "event_id": event_id, "trace_id": trace_id}
    return OutgoingMessage(topic=topic, key=wallet_id, value=orjson.dumps(body), headers=headers)
