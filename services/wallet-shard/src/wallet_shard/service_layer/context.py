"""What the handlers need to know about the shard they run in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from wallet_shared.contracts.messages import utc_now
from wallet_shared.contracts.routing import ShardMap
from wallet_shared.contracts.topics import Topics

from wallet_shard.domain.spending import SpendingLimits


@dataclass(frozen=True, slots=True)
class ShardContext:
    """This shard's identity and configuration, as the handlers see it."""

    shard_id: int
    shard_map: ShardMap
    topics: Topics
    max_amount: int
    default_limits: SpendingLimits = field(default_factory=SpendingLimits)
    """Spending limits of the wallets that have none of their own (settings)."""
    clock: Callable[[], datetime] = field(default=utc_now)

    @property
    def label(self) -> str:
        """The shard as a metrics label."""
        return str(self.shard_id)

    def owns_user(self, user_id: str) -> bool:
        """Whether this shard owns the user's bucket (and so their wallets and ledger)."""
        return self.shard_map.shard_for_user(user_id) == self.shard_id
