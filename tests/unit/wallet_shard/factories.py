"""Small builders shared by the shard's unit tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wallet_shard.domain.spending import SpendingLimits
from wallet_shard.domain.wallet import Wallet
from wallet_shared.contracts.ids import bucket_of_user, new_wallet_id
from wallet_shared.contracts.messages import LegCommand

T0 = datetime(2025, 1, 1, tzinfo=UTC)
NOW: dict[str, Any] = {"at": T0, "default_limits": SpendingLimits()}
"""When, and under which default limits, a test spends money (none: no limit)."""


def wallet(
    *, user_id: str = "alice", currency: str = "USD", balance: int = 0, frozen: int = 0
) -> Wallet:
    opened = Wallet.open(
        wallet_id=new_wallet_id(bucket_of_user(user_id)),
        user_id=user_id,
        currency=currency,
        label=None,
        at=T0,
    )
    opened.balance, opened.frozen = balance, frozen
    return opened


def command(
    kind: type[LegCommand],
    wallet_id: str,
    *,
    transfer_id: str = "trf_" + "a" * 32,
    amount: int = 100,
    currency: str = "USD",
) -> LegCommand:
    return kind(transfer_id=transfer_id, wallet_id=wallet_id, amount=amount, currency=currency)
