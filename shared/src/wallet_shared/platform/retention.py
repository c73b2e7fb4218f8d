"""Idempotency records are kept for a retention period, not forever.

A key's stored answer (`idempotency_keys`) and, in the coordinator, its system-wide claim
(`idempotency_claims`) are deleted once older than the retention (`WALLET_IDEMPOTENCY_RETENTION_H`,
48 h by default). A key reused after that is a new key: the request runs again. Clients retry
within minutes; the retention only bounds how long a forgotten retry stays harmless.

The janitor deletes in small batches (one short statement each, through an index on the age
column), so it never holds many row locks nor competes long with the money path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import asyncpg

from wallet_shared.contracts.messages import utc_now
from wallet_shared.platform.loops import BackgroundLoop

DEFAULT_BATCH: Final = 500


@dataclass(frozen=True, slots=True)
class ExpiringTable:
    """A table whose rows expire: its name and the column holding each row's age."""

    name: str
    created_column: str


IDEMPOTENCY_KEYS: Final = ExpiringTable("idempotency_keys", "created_at")


async def delete_expired(
    conn: asyncpg.Connection | asyncpg.Pool,
    table: ExpiringTable,
    *,
    before: datetime,
    batch: int = DEFAULT_BATCH,
) -> int:
    """Delete at most `batch` rows of `table` created before `before`; how many were deleted."""
    status: str = await conn.execute(
        f"DELETE FROM {table.name} WHERE ctid IN ("
        f" SELECT ctid FROM {table.name} WHERE {table.created_column} < $1 LIMIT $2)",
        before,
        batch,
    )
    return int(status.split()[-1])


class RetentionJanitor(BackgroundLoop):
    """Deletes expired rows of `tables` every `interval_s`, batch after batch until none is
    left, pausing between batches."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        service: str,
        tables: Sequence[ExpiringTable],
        retention: timedelta,
        interval_s: float = 60.0,
        batch: int = DEFAULT_BATCH,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if retention <= timedelta(0) or interval_s <= 0 or batch < 1:
            raise ValueError("retention, interval and batch must be positive")
        super().__init__(name="retention_janitor", service=service)
        self._pool = pool
        self._tables = list(tables)
        self._retention = retention
        self._interval_s = interval_s
        self._batch = batch
        self._clock = clock

    async def run(self) -> None:
        failures = 0
        while not self.stopping:
            self.beat()
            try:
                await self.sweep()
            except Exception as error:  # the database may be away: try again later
                failures += 1
                await self.back_off("retention_sweep_failed", error, failures, cap_s=30.0)
                continue
            failures = 0
            await self.pause(self._interval_s)

    async def sweep(self) -> int:
        """One pass over every table; how many rows were deleted."""
        before = self._clock() - self._retention
        deleted = 0
        for table in self._tables:
            while not self.stopping:
                count = await delete_expired(self._pool, table, before=before, batch=self._batch)
                deleted += count
                if count < self._batch:
                    break
                await self.pause(0.01)  # let the money path have the database in between
        return deleted
