"""Which shard serves a request, decided from the ids alone (no lookup, no network).

A string that is not a wallet id names nothing: 404 before anyone is asked. For role `user`, a
wallet id whose bucket is not the caller's cannot be theirs (ids carry the owner's bucket), so it
is 404 at once; the shard still enforces ownership exactly (the service credential's owner scope).
"""

from __future__ import annotations

from dataclasses import dataclass

from wallet_shared.contracts.errors import NotFound
from wallet_shared.contracts.ids import WALLET_PREFIX, bucket_of_id, bucket_of_user
from wallet_shared.contracts.routing import ShardMap

from gateway.domain.principal import Principal


def shard_name(shard: int) -> str:
    """How a shard is named in logs, metrics and the integrity report."""
    return f"shard-{shard}"


def wallet_not_found() -> NotFound:
    """The one answer for a wallet the caller may not see, whatever the reason."""
    return NotFound("No such wallet.")


@dataclass(frozen=True, slots=True)
class ShardRouter:
    """Maps users and wallet ids to shard ids."""

    shards: ShardMap

    @property
    def shard_count(self) -> int:
        """How many shards there are (ids 0..n-1)."""
        return self.shards.shard_count

    def shard_of_user(self, user_id: str) -> int:
        """The shard that owns a user's wallets."""
        return self.shards.shard_for_user(user_id)

    def shard_of_wallet(self, wallet_id: str) -> int:
        """The shard of any wallet id (e.g. a transfer's destination), or `NotFound`."""
        shard = self.shards.shard_for_wallet(wallet_id)
        if shard is None:
            raise wallet_not_found()
        return shard

    def shard_of_visible_wallet(self, wallet_id: str, caller: Principal) -> int:
        """The shard of a wallet the caller may be able to see, or `NotFound` when they cannot."""
        shard = self.shard_of_wallet(wallet_id)
        if caller.owner_scope is not None and not self.may_own(caller.owner_scope, wallet_id):
            raise wallet_not_found()
        return shard

    @staticmethod
    def may_own(user_id: str, wallet_id: str) -> bool:
        """Whether the wallet id's bucket is the user's (necessary, not sufficient, to own it)."""
        return bucket_of_id(wallet_id, prefix=WALLET_PREFIX) == bucket_of_user(user_id)
