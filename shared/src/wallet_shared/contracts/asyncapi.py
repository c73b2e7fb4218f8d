"""The AsyncAPI 3.0 document of the Kafka topics, generated from the message models.

The commands and replies are the pydantic models of `wallet_shared.contracts.messages` (plus the envelope
fields `encode_transfer_message` adds); the public events are `encode_public_event`'s envelope
around the API's own objects (`wallet_shared.contracts.schemas`, `wallet_shared.contracts.admin_schemas`); dead
letters are the failed record as it was, with the headers `dead_letter_message` adds. Topic
names come from `wallet_shared.contracts.topics`. `docs/asyncapi.json` is this document:

    uv run python -m wallet_shared.contracts.asyncapi docs/asyncapi.json

and tests/unit/shared/test_asyncapi.py fails when it no longer matches the models.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Final

import orjson
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from wallet_shared.contracts.admin_schemas import RiskFlag
from wallet_shared.contracts.messages import (
    EVENT_SUBJECT,
    MESSAGE_TYPES,
    EventType,
    LegCommand,
    LegReply,
    TransferMessage,
)
from wallet_shared.contracts.schemas import Transaction, Transfer, Wallet
from wallet_shared.contracts.topics import Topics

Document = dict[str, Any]

SUBJECT_MODELS: Final[dict[str, type[BaseModel]]] = {
    "wallet": Wallet,
    "transaction": Transaction,
    "transfer": Transfer,
    "flag": RiskFlag,
}
"""The API object each event carries, by the key it sits under (`EVENT_SUBJECT`)."""

TRANSFER_HEADERS: Final = ("message_type", "message_id", "transfer_id", "step", "leg", "trace_id")
EVENT_HEADERS: Final = ("event_type", "event_id", "trace_id")
DEAD_LETTER_HEADERS: Final = (
    "error",
    "attempts",
    "origin_topic",
    "origin_partition",
    "origin_offset",
)

_SHARD: Final = 987_654_321  # stands for the {shard} parameter while naming topics
_REF: Final = "#/components/schemas/{model}"
_KAFKA_BINDING_VERSION: Final = "0.5.0"


def build_document() -> Document:
    """The whole AsyncAPI document (a JSON-ready dict, keys in a stable order)."""
    commands: list[type[TransferMessage]] = [
        cls for cls in MESSAGE_TYPES.values() if issubclass(cls, LegCommand)
    ]
    replies: list[type[TransferMessage]] = [
        cls for cls in MESSAGE_TYPES.values() if issubclass(cls, LegReply)
    ]
    schemas = _schemas(commands + replies)
    messages: dict[str, Any] = {}
    for cls in commands:
        messages[cls.message_type] = _transfer_message(cls, key="wallet id")
    for cls in replies:
        messages[cls.message_type] = _transfer_message(cls, key="transfer id")
    for event in EventType:
        name = _event_name(event)
        schemas[name] = _event_payload(event)
        messages[name] = _event_message(event, name)
    messages["DeadLetter"] = _dead_letter_message()

    topics = Topics()
    commands_topic = topics.shard_commands(_SHARD).replace(str(_SHARD), "{shard}")
    shard = {"shard": {"description": "The shard's id (0 to WALLET_SHARD_COUNT - 1)."}}
    channels = {
        "shardCommands": _channel(
            commands_topic,
            "TCC commands for one wallet shard, keyed by wallet id (the coordinator writes, "
            "the shard reads).",
            [cls.message_type for cls in commands],
            parameters=shard,
        ),
        "shardCommandsDeadLetters": _channel(
            Topics.dead_letters(commands_topic),
            "Commands the shard could not decode or handle after its retries.",
            ["DeadLetter"],
            parameters=shard,
        ),
        "transferReplies": _channel(
            topics.transfer_replies,
            "The shards' replies to the coordinator, keyed by transfer id.",
            [cls.message_type for cls in replies],
        ),
        "transferRepliesDeadLetters": _channel(
            Topics.dead_letters(topics.transfer_replies),
            "Replies the coordinator could not decode or handle after its retries.",
            ["DeadLetter"],
        ),
        "events": _channel(
            topics.events,
            "Public events (API.md), keyed by wallet id; delivery is at least once: deduplicate "
            "on event_id.",
            [_event_name(event) for event in EventType],
        ),
        "eventsDeadLetters": _channel(
            Topics.dead_letters(topics.events),
            "Events the coordinator's webhook and risk consumer could not handle.",
            ["DeadLetter"],
        ),
    }
    operations = {
        "sendShardCommand": _operation("send", "shardCommands", "The coordinator sends a step."),
        "receiveShardCommand": _operation("receive", "shardCommands", "A shard applies a step."),
        "sendTransferReply": _operation("send", "transferReplies", "A shard answers a step."),
        "receiveTransferReply": _operation(
            "receive", "transferReplies", "The coordinator advances the saga."
        ),
        "publishEvent": _operation(
            "send", "events", "Shards and the coordinator publish, from their outboxes."
        ),
        "receiveEvent": _operation(
            "receive", "events", "The coordinator (webhooks, risk rules) and any subscriber."
        ),
        "deadLetterShardCommand": _operation(
            "send", "shardCommandsDeadLetters", "A shard parks a command it cannot handle."
        ),
        "deadLetterTransferReply": _operation(
            "send", "transferRepliesDeadLetters", "The coordinator parks a reply."
        ),
        "deadLetterEvent": _operation(
            "send", "eventsDeadLetters", "The coordinator parks an event it cannot handle."
        ),
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Wallet system: Kafka topics",
            "version": "1.0.0",
            "description": (
                "Commands, replies, public events and dead letters of the wallet system. Every "
                "topic name is preceded by WALLET_TOPIC_PREFIX (empty in production). Values "
                "are JSON; the headers repeat what tooling needs without decoding the value. "
                "Generated from the message models (python -m wallet_shared.contracts.asyncapi)."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "production": {
                "host": "wallet-kafka-bootstrap:9092",
                "protocol": "kafka",
                "description": "The Strimzi cluster of deploy/k8s (WALLET_KAFKA_BOOTSTRAP).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def _schemas(classes: list[type[TransferMessage]]) -> dict[str, Any]:
    models: list[type[BaseModel]] = [*classes, *SUBJECT_MODELS.values()]
    _, definitions = models_json_schema(
        [(model, "serialization") for model in models], ref_template=_REF
    )
    schemas: dict[str, Any] = definitions["$defs"]
    for cls in classes:
        schema = schemas[cls.__name__]
        # The envelope `encode_transfer_message` writes around the model's own fields.
        envelope = {
            "message_type": {"const": cls.message_type},
            "version": {"const": cls.version},
            "step": {"const": cls.step.value},
            "leg": {"const": cls.leg.value},
        }
        schema["properties"] = envelope | schema["properties"]
        schema["required"] = [*envelope, *schema.get("required", [])]
    return schemas


def _headers(names: tuple[str, ...], constants: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            name: {"const": constants[name]} if name in constants else {"type": "string"}
            for name in names
        },
        "required": list(names),
    }


def _kafka_key(description: str) -> dict[str, Any]:
    return {
        "kafka": {
            "key": {"type": "string", "description": description},
            "bindingVersion": _KAFKA_BINDING_VERSION,
        }
    }


def _transfer_message(cls: type[TransferMessage], *, key: str) -> dict[str, Any]:
    constants = {"message_type": cls.message_type, "step": cls.step.value, "leg": cls.leg.value}
    return {
        "name": cls.message_type,
        "title": cls.message_type,
        "summary": (cls.__doc__ or "").strip(),
        "contentType": "application/json",
        "correlationId": {"location": "$message.header#/transfer_id"},
        "headers": _headers(TRANSFER_HEADERS, constants),
        "payload": {"$ref": _REF.format(model=cls.__name__)},
        "bindings": _kafka_key(f"The {key}."),
    }


def _event_name(event: EventType) -> str:
    return "".join(part.capitalize() for part in event.value.replace(".", "_").split("_"))


def _event_payload(event: EventType) -> dict[str, Any]:
    subject = EVENT_SUBJECT[event]
    model = SUBJECT_MODELS[subject]
    return {
        "type": "object",
        "description": f"`{event.value}`: the {subject} as the API shows it.",
        "properties": {
            "event_id": {"type": "string", "description": "Unique; deduplicate on it."},
            "event_type": {"const": event.value},
            "occurred_at": {"type": "string", "format": "date-time"},
            subject: {"$ref": _REF.format(model=model.__name__)},
        },
        "required": ["event_id", "event_type", "occurred_at", subject],
        "additionalProperties": False,
    }


def _event_message(event: EventType, name: str) -> dict[str, Any]:
    return {
        "name": event.value,
        "title": event.value,
        "summary": f"Public event `{event.value}`.",
        "contentType": "application/json",
        "headers": _headers(EVENT_HEADERS, {"event_type": event.value}),
        "payload": {"$ref": _REF.format(model=name)},
        "bindings": _kafka_key("The wallet id."),
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": "DeadLetter",
        "title": "Dead letter",
        "summary": (
            "A record its consumer could not decode, or that failed every attempt: its key, "
            "value and headers as they were, plus why and where from. Stored in the consuming "
            "service's dead_letters table too; replayed through the admin API."
        ),
        "headers": {
            "type": "object",
            "properties": {name: {"type": "string"} for name in DEAD_LETTER_HEADERS},
            "required": list(DEAD_LETTER_HEADERS),
        },
        "payload": {"description": "The failed record's value, unchanged (any bytes)."},
        "bindings": _kafka_key("The failed record's key."),
    }


def _channel(
    address: str,
    description: str,
    messages: list[str],
    *,
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "address": address,
        "description": description,
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
    }
    if parameters:
        channel["parameters"] = parameters
    return channel


def _operation(action: str, channel: str, summary: str) -> dict[str, Any]:
    return {"action": action, "channel": {"$ref": f"#/channels/{channel}"}, "summary": summary}


def render(document: Document) -> bytes:
    """The document as docs/asyncapi.json holds it."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


def main(argv: list[str] | None = None) -> None:
    """Write the document to the path given, or to standard output."""
    arguments = sys.argv[1:] if argv is None else argv
    text = render(build_document())
    if arguments:
        Path(arguments[0]).write_bytes(text)
    else:
        sys.stdout.buffer.write(text)


if __name__ == "__main__":
    main()
