"""The sagas in flight as gauges, measured by the metrics sampler (wallet_shared.platform.monitoring):
how many per phase, the oldest one's age, and how far past its deadline the worst one is."""

from __future__ import annotations

from typing import Final

import asyncpg
from wallet_shared.platform.metrics import SAGA_OLDEST_AGE, SAGA_PAST_DEADLINE, SAGAS_IN_FLIGHT

PHASES_IN_FLIGHT: Final = ("trying", "confirming", "cancelling")
"""The phases of a saga that is not final (`done` is final)."""

# Only pending sagas: the partial index transfers_pending_by_deadline holds exactly those, so the
# read stays as small as the number of transfers in flight, however long the table grows.
_IN_FLIGHT: Final = """
SELECT phase,
       count(*) AS sagas,
       extract(epoch FROM now() - min(created_at))::float8 AS oldest_s,
       greatest(extract(epoch FROM now() - min(deadline_at)), 0)::float8 AS past_deadline_s
FROM transfers
WHERE status = 'pending'
GROUP BY phase
"""


async def measure(conn: asyncpg.Connection) -> None:
    """Set the saga gauges of every phase in flight (0 for a phase with no saga)."""
    rows = {row["phase"]: row for row in await conn.fetch(_IN_FLIGHT)}
    for phase in PHASES_IN_FLIGHT:
        row = rows.get(phase)
        SAGAS_IN_FLIGHT.labels(phase).set(row["sagas"] if row else 0)
        SAGA_OLDEST_AGE.labels(phase).set(row["oldest_s"] if row else 0.0)
        SAGA_PAST_DEADLINE.labels(phase).set(row["past_deadline_s"] if row else 0.0)
