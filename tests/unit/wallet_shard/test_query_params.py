"""RFC 3339 timestamps of list filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from wallet_shard.entrypoints.query_params import parse_timestamp
from wallet_shared.contracts.errors import ValidationFailed


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01t12:00:00.5z", datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        (
            "2024-05-01T12:00:00.123456789+02:00",
            datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        ),
        # An unencoded `+` in a query string arrives as a space.
        ("2024-05-01T12:00:00 02:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ],
)
def test_rfc3339_timestamps_are_read(raw: str, expected: datetime) -> None:
    assert parse_timestamp(raw, field="since") == expected


@pytest.mark.parametrize(
    "raw",
    ["yesterday", "2024-05-01", "2024-05-01T12:00:00", "2024-13-01T00:00:00Z", "1714564800", ""],
)
def test_anything_else_is_a_validation_error_naming_the_field(raw: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_timestamp(raw, field="until")
    assert refused.value.errors == [
        {"field": "until", "message": "must be an RFC 3339 timestamp with an offset"}
    ]


def test_absent_is_none() -> None:
    assert parse_timestamp(None, field="since") is None
