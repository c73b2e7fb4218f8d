"""Who asked for each movement made over HTTP, and from where (kept for audit)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


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

    async def add(self, transaction_id: str, request: MovementRequest, *, at: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO movement_requests (transaction_id, actor, actor_role, client_address,"
            " user_agent, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            transaction_id,
            request.actor,
            request.actor_role,
            request.client_address,
            request.user_agent,
            request.reason,
            at,
        )
