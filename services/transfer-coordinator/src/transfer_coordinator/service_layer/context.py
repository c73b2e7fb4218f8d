"""What every handler needs, wired once in `bootstrap.py`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from wallet_shared.messages import utc_now
from wallet_shared.routing import ShardMap
from wallet_shared.topics import Topics


@dataclass(frozen=True, slots=True)
class CoordinatorContext:
    """The saga store, where commands and events go, and the saga's timing."""

    pool: asyncpg.Pool
    shards: ShardMap
    topics: Topics
    transfer_deadline: timedelta
    redrive_after: timedelta
    max_amount: int
    wake_outbox: Callable[[], None]
    """Called after a commit that queued messages, so the relay publishes them at once."""
    clock: Callable[[], datetime] = utc_now
