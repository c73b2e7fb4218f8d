"""Webhook URL policy, signatures and the retry schedule (no I/O)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from transfer_coordinator.domain.webhooks import (
    RetryPolicy,
    address_allowed,
    all_allowed,
    check_event_types,
    endpoint_of,
    signature,
)
from wallet_shared.contracts.errors import ValidationFailed


@pytest.mark.parametrize(
    "url",
    ["http://hooks.example.com/x", "ftp://x", "https://", "https://u:p@example.com/", "nonsense",
     "https://example.com/#frag", "https://example.com:99999/"],
)  # fmt: skip
def test_only_plain_https_urls_are_accepted(url: str) -> None:
    with pytest.raises(ValidationFailed):
        endpoint_of(url, allow_private=False)


def test_endpoints_and_http_when_private_receivers_are_allowed() -> None:
    assert endpoint_of("https://example.com/h", allow_private=False).port == 443
    local = endpoint_of("http://127.0.0.1:8081/h", allow_private=True)
    assert (local.scheme, local.host, local.port) == ("http", "127.0.0.1", 8081)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1", "fe80::1",
     "fd00::1", "0.0.0.0", "100.64.0.1", "224.0.0.1", "::ffff:127.0.0.1"],
)  # fmt: skip
def test_internal_addresses_are_refused_and_local_runs_admit_loopback_only(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert not address_allowed(ip, allow_private=False)
    loopback = address in ("127.0.0.1", "::1", "::ffff:127.0.0.1")
    assert address_allowed(ip, allow_private=True) == loopback


def test_public_addresses_are_allowed_and_a_name_must_resolve_to_public_ones_only() -> None:
    public, private = ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.1")
    assert address_allowed(public, allow_private=False)
    assert all_allowed([public], allow_private=False)
    assert not all_allowed([public, private], allow_private=False)
    assert not all_allowed([], allow_private=False)


def test_event_types_must_be_public_event_types() -> None:
    assert check_event_types(["risk.flagged", "risk.flagged"]) == ["risk.flagged"]
    with pytest.raises(ValidationFailed):
        check_event_types(["transfer.completed", "nope"])


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"event_id": "e1"}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("s3cret", body, timestamp=1700000000) == f"t=1700000000,v1={expected}"


def test_backoff_grows_with_jitter_then_gives_up_after_the_window() -> None:
    low = RetryPolicy(base_s=5, cap_s=60, jitter=lambda: 0.0)
    high = RetryPolicy(base_s=5, cap_s=60, jitter=lambda: 1.0)
    assert [low.delay_s(n) for n in (1, 2, 3)] == [2.5, 5.0, 10.0]
    assert [high.delay_s(n) for n in (1, 2, 3, 10)] == [5.0, 10.0, 20.0, 60.0]
    start = datetime(2026, 12, 2, tzinfo=UTC)
    later = start + timedelta(hours=1)
    assert high.next_attempt(3, first_at=start, now=later) == later + timedelta(seconds=20)
    assert high.next_attempt(9, first_at=start, now=start + timedelta(hours=25)) is None
    assert RetryPolicy().window >= timedelta(hours=24)
