"""A statement stream rendered as JSON or CSV, chunk by chunk (constant memory).

JSON: the public `Statement` shape, its members written as the stream reaches them (the opening
balance first, the closing balance and totals after the items). CSV (RFC 4180): a header row,
then one row per transaction, amounts in minor units beside their currency, CRLF line ends.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Final

import orjson

from wallet_shard.service_layer.ledger_views import (
    StatementHeading,
    StatementLine,
    StatementPart,
)
from wallet_shard.service_layer.views import transaction_view

CSV_MEDIA_TYPE: Final = "text/csv"
CSV_COLUMNS: Final = (
    "transaction_id",
    "created_at",
    "type",
    "amount",
    "change",
    "balance_after",
    "currency",
    "reference",
    "transfer_id",
)
CHUNK_BYTES: Final = 64 * 1024


def rfc3339(instant: datetime) -> str:
    """An instant as the API writes it (`2025-01-01T12:00:00.5Z`)."""
    return instant.isoformat().replace("+00:00", "Z")


async def statement_json(parts: AsyncIterator[StatementPart]) -> AsyncIterator[bytes]:
    """The statement as one JSON object, in chunks."""
    buffer = bytearray()
    first_item = True
    async for part in parts:
        if isinstance(part, StatementHeading):
            buffer += _json_heading(part)
        elif isinstance(part, StatementLine):
            item: dict[str, Any] = transaction_view(part.posted).model_dump(mode="json")
            item["change"] = str(part.change)
            buffer += (b"" if first_item else b",") + orjson.dumps(item)
            first_item = False
        else:
            totals = {
                "count": part.count,
                "money_in": str(part.money_in),
                "money_out": str(part.money_out),
                "net": str(part.net),
            }
            closing = orjson.dumps(str(part.closing))
            buffer += b'],"closing_balance":' + closing + b',"totals":' + orjson.dumps(totals)
            buffer += b"}"
        if len(buffer) >= CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    yield bytes(buffer)


def _json_heading(heading: StatementHeading) -> bytes:
    head = {
        "wallet_id": heading.wallet_id,
        "currency": heading.currency,
        "since": None if heading.since is None else rfc3339(heading.since),
        "until": rfc3339(heading.until),
        "opening_balance": str(heading.opening_balance),
    }
    return orjson.dumps(head)[:-1] + b',"items":['


async def statement_csv(parts: AsyncIterator[StatementPart]) -> AsyncIterator[bytes]:
    """The statement's transactions as CSV rows under a header row, in chunks."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    currency = ""
    async for part in parts:
        if isinstance(part, StatementHeading):
            currency = part.currency
        elif isinstance(part, StatementLine):
            writer.writerow(_csv_row(part, currency))
        if text.tell() >= CHUNK_BYTES:
            yield text.getvalue().encode("utf-8")
            text.seek(0)
            text.truncate()
    yield text.getvalue().encode("utf-8")


def _csv_row(line: StatementLine, currency: str) -> tuple[str, ...]:
    posted = line.posted
    return (
        posted.id,
        rfc3339(posted.created_at),
        posted.type,
        str(posted.amount),
        str(line.change),
        str(posted.balance_after),
        currency,
        spreadsheet_safe(posted.reference or ""),
        posted.transfer_id or "",
    )


_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """Client-written text that a spreadsheet would run as a formula (`=HYPERLINK(...)`),
    quoted with a leading `'` so that it shows as the text it is (CSV injection)."""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text
