"""A batch's writes sent as one statement: one round trip for all of them.

A batch (a consumer's messages, requests that arrived together) ends with a few set-based
writes, one per table: the journal, the balances, the legs or sagas, the outbox. Sent one by
one, each is a round trip the batch waits for with its rows locked, and on a busy machine each
round trip waits for a core twice, for PostgreSQL and then for the service (docs/performance.md,
"a hand-off costs a wake-up"). Sent together, each becomes a data-modifying `WITH` of one
statement, which PostgreSQL runs to completion whether or not the statement reads it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import asyncpg

_PLACEHOLDER: Final = re.compile(r"\$(\d+)")
_DATA_MODIFYING: Final = re.compile(r"(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Write:
    """One data-modifying statement (INSERT, UPDATE or DELETE without a `WITH` of its own, or
    a SELECT of functions with effects such as `pg_notify`) and its arguments, its placeholders
    numbered from `$1`. Its text holds no `$` other than those placeholders."""

    sql: str
    args: tuple[object, ...]


async def write_together(conn: asyncpg.Connection, writes: Sequence[Write]) -> None:
    """Run `writes` as one statement, inside the caller's transaction.

    They run on one snapshot, in an order PostgreSQL does not promise: no write may read rows
    another one writes, nor two change one row. Foreign keys and other constraints are checked
    when the statement ends, once all of them are in.
    """
    if not writes:
        return
    statement = _combined(tuple((write.sql, len(write.args)) for write in writes))
    await conn.execute(statement, *(arg for write in writes for arg in write.args))


@lru_cache(maxsize=256)
def _combined(writes: tuple[tuple[str, int], ...]) -> str:
    """The statement running `writes` (text, number of arguments): each but the last a `WITH`
    of it, the last its main statement, placeholders renumbered to follow one another."""
    parts: list[str] = []
    offset = 0
    for sql, arity in writes:
        parts.append(_renumbered(sql, offset, arity))
        offset += arity
    *first, last = parts
    if not first:
        return last
    for sql in first:
        # PostgreSQL runs a plain SELECT in a WITH only as far as the statement reads it: an
        # unread one (say a pg_notify) would never run.
        if not _DATA_MODIFYING.match(sql):
            raise ValueError(f"only the last write may be other than a data-modifying one: {sql}")
    ctes = ", ".join(f"write_{n} AS ({sql})" for n, sql in enumerate(first))
    return f"WITH {ctes} {last}"


def _renumbered(sql: str, offset: int, arity: int) -> str:
    def shifted(placeholder: re.Match[str]) -> str:
        number = int(placeholder.group(1))
        if not 1 <= number <= arity:
            raise ValueError(f"${number} in a write of {arity} arguments")
        return f"${number + offset}"

    return _PLACEHOLDER.sub(shifted, sql.strip())
