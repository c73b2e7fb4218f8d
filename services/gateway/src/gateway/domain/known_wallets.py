"""What never changes about a wallet (its owner and currency), remembered once a shard said it.

A transfer needs the source wallet's currency and, for role `user`, proof that the caller owns
it. Both are fixed for the wallet's life and ids are never reused, so a remembered answer stays
true: repeat transfers from the same wallet skip one round trip to its shard.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

DEFAULT_CAPACITY: Final = 100_000


@dataclass(frozen=True, slots=True)
class WalletFacts:
    owner: str
    currency: str


class KnownWallets:
    """A bounded, least-recently-used map of wallet id → facts."""

    def __init__(self, *, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._facts: OrderedDict[str, WalletFacts] = OrderedDict()

    def __len__(self) -> int:
        return len(self._facts)

    def get(self, wallet_id: str) -> WalletFacts | None:
        facts = self._facts.get(wallet_id)
        if facts is not None:
            self._facts.move_to_end(wallet_id)
        return facts

    def remember(self, wallet_id: str, facts: WalletFacts) -> None:
        self._facts[wallet_id] = facts
        self._facts.move_to_end(wallet_id)
        if len(self._facts) > self._capacity:
            self._facts.popitem(last=False)
