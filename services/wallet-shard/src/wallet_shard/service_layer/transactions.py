"""Handler for a wallet's transaction list."""

from __future__ import annotations

from wallet_shared.pagination import cut_page, decode_cursor, invalid_cursor
from wallet_shared.schemas import TransactionPage

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
    """The wallet's transactions newest first; the cursor is the position (`seq`) of the last."""
    before_seq = _seq_of(cursor) if cursor else None
    async with uow.reading() as repos:
        await find_visible(repos, wallet_id, owner_scope=owner_scope, lock=False)
        rows = await repos.journal.newest_first(
            wallet_id, before_seq=before_seq, limit=limit + 1, only=only
        )
    page, next_cursor = cut_page(rows, limit=limit, position=lambda last: [last.seq])
    return TransactionPage(items=[transaction_view(row) for row in page], next_cursor=next_cursor)


def _seq_of(cursor: str) -> int:
    (seq,) = decode_cursor(cursor, arity=1)
    if not isinstance(seq, int) or seq < 1:
        raise invalid_cursor()
    return seq
