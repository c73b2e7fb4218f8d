"""Users and wallets in PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import asyncpg
from wallet_shared.platform.writes import Write

from wallet_shard.domain.spending import Spending, SpendingLimits
from wallet_shard.domain.wallet import Wallet, WalletStatus

_COLUMNS: Final = "id, user_id, currency, label, status, balance, frozen, created_at, updated_at"
_READ_COLUMNS: Final = (
    f"{_COLUMNS}, daily_limit, monthly_limit, spent_day, spent_today, spent_month,"
    " spent_this_month, incoming"
)


_SAVE_BALANCES: Final = """
UPDATE wallets AS w
SET balance = c.balance, frozen = c.frozen, updated_at = c.updated_at,
    spent_day = c.spent_day, spent_today = c.spent_today,
    spent_month = c.spent_month, spent_this_month = c.spent_this_month,
    incoming = c.incoming
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[],
            $5::date[], $6::bigint[], $7::date[], $8::bigint[], $9::bigint[])
     AS c (id, balance, frozen, updated_at, spent_day, spent_today, spent_month,
           spent_this_month, incoming)
WHERE w.id = c.id
"""


def _balance_columns(wallets: Sequence[Wallet]) -> tuple[list[Any], ...]:
    return (
        [wallet.id for wallet in wallets],
        [wallet.balance for wallet in wallets],
        [wallet.frozen for wallet in wallets],
        [wallet.updated_at for wallet in wallets],
        [wallet.spending.day for wallet in wallets],
        [wallet.spending.today for wallet in wallets],
        [wallet.spending.month for wallet in wallets],
        [wallet.spending.this_month for wallet in wallets],
        [wallet.incoming for wallet in wallets],
    )


def _wallet(row: asyncpg.Record) -> Wallet:
    return Wallet(
        id=row["id"],
        user_id=row["user_id"],
        currency=row["currency"],
        label=row["label"],
        status=WalletStatus(row["status"]),
        balance=row["balance"],
        frozen=row["frozen"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        limits=SpendingLimits(daily=row["daily_limit"], monthly=row["monthly_limit"]),
        spending=Spending(
            day=row["spent_day"],
            today=row["spent_today"],
            month=row["spent_month"],
            this_month=row["spent_this_month"],
        ),
        incoming=row["incoming"],
    )


async def lock_wallets_in_order(conn: asyncpg.Connection, wallet_ids: Sequence[str]) -> None:
    """Lock the wallets that exist among `wallet_ids`, in id order (the one order of every
    writer of the shard, so that no two transactions wait for each other in a cycle)."""
    await conn.execute(
        "SELECT 1 FROM wallets WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE", list(wallet_ids)
    )


class WalletRepository:
    """Wallet rows of one connection (and so of its open transaction, if any)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add_user(self, user_id: str) -> None:
        """Register a user on first use (a no-op when already known)."""
        await self._conn.execute(
            "INSERT INTO users (id) VALUES ($1) ON CONFLICT (id) DO NOTHING", user_id
        )

    async def add(self, wallet: Wallet) -> None:
        await self._conn.execute(
            f"INSERT INTO wallets ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            wallet.id,
            wallet.user_id,
            wallet.currency,
            wallet.label,
            wallet.status.value,
            wallet.balance,
            wallet.frozen,
            wallet.created_at,
            wallet.updated_at,
        )

    async def get(self, wallet_id: str) -> Wallet | None:
        row = await self._conn.fetchrow(
            f"SELECT {_READ_COLUMNS} FROM wallets WHERE id = $1", wallet_id
        )
        return None if row is None else _wallet(row)

    async def lock(self, wallet_id: str) -> Wallet | None:
        """The wallet, locked until the transaction ends (every writer of a wallet takes this)."""
        row = await self._conn.fetchrow(
            f"SELECT {_READ_COLUMNS} FROM wallets WHERE id = $1 FOR UPDATE", wallet_id
        )
        return None if row is None else _wallet(row)

    async def lock_many(self, wallet_ids: Sequence[str]) -> list[Wallet]:
        """The wallets that exist among `wallet_ids`, locked in id order.

        One order for every batch means two batches touching the same wallets never deadlock.
        """
        rows = await self._conn.fetch(
            f"SELECT {_READ_COLUMNS} FROM wallets WHERE id = ANY($1::text[])"
            " ORDER BY id FOR UPDATE",
            list(wallet_ids),
        )
        return [_wallet(row) for row in rows]

    def saving_balances(self, wallets: Sequence[Wallet]) -> list[Write]:
        """The write that stores the balance, frozen (held), incoming (pending credits) and
        spending snapshots of `wallets`, to send with the batch's other writes; none for no
        wallet."""
        if not wallets:
            return []
        return [Write(_SAVE_BALANCES, _balance_columns(wallets))]

    async def save_limits(self, wallet: Wallet) -> None:
        await self._conn.execute(
            "UPDATE wallets SET daily_limit = $2, monthly_limit = $3, updated_at = $4"
            " WHERE id = $1",
            wallet.id,
            wallet.limits.daily,
            wallet.limits.monthly,
            wallet.updated_at,
        )

    async def save_status(self, wallet: Wallet) -> None:
        await self._conn.execute(
            "UPDATE wallets SET status = $2, updated_at = $3 WHERE id = $1",
            wallet.id,
            wallet.status.value,
            wallet.updated_at,
        )

    async def newest_first(
        self, *, user_id: str | None, older_than: tuple[datetime, str] | None, limit: int
    ) -> list[Wallet]:
        """Wallets newest first, strictly older than the `(created_at, id)` position if given.

        The position is a point in (created_at, id) order, not a row of this shard, so a cursor
        from any shard works here: that is what lets the gateway merge shards.
        """
        conditions: list[str] = []
        arguments: list[Any] = []
        if user_id is not None:
            arguments.append(user_id)
            conditions.append(f"user_id = ${len(arguments)}")
        if older_than is not None:
            arguments += list(older_than)
            conditions.append(f"(created_at, id) < (${len(arguments) - 1}, ${len(arguments)})")
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        arguments.append(limit)
        rows = await self._conn.fetch(
            f"SELECT {_READ_COLUMNS} FROM wallets {where}"
            f" ORDER BY created_at DESC, id DESC LIMIT ${len(arguments)}",
            *arguments,
        )
        return [_wallet(row) for row in rows]
