"""Amounts are whole minor units; messages survive the wire and refuse what they do not know."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from wallet_shared.contracts.errors import ValidationFailed
from wallet_shared.contracts.messages import (
    COMMAND_FOR,
    MESSAGE_TYPES,
    CancelCredit,
    DebitTried,
    EventType,
    Leg,
    Step,
    TryDebit,
    UndecodableMessage,
    decode_command,
    decode_reply,
    decode_transfer_message,
    encode_public_event,
    encode_transfer_message,
    reply_to,
)
from wallet_shared.contracts.money import InvalidAmount, parse_amount, parse_currency
from wallet_shared.contracts.pagination import (
    cut_page,
    decode_cursor,
    encode_cursor,
    parse_time_position,
)
from wallet_shared.contracts.schemas import Deposit, Wallet


@given(st.integers(min_value=1, max_value=10**15))
def test_amounts_as_integers_or_digit_strings(value: int) -> None:
    assert parse_amount(value) == value
    assert parse_amount(str(value)) == value


@pytest.mark.parametrize(
    "raw",
    [0, -1, 10**15 + 1, 1.5, 10.0, "1.5", "-5", "+5", " 5", "1e3", "", "abc", True, None, [1]],
)
def test_anything_else_is_not_an_amount(raw: object) -> None:
    with pytest.raises(InvalidAmount):
        parse_amount(raw)


def test_currencies_are_iso_4217() -> None:
    assert parse_currency("EUR") == "EUR"
    for raw in ["usd", "US", "USDD", "ZZZ", 840, None]:
        with pytest.raises(ValueError, match="ISO 4217"):
            parse_currency(raw)


def test_request_models_reject_floats_and_responses_write_digit_strings() -> None:
    assert Deposit.model_validate({"amount": "250"}).amount == 250
    with pytest.raises(ValidationError):
        Deposit.model_validate({"amount": 2.5})
    wallet = Wallet(
        id="w",
        user_id="u",
        currency="USD",
        label=None,
        status="active",
        balance=2**60,
        available_balance=2**60,
        frozen_balance=0,
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
    )
    body = orjson.loads(wallet.model_dump_json())
    assert body["balance"] == str(2**60)
    assert body["frozen_balance"] == "0"


def test_transfer_messages_round_trip_with_headers() -> None:
    command = TryDebit(
        transfer_id="trf_1", wallet_id="wlt_1", amount=500, currency="USD", trace_id="t1"
    )
    record = encode_transfer_message(
        command, topic="p.wallet.shard-0.commands", key=command.wallet_id
    )
    assert decode_transfer_message(record.value) == command
    headers = dict(record.kafka_headers())
    assert headers["message_type"] == b"TryDebit"
    assert headers["transfer_id"] == b"trf_1"
    assert headers["step"] == b"try"
    assert headers["trace_id"] == b"t1"


def test_every_command_has_its_reply() -> None:
    for (step, leg), command_cls in COMMAND_FOR.items():
        command = command_cls(transfer_id="trf_1", wallet_id="w", amount=1, currency="USD")
        fields = {"ok": True} if step is Step.TRY else {}
        reply = reply_to(command, **fields)
        assert (reply.step, reply.leg, reply.transfer_id) == (step, leg, "trf_1")
    assert len(MESSAGE_TYPES) == 12


def test_a_failed_try_carries_its_code() -> None:
    command = TryDebit(transfer_id="trf_2", wallet_id="w", amount=1, currency="USD")
    reply = reply_to(command, ok=False, failure_code="insufficient_funds")
    assert isinstance(reply, DebitTried)
    decoded = decode_transfer_message(encode_transfer_message(reply, topic="t", key="k").value)
    assert decoded == reply


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"not json",
        b"[]",
        b'{"message_type": "Nope"}',
        b'{"message_type": "TryDebit", "version": 2}',
        b'{"message_type": "TryDebit", "version": 1, "step": "cancel", "leg": "debit"}',
        b'{"message_type": "TryDebit", "version": 1, "step": "try", "leg": "debit", "transfer_id": "t"}',
    ],
)
def test_undecodable_records_are_refused(value: bytes | None) -> None:
    with pytest.raises(UndecodableMessage):
        decode_transfer_message(value)


def test_cancel_is_a_command_for_the_credit_leg() -> None:
    assert (CancelCredit.step, CancelCredit.leg) == (Step.CANCEL, Leg.CREDIT)


def test_public_events_are_keyed_by_wallet_and_unique() -> None:
    first = encode_public_event(
        EventType.TRANSACTION_POSTED, {"id": "txn"}, topic="e", wallet_id="w1"
    )
    second = encode_public_event(
        EventType.TRANSACTION_POSTED, {"id": "txn"}, topic="e", wallet_id="w1"
    )
    body = orjson.loads(first.value)
    assert first.key == "w1"
    assert body["event_type"] == "transaction.posted"
    assert body["transaction"] == {"id": "txn"}
    assert body["occurred_at"].endswith("Z")
    assert body["event_id"] != orjson.loads(second.value)["event_id"]
    assert first.headers["event_type"] == "transaction.posted"


def test_cursors_round_trip_and_refuse_tampering() -> None:
    cursor = encode_cursor(["2026-01-01T00:00:00+00:00", "wlt_x"])
    assert decode_cursor(cursor, arity=2) == ["2026-01-01T00:00:00+00:00", "wlt_x"]
    for bad in ["", "!!!", encode_cursor([1]), encode_cursor([True, "x"]), "a" * 600]:
        with pytest.raises(ValidationFailed):
            decode_cursor(bad, arity=2)


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 5, "reference": "a\x00b"},
        {"amount": 5, "reference": "\ud800"},
        {"amount": 5, "metadata": {"note": "a\x00b"}},
        {"amount": 5, "metadata": {"k\x00": 1}},
        {"amount": 5, "metadata": {"list": ["\ud800"]}},
        {"amount": 5, "metadata": {"big": 10**30}},
    ],
)
def test_text_a_database_cannot_store_is_invalid_input(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Deposit.model_validate(body)


@pytest.mark.parametrize(
    "position", [[2**63], [2**64 - 1], ["x\x00"], ["0001-01-01T00:00:00+14:00", "wlt_x"]]
)
def test_cursors_cannot_carry_what_the_database_cannot_hold(position: list[object]) -> None:
    with pytest.raises(ValidationFailed):
        parse_time_position(decode_cursor(encode_cursor(position), arity=len(position)))


def test_a_page_is_cut_at_the_limit_with_a_cursor_only_when_more_follow() -> None:
    rows = [5, 4, 3]
    page, cursor = cut_page(rows, limit=2, position=lambda last: [last])
    assert page == [5, 4]
    assert cursor is not None
    assert decode_cursor(cursor, arity=1) == [4]
    assert cut_page(rows, limit=3, position=lambda last: [last]) == ([5, 4, 3], None)
    assert cut_page([], limit=3, position=lambda last: [last]) == ([], None)


def test_each_topic_decodes_only_its_own_kind_of_message() -> None:
    command = TryDebit(transfer_id="trf_3", wallet_id="w", amount=1, currency="USD")
    reply = reply_to(command, ok=True)
    as_record = [encode_transfer_message(m, topic="t", key="k").value for m in (command, reply)]
    assert decode_command(as_record[0]) == command
    assert decode_reply(as_record[1]) == reply
    with pytest.raises(UndecodableMessage, match="not a command"):
        decode_command(as_record[1])
    with pytest.raises(UndecodableMessage, match="not a reply"):
        decode_reply(as_record[0])
