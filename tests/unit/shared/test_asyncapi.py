"""docs/asyncapi.json is what the message models generate, and what the services put on Kafka
fits it: every command, reply, event and dead letter, encoded by the very functions the services
use, validates against its message's payload and headers schemas (and a malformed one does not).
tests/e2e/test_asyncapi.py checks the records of a running system the same way."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import orjson
import pytest
from wallet_shared.contracts.admin_schemas import RiskFlag
from wallet_shared.contracts.asyncapi import SUBJECT_MODELS, build_document, render
from wallet_shared.contracts.messages import (
    EVENT_SUBJECT,
    MESSAGE_TYPES,
    EventType,
    LegCommand,
    OutgoingMessage,
    TransferMessage,
    encode_public_event,
    encode_transfer_message,
)
from wallet_shared.contracts.schemas import Transaction, Transfer, Wallet
from wallet_shared.contracts.topics import Topics
from wallet_shared.platform.consumer import ConsumedRecord
from wallet_shared.platform.dead_letters import dead_letter_message

ROOT = Path(__file__).resolve().parents[3]
DOCUMENT = ROOT / "docs" / "asyncapi.json"
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


def message_for(document: dict[str, Any], topic: str, headers: dict[str, str]) -> str:
    """The name of the message `topic` carries with these headers, per the document."""
    for channel in document["channels"].values():
        pattern = channel["address"]
        for shard in range(8):
            if pattern.replace("{shard}", str(shard)) == topic:
                names = list(channel["messages"])
                kind = headers.get("message_type") or headers.get("event_type")
                if names == ["DeadLetter"]:
                    return "DeadLetter"
                [name] = [n for n in names if document["components"]["messages"][n]["name"] == kind]
                return str(name)
    raise AssertionError(f"no channel for topic {topic}")


def validate(document: dict[str, Any], message: OutgoingMessage) -> str:
    """Validate a record (as the outbox would publish it) against the document; its name."""
    name = message_for(document, message.topic, message.headers)
    spec = document["components"]["messages"][name]
    root = {"components": document["components"]}
    jsonschema.validate(message.headers, spec["headers"])
    if name != "DeadLetter":
        jsonschema.validate(orjson.loads(message.value), {**root, **spec["payload"]})
    return name


def test_the_shipped_document_is_the_generated_one() -> None:
    assert DOCUMENT.read_bytes() == render(build_document()), (
        "docs/asyncapi.json is stale: uv run python -m wallet_shared.contracts.asyncapi docs/asyncapi.json"
    )


def test_every_message_type_and_event_is_described(document: dict[str, Any]) -> None:
    names = {m["name"] for m in document["components"]["messages"].values()}
    assert set(MESSAGE_TYPES) <= names
    assert {event.value for event in EventType} <= names
    assert "DeadLetter" in names
    topics = Topics()
    addresses = {channel["address"] for channel in document["channels"].values()}
    expected = set(topics.all_for(1)) | {topics.dead_letters(topics.events)}
    rendered = {a.replace("{shard}", "0") for a in addresses}
    assert rendered == expected


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def test_every_reference_resolves_and_operations_name_channels(document: dict[str, Any]) -> None:
    refs = _refs(document)
    assert len(refs) > 40
    for ref in refs:
        _resolve(document, ref)
    assert document["asyncapi"].startswith("3.")
    for operation in document["operations"].values():
        assert operation["action"] in {"send", "receive"}
        assert operation["channel"]["$ref"].removeprefix("#/channels/") in document["channels"]


def _sample(cls: type[TransferMessage]) -> TransferMessage:
    fields: dict[str, Any] = {"transfer_id": "trf_1", "trace_id": "t1", "wallet_id": "wlt_1"}
    if issubclass(cls, LegCommand):
        fields |= {"amount": 1500, "currency": "USD"}
    if "ok" in cls.model_fields:
        fields |= {"ok": False, "failure_code": "insufficient_funds"}
    return cls(**fields)


@pytest.mark.parametrize("cls", list(MESSAGE_TYPES.values()), ids=list(MESSAGE_TYPES))
def test_encoded_commands_and_replies_fit_the_document(
    document: dict[str, Any], cls: type[TransferMessage]
) -> None:
    topics = Topics(prefix="")
    topic = topics.shard_commands(1) if issubclass(cls, LegCommand) else topics.transfer_replies
    record = encode_transfer_message(_sample(cls), topic=topic, key="k")
    assert validate(document, record) == cls.message_type
    # An unknown field, or a missing one, is not a message of this version.
    body = orjson.loads(record.value)
    spec = document["components"]["messages"][cls.message_type]
    root = {"components": document["components"]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body | {"surprise": 1}, {**root, **spec["payload"]})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {k: v for k, v in body.items() if k != "transfer_id"}, {**root, **spec["payload"]}
        )


SUBJECTS: dict[str, Any] = {
    "wallet": Wallet(
        id="wlt_1",
        user_id="alice",
        currency="USD",
        label=None,
        status="active",
        balance=10,
        available_balance=10,
        frozen_balance=0,
        created_at=NOW,
        updated_at=NOW,
    ),
    "transaction": Transaction(
        id="txn_1",
        wallet_id="wlt_1",
        type="deposit",
        amount=10,
        balance_after=10,
        reference=None,
        transfer_id=None,
        metadata=None,
        created_at=NOW,
    ),
    "transfer": Transfer(
        id="trf_1",
        source_wallet_id="wlt_1",
        destination_wallet_id="wlt_2",
        amount=10,
        currency="USD",
        description=None,
        status="completed",
        failure_code=None,
        created_at=NOW,
        updated_at=NOW,
    ),
    "flag": RiskFlag(
        id="rfl_1",
        wallet_id="wlt_1",
        rule="velocity",
        transaction_id=None,
        transfer_id="trf_1",
        detail={"count": 21},
        created_at=NOW,
    ),
}


@pytest.mark.parametrize("event", list(EventType), ids=[e.value for e in EventType])
def test_encoded_events_fit_the_document(document: dict[str, Any], event: EventType) -> None:
    assert set(SUBJECTS) == set(SUBJECT_MODELS)
    own = EVENT_SUBJECT[event]
    record = encode_public_event(
        event,
        SUBJECTS[own].model_dump(mode="json"),
        topic=Topics().events,
        wallet_id="wlt_1",
        trace_id="t1",
    )
    name = validate(document, record)
    assert document["components"]["messages"][name]["name"] == event.value
    # Another object under the event's key is not this event.
    other = next(key for key in SUBJECTS if SUBJECT_MODELS[key] is not SUBJECT_MODELS[own])
    body = orjson.loads(record.value) | {own: SUBJECTS[other].model_dump(mode="json")}
    spec = document["components"]["messages"][name]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, {"components": document["components"], **spec["payload"]})


def test_a_dead_letter_fits_the_document(document: dict[str, Any]) -> None:
    topics = Topics()
    record = ConsumedRecord(
        topic=topics.transfer_replies,
        partition=3,
        offset=42,
        key=b"trf_1",
        value=b"not json",
        headers=(("trace_id", b"t1"),),
    )
    letter = dead_letter_message(record, error="undecodable", attempts=1)
    assert letter.topic == topics.dead_letters(topics.transfer_replies)
    assert validate(document, letter) == "DeadLetter"
