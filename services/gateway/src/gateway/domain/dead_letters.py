"""The dead letters of every service as one admin list: public ids, and the merged list's order
and cursor.

Every service that consumes Kafka (each shard, the coordinator) keeps its own dead letters,
numbered by its own table. The public id names the service too, `dl_<source>_<number>`
(`dl_shard-0_12`, `dl_coordinator_3`), so a replay goes to the right service without asking.

The list is ordered newest first by `(created_at, source, number)`. Its cursor is the position of
the last item returned, and each service is asked for its items after the bound that position
sets for it: new dead letters arriving at the head never shift a page, whichever service they
land in (the same idea as the wallets' `(created_at, id)` cursor).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Final

from wallet_shared.contracts.errors import NotFound
from wallet_shared.contracts.pagination import (
    BIGINT_MAX,
    decode_cursor,
    encode_cursor,
    invalid_cursor,
    parse_time_position,
)
from wallet_shared.contracts.schemas import DeadLetter, DeadLetterPage, InternalDeadLetter

_PUBLIC_ID: Final = re.compile(r"dl_([a-z0-9-]{1,40})_([1-9][0-9]{0,18})")


@dataclass(frozen=True, slots=True)
class DeadLetterSource:
    """A service that keeps dead letters: a shard, or the coordinator (`shard` None)."""

    name: str
    shard: int | None


@dataclass(frozen=True, slots=True)
class SourcePage:
    """One service's page: its dead letters newest first, and whether more follow them."""

    source: DeadLetterSource
    items: Sequence[InternalDeadLetter]
    has_more: bool


@dataclass(frozen=True, slots=True)
class ListPosition:
    """Where a page of the merged list ended."""

    created_at: datetime
    source: str
    number: int


def public_dead_letter(source: DeadLetterSource, letter: InternalDeadLetter) -> DeadLetter:
    """A service's dead letter with its public id."""
    fields = letter.model_dump(exclude={"id"})
    return DeadLetter(id=f"dl_{source.name}_{letter.id}", **fields)


def parse_dead_letter_id(
    dead_letter_id: str, sources: Sequence[DeadLetterSource]
) -> tuple[DeadLetterSource, int]:
    """The service and number a public id names; `NotFound` for any id of another form."""
    match = _PUBLIC_ID.fullmatch(dead_letter_id)
    by_name = {source.name: source for source in sources}
    if match is None or match[1] not in by_name or int(match[2]) > BIGINT_MAX:
        raise NotFound("No such dead letter.")
    return by_name[match[1]], int(match[2])


def encode_list_cursor(position: ListPosition) -> str:
    """The opaque cursor of a position."""
    return encode_cursor([position.created_at.isoformat(), position.source, position.number])


def decode_list_cursor(cursor: str, sources: Sequence[DeadLetterSource]) -> ListPosition:
    """The position in a cursor; `ValidationFailed` (field `cursor`) for anything else."""
    *time_and_source, number = decode_cursor(cursor, arity=3)
    created_at, source = parse_time_position(time_and_source)
    if source not in {s.name for s in sources} or not isinstance(number, int) or number < 0:
        raise invalid_cursor()
    return ListPosition(created_at=created_at, source=source, number=number)


def bound_for(position: ListPosition, source: DeadLetterSource) -> tuple[datetime, int]:
    """The `(created_at, number)` position after which `source`'s items follow `position` in the
    merged order: at the same instant, a source ordered after the last item's source has
    already given all its items there, one ordered before has given none."""
    if source.name == position.source:
        return position.created_at, position.number
    if source.name < position.source:
        return position.created_at, BIGINT_MAX
    return position.created_at, 0


def merge_dead_letter_pages(pages: Sequence[SourcePage], *, limit: int) -> DeadLetterPage:
    """The first `limit` dead letters of all pages, newest first, with the next page's cursor.

    Each page holds up to `limit` items after the same position, so their union holds the
    merged page; more follow when a source has more or the union is longer than the page.
    """
    merged = sorted(
        chain.from_iterable(((page.source, item) for item in page.items) for page in pages),
        key=lambda pair: (pair[1].created_at, pair[0].name, pair[1].id),
        reverse=True,
    )
    chosen = merged[:limit]
    more = len(merged) > limit or any(page.has_more for page in pages)
    next_cursor = None
    if more and chosen:
        source, last = chosen[-1]
        next_cursor = encode_list_cursor(
            ListPosition(created_at=last.created_at, source=source.name, number=last.id)
        )
    return DeadLetterPage(
        items=[public_dead_letter(source, item) for source, item in chosen],
        next_cursor=next_cursor,
    )
