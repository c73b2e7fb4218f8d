"""Bucket → shard map: the only routing table, small and static (configuration).

Users hash to one of `BUCKET_COUNT` virtual buckets; this map assigns buckets to shards, so a shard
can be added later by moving buckets, without rewriting any id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wallet_shared.contracts.ids import (
    BUCKET_COUNT,
    TRANSACTION_PREFIX,
    TRANSFER_PREFIX,
    WALLET_PREFIX,
    bucket_of_id,
    bucket_of_user,
)

_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*=\s*(\d+)\s*$")


class ShardMapError(ValueError):
    """The bucket→shard map in the configuration is not a total map onto the shards."""


@dataclass(frozen=True, slots=True)
class ShardMap:
    """Which shard owns each virtual bucket."""

    shard_of_bucket: tuple[int, ...]
    shard_count: int

    @classmethod
    def even(cls, shard_count: int) -> ShardMap:
        """Buckets split into `shard_count` contiguous ranges of (nearly) equal size."""
        if shard_count < 1:
            raise ShardMapError("shard_count must be at least 1")
        owners = tuple(bucket * shard_count // BUCKET_COUNT for bucket in range(BUCKET_COUNT))
        return cls(shard_of_bucket=owners, shard_count=shard_count)

    @classmethod
    def parse(cls, spec: str, *, shard_count: int) -> ShardMap:
        """Parse `0-511=0,512-1023=1`: every bucket exactly once, every shard in range."""
        owners: list[int | None] = [None] * BUCKET_COUNT
        for part in filter(None, (p.strip() for p in spec.split(","))):
            match = _RANGE.fullmatch(part)
            if match is None:
                raise ShardMapError(f"cannot read shard map entry {part!r}")
            first, last, shard = (int(g) for g in match.groups())
            if not (0 <= first <= last < BUCKET_COUNT) or not (0 <= shard < shard_count):
                raise ShardMapError(f"shard map entry {part!r} is out of range")
            for bucket in range(first, last + 1):
                if owners[bucket] is not None:
                    raise ShardMapError(f"bucket {bucket} is mapped twice")
                owners[bucket] = shard
        missing = [b for b, owner in enumerate(owners) if owner is None]
        if missing:
            raise ShardMapError(f"{len(missing)} buckets have no shard (first: {missing[0]})")
        return cls(
            shard_of_bucket=tuple(o for o in owners if o is not None), shard_count=shard_count
        )

    def shard_for_bucket(self, bucket: int) -> int:
        """The shard that owns a bucket."""
        return self.shard_of_bucket[bucket]

    def shard_for_user(self, user_id: str) -> int:
        """The shard that owns a user's wallets and ledger."""
        return self.shard_of_bucket[bucket_of_user(user_id)]

    def shard_for_wallet(self, wallet_id: str) -> int | None:
        """The shard that owns a wallet id, or None when the string is not a wallet id."""
        bucket = bucket_of_id(wallet_id, prefix=WALLET_PREFIX)
        return None if bucket is None else self.shard_of_bucket[bucket]

    def shard_for_transaction(self, transaction_id: str) -> int | None:
        """The shard that owns a transaction id, or None when the string is not one."""
        bucket = bucket_of_id(transaction_id, prefix=TRANSACTION_PREFIX)
        return None if bucket is None else self.shard_of_bucket[bucket]

    def shard_for_local_transfer(self, transfer_id: str) -> int | None:
        """The shard that booked a local (same-shard) transfer, or None when the string is not
        a local transfer id (a saga's transfer id lives in the coordinator)."""
        bucket = bucket_of_id(transfer_id, prefix=TRANSFER_PREFIX)
        return None if bucket is None else self.shard_of_bucket[bucket]

    def buckets_of(self, shard: int) -> list[int]:
        """The buckets a shard owns."""
        return [b for b, owner in enumerate(self.shard_of_bucket) if owner == shard]
