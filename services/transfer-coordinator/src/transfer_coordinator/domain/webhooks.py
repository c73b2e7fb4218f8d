"""Webhook rules: which URLs may be called, how a delivery is signed, when it is tried again.

Pure: the adapters resolve names and send requests; this module decides.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from wallet_shared.contracts.errors import ValidationFailed
from wallet_shared.contracts.messages import EventType

SUBSCRIBABLE = frozenset(event_type.value for event_type in EventType)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a URL points: scheme, host name (or literal address) and port."""

    scheme: str
    host: str
    port: int


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"The {field} is not acceptable.", errors=[{"field": field, "message": message}]
    )


def endpoint_of(url: str, *, allow_private: bool) -> Endpoint:
    """The endpoint of a webhook URL; `ValidationFailed` unless it is `https` (or, when private
    receivers are allowed, `http`) with a host, no credentials and no fragment."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise _invalid("url", "is not a URL") from error
    schemes = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in schemes:
        raise _invalid("url", "must be an https URL")
    if not parts.hostname or parts.username or parts.password or parts.fragment:
        raise _invalid("url", "must name a host, without credentials or fragment")
    default_port = 443 if parts.scheme == "https" else 80
    return Endpoint(parts.scheme, parts.hostname, port or default_port)


def literal_address(host: str) -> IpAddress | None:
    """The address a host is written as, or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def address_allowed(address: IpAddress, *, allow_private: bool) -> bool:
    """Whether a webhook may be sent to `address`: a public one (not loopback, private,
    link-local — cloud metadata lives there — multicast or reserved). `allow_private` (local runs
    and tests, API.md: receivers on 127.0.0.1) admits loopback too, and nothing else."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if allow_private and address.is_loopback:
        return True
    return address.is_global and not address.is_multicast


def all_allowed(addresses: Iterable[IpAddress], *, allow_private: bool) -> bool:
    """Whether every address a name resolves to is allowed (and it resolves to any)."""
    found = list(addresses)
    return bool(found) and all(address_allowed(a, allow_private=allow_private) for a in found)


def check_event_types(event_types: Iterable[str]) -> list[str]:
    """The subscribed types, deduplicated in order; `ValidationFailed` for an unknown one."""
    chosen = list(dict.fromkeys(event_types))
    unknown = [name for name in chosen if name not in SUBSCRIBABLE]
    if unknown:
        raise _invalid("event_types", f"unknown event types: {', '.join(unknown)}")
    return chosen


def signature(secret: str, body: bytes, *, timestamp: int) -> str:
    """The `X-Wallet-Signature` value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter (the first retry within `base_s`), for `window` after
    the first attempt; then the delivery is `failed`."""

    base_s: float = 5.0
    cap_s: float = 3600.0
    window: timedelta = timedelta(hours=25)
    jitter: Callable[[], float] = random.random

    def delay_s(self, attempts: int) -> float:
        """The wait after failed attempt number `attempts` (1, 2, ...): between half and all of
        `base_s * 2^(attempts-1)`, capped at `cap_s`."""
        ceiling: float = min(self.cap_s, self.base_s * 2 ** min(attempts - 1, 40))
        return ceiling * (0.5 + self.jitter() / 2)

    def next_attempt(self, attempts: int, *, first_at: datetime, now: datetime) -> datetime | None:
        """When to try again after failed attempt number `attempts`; None when the retry window
        has passed (the delivery has failed for good)."""
        if now - first_at >= self.window:
            return None
        return now + timedelta(seconds=self.delay_s(attempts))
