"""Who asked for each movement made over HTTP, and from where (kept for audit)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg
from wallet_shared.platform.writes import Write

_INSERT: Final = """
INSERT INTO movement_requests
    (transaction_id, actor, actor_role, client_address, user_agent, reason, created_at)
SELECT t, a, r, c, u, why, $7
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
     AS m (t, a, r, c, u, why)
"""


@dataclass(frozen=True, slots=True)
class MovementRequest:
    """The caller of a movement and the client they called from, as the gateway saw them."""

    actor: str
    actor_role: str
    client_address: str | None = None
    user_agent: str | None = None
    reason: str | None = None

    def because(self, reason: str) -> MovementRequest:
        """The same request with the reason an admin gave."""
        return MovementRequest(
            self.actor, self.actor_role, self.client_address, self.user_agent, reason
        )


class MovementRequestRepository:
    """`movement_requests` rows of one connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    def adding(
        self, requests: Sequence[tuple[str, MovementRequest]], *, at: datetime
    ) -> list[Write]:
        """The write recording who asked for each transaction of `requests` (transaction id,
        request), to send with the batch's other writes; none for no request."""
        if not requests:
            return []
        columns = (
            [transaction_id for transaction_id, _ in requests],
            [request.actor for _, request in requests],
            [request.actor_role for _, request in requests],
            [request.client_address for _, request in requests],
            [request.user_agent for _, request in requests],
            [request.reason for _, request in requests],
            at,
        )
        return [Write(_INSERT, columns)]
