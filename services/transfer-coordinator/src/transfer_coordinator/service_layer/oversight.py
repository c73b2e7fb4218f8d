"""What the webhook and risk handlers need, wired once in `bootstrap.py`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from wallet_shared.contracts.messages import utc_now
from wallet_shared.contracts.topics import Topics

from transfer_coordinator.adapters.webhook_sender import Resolver
from transfer_coordinator.adapters.webhook_sender import resolve as resolve_host
from transfer_coordinator.domain.risk import RiskThresholds
from transfer_coordinator.service_layer.context import CoordinatorUnitOfWork


@dataclass(frozen=True, slots=True)
class OversightContext:
    """The coordinator's database, where flags are published, and the rules' settings."""

    pool: asyncpg.Pool
    topics: Topics
    thresholds: RiskThresholds
    allow_private_urls: bool
    uow: CoordinatorUnitOfWork
    """Transactions whose outbox messages (risk flags) wake the relay on commit."""
    wake_dispatcher: Callable[[], None]
    """Called after new deliveries committed, so they are sent at once."""
    resolve: Resolver = resolve_host
    """The addresses a webhook's host name resolves to (checked at registration)."""
    clock: Callable[[], datetime] = utc_now
