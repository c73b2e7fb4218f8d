"""Purchases in PostgreSQL: the order, the merchant, what refunds gave back."""

from __future__ import annotations

from typing import Final

import asyncpg

from wallet_shard.domain.purchases import Purchase

_COLUMNS: Final = (
    "transaction_id, wallet_id, order_id, merchant, amount, created_at, refunded, reversed"
)


class PurchaseRepository:
    """Purchase rows of one connection; callers hold the paying wallet's row lock."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, purchase: Purchase) -> None:
        await self._conn.execute(
            f"INSERT INTO purchases ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            purchase.transaction_id,
            purchase.wallet_id,
            purchase.order_id,
            purchase.merchant,
            purchase.amount,
            purchase.created_at,
            purchase.refunded,
            purchase.reversed,
        )

    async def order_paid(self, wallet_id: str, order_id: str) -> bool:
        """Whether the wallet already paid this order."""
        return bool(
            await self._conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM purchases WHERE wallet_id = $1 AND order_id = $2)",
                wallet_id,
                order_id,
            )
        )

    async def get(self, transaction_id: str) -> Purchase | None:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM purchases WHERE transaction_id = $1", transaction_id
        )
        return None if row is None else Purchase(**dict(row))

    async def save(self, purchase: Purchase) -> None:
        """Write what refunds gave back and whether the purchase was reversed."""
        await self._conn.execute(
            "UPDATE purchases SET refunded = $2, reversed = $3 WHERE transaction_id = $1",
            purchase.transaction_id,
            purchase.refunded,
            purchase.reversed,
        )
