"""Handler for a wallet's transaction list."""

from __future__ import annotations

from datetime import datetime

from wallet_shared.contracts.pagination import (
    BIGINT_MAX,
    cut_page,
    decode_cursor,
    in_utc,
    invalid_cursor,
)
from wallet_shared.contracts.schemas import TransactionPage

from wallet_shard.adapters.journal_repository import TransactionFilter
from wallet_shard.service_layer.unit_of_work import UnitOfWork
from wallet_shard.service_layer.views import transaction_view
from wallet_shard.service_layer.wallets import find_visible


async def list_transactions(
    uow: UnitOfWork,
    wallet_id: str,
    *,
    owner_scope: str | None,
    limit: int,
    cursor: str | None,
    only: TransactionFilter,
) -> TransactionPage:
    """The wallet's transactions newest first; the cursor is the position `(created_at, seq)`
    of the last one, so new transactions never shift a page."""
    before = _position_of(cursor) if cursor else None
    async with uow.reading() as repos:
        await find_visible(repos, wallet_id, owner_scope=owner_scope, lock=False)
        rows = await repos.journal.newest_first(
            wallet_id, before=before, limit=limit + 1, only=only
        )
    page, next_cursor = cut_page(
        rows, limit=limit, position=lambda last: [last.created_at.isoformat(), last.seq]
    )
    return TransactionPage(items=[transaction_view(row) for row in page], next_cursor=next_cursor)


def _position_of(cursor: str) -> tuple[datetime, int]:
    created_at, seq = decode_cursor(cursor, arity=2)
    if not isinstance(seq, int) or not 1 <= seq <= BIGINT_MAX or not isinstance(created_at, str):
        raise invalid_cursor()
    try:
        return in_utc(datetime.fromisoformat(created_at)), seq
    except ValueError as error:
        raise invalid_cursor() from error
