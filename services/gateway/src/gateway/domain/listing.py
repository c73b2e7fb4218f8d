"""One newest-first page out of the pages of several shards.

Every shard is asked for `limit + 1` items after the same `(created_at, id)` cursor; the union,
newest first, cut at `limit`, is exactly the global page, and the next cursor is the position of
its last item (the same position works on every shard).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any

from wallet_shared.contracts.pagination import encode_cursor, time_position


@dataclass(frozen=True, slots=True)
class ListedItem:
    """An item of a shard's page: its ordering position, and its public JSON as received."""

    created_at: datetime
    id: str
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class MergedPage:
    items: list[ListedItem]
    next_cursor: str | None


def merge_newest_first(pages: Iterable[Sequence[ListedItem]], *, limit: int) -> MergedPage:
    """The first `limit` items of all pages, newest first (ties broken by id, as shards do)."""
    merged = sorted(chain.from_iterable(pages), key=lambda i: (i.created_at, i.id), reverse=True)
    page = merged[:limit]
    if len(merged) <= limit or not page:
        return MergedPage(items=page, next_cursor=None)
    last = page[-1]
    return MergedPage(
        items=page, next_cursor=encode_cursor(time_position(last.created_at, last.id))
    )
