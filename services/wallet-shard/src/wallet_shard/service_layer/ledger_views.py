"""Handlers for the ledger over time: the balance at an instant, and statements.

A statement is produced as a stream: its heading (wallet, period, opening balance), then one
line per transaction, then its tally (closing balance, totals). The entrypoint renders the stream
as JSON or CSV; nothing holds more than one line at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from wallet_shared.contracts.errors import ValidationFailed
from wallet_shared.contracts.schemas import BalanceAt

from wallet_shard.adapters.journal_repository import PostedTransaction
from wallet_shard.domain.statements import StatementTally, balance_change
from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.unit_of_work import UnitOfWork
from wallet_shard.service_layer.wallets import find_visible


@dataclass(frozen=True, slots=True)
class StatementHeading:
    wallet_id: str
    currency: str
    since: datetime | None
    until: datetime
    opening_balance: int


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One transaction of the period and what it changed of the balance (signed)."""

    posted: PostedTransaction
    change: int


StatementPart = StatementHeading | StatementLine | StatementTally


async def balance_at(
    uow: UnitOfWork, wallet_id: str, at: datetime, *, owner_scope: str | None
) -> BalanceAt:
    """The wallet's balance after every transaction posted at or before `at`."""
    async with uow.reading() as repos:
        wallet = await find_visible(repos, wallet_id, owner_scope=owner_scope, lock=False)
        balance = await repos.views.balance_at(wallet.id, at)
    return BalanceAt(wallet_id=wallet.id, balance=balance, at=at)


async def check_statement(
    uow: UnitOfWork,
    shard: ShardContext,
    wallet_id: str,
    *,
    since: datetime | None,
    until: datetime | None,
    owner_scope: str | None,
) -> datetime:
    """Refuse what `statement` would refuse, before a response starts; the end of the period."""
    end = until or shard.clock()
    if since is not None and since > end:
        raise ValidationFailed(
            "The period is empty.",
            errors=[{"field": "since", "message": "must not be after until"}],
        )
    async with uow.reading() as repos:
        await find_visible(repos, wallet_id, owner_scope=owner_scope, lock=False)
    return end


async def statement(
    uow: UnitOfWork, wallet_id: str, *, since: datetime | None, until: datetime
) -> AsyncIterator[StatementPart]:
    """The statement of `[since, until)` as a stream: heading, items oldest first, tally.

    One repeatable-read snapshot: the opening balance and the items agree, whatever commits
    meanwhile. Call `check_statement` first (it resolves `until` and checks visibility).
    """
    async with uow.reading_snapshot() as repos:
        wallet = await find_visible(repos, wallet_id, owner_scope=None, lock=False)
        opening = await repos.views.balance_before(wallet.id, since)
        yield StatementHeading(wallet.id, wallet.currency, since, until, opening)
        tally = StatementTally(opening=opening)
        async for posted, reversed_type in repos.views.period(wallet.id, since=since, until=until):
            change = balance_change(posted.type, posted.amount, reversed_type=reversed_type)
            tally.add(change)
            yield StatementLine(posted, change)
        yield tally
