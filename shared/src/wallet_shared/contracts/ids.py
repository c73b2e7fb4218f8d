"""Opaque ids that still tell the gateway where their data lives.

Wallet and transaction ids carry the owner's virtual bucket (3 hex digits), so any gateway replica
routes them to a shard with no lookup. Clients must treat ids as opaque strings.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from typing import Final

BUCKET_COUNT: Final = 1024

WALLET_PREFIX: Final = "wlt_"
TRANSACTION_PREFIX: Final = "txn_"
TRANSFER_PREFIX: Final = "trf_"

_BUCKETED_ID = re.compile(r"^(wlt|txn|trf)_([0-9a-f]{3})([0-9a-f]{32})$")
_TRANSFER_ID = re.compile(r"^trf_(?:[0-9a-f]{3})?[0-9a-f]{32}$")
_USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def bucket_of_user(user_id: str) -> int:
    """The virtual bucket that owns a user: stable, uniform, independent of the shard count."""
    digest = hashlib.sha256(user_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKET_COUNT


def is_valid_user_id(user_id: str) -> bool:
    """Whether a string is an acceptable user id (1-64 chars of [A-Za-z0-9_-])."""
    return _USER_ID.fullmatch(user_id) is not None


def _time_ordered_hex() -> str:
    """128 bits: a 48-bit millisecond clock then 80 random bits, so ids index in time order."""
    millis = time.time_ns() // 1_000_000
    return f"{millis & ((1 << 48) - 1):012x}{os.urandom(10).hex()}"


def new_wallet_id(bucket: int) -> str:
    """A fresh wallet id in the given bucket."""
    return f"{WALLET_PREFIX}{bucket:03x}{_time_ordered_hex()}"


def new_transaction_id(bucket: int) -> str:
    """A fresh transaction id in the given bucket (the wallet owner's)."""
    return f"{TRANSACTION_PREFIX}{bucket:03x}{_time_ordered_hex()}"


def new_transfer_id() -> str:
    """A fresh id of a transfer run as a saga (it lives in the coordinator, so no bucket)."""
    return f"{TRANSFER_PREFIX}{_time_ordered_hex()}"


def saga_transfer_id_floor(millis: int) -> str:
    """The least id of a saga's transfer made at or after `millis` (ms since the epoch, by the
    clock that made the ids): every such id compares >= it in byte order (`COLLATE "C"`)."""
    return f"{TRANSFER_PREFIX}{millis & ((1 << 48) - 1):012x}"


def new_local_transfer_id(bucket: int) -> str:
    """A fresh id of a transfer between two wallets of one shard, booked by that shard: it
    carries the source wallet's bucket, so the gateway routes it like a wallet id."""
    return f"{TRANSFER_PREFIX}{bucket:03x}{_time_ordered_hex()}"


def new_record_id(prefix: str) -> str:
    """A fresh id of a record kept by one service (audit record, webhook, risk flag), unique
    and time-ordered, so that `(created_at, id)` lists merge across services."""
    return f"{prefix}{_time_ordered_hex()}"


def bucket_of_id(entity_id: str, *, prefix: str) -> int | None:
    """The bucket carried by a wallet, transaction or local transfer id, or None when the id is
    not of that kind (a saga's transfer id carries none)."""
    match = _BUCKETED_ID.fullmatch(entity_id)
    if match is None or f"{match.group(1)}_" != prefix:
        return None
    bucket = int(match.group(2), 16)
    return bucket if bucket < BUCKET_COUNT else None


def is_transfer_id(entity_id: str) -> bool:
    """Whether a string has the form of a transfer id (a saga's or a local one)."""
    return _TRANSFER_ID.fullmatch(entity_id) is not None
