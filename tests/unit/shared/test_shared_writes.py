"""A batch's writes as one statement (`wallet_shared.platform.writes`): how the statement is
composed, without a database (the handlers' integration tests run it against PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from wallet_shared.platform.writes import Write, write_together


class RecordingConnection:
    """Records what `execute` was asked to run."""

    def __init__(self) -> None:
        self.executed: list[tuple[str, tuple[Any, ...]]] = []

    async def execute(self, sql: str, *args: Any) -> str:
        self.executed.append((sql, args))
        return "OK"


async def _sent(writes: list[Write]) -> list[tuple[str, tuple[Any, ...]]]:
    conn = RecordingConnection()
    await write_together(conn, writes)
    return conn.executed


async def test_no_write_sends_nothing() -> None:
    assert await _sent([]) == []


async def test_one_write_is_sent_as_it_is() -> None:
    write = Write("\nINSERT INTO notes (text) SELECT unnest($1::text[])\n", (["a", "b"],))
    assert await _sent([write]) == [
        ("INSERT INTO notes (text) SELECT unnest($1::text[])", (["a", "b"],))
    ]


async def test_writes_become_one_statement_with_their_placeholders_following_one_another() -> None:
    journal = Write("INSERT INTO journal (id, amount) SELECT * FROM unnest($1, $2)", ([1], [5]))
    balances = Write("UPDATE wallets SET balance = $2 WHERE id = $1", ("w1", 5))
    notify = Write("SELECT pg_notify($1, $2)", ("final", "t1"))

    [(sql, args)] = await _sent([journal, balances, notify])

    assert sql == (
        "WITH write_0 AS (INSERT INTO journal (id, amount) SELECT * FROM unnest($1, $2)),"
        " write_1 AS (UPDATE wallets SET balance = $4 WHERE id = $3)"
        " SELECT pg_notify($5, $6)"
    )
    assert args == ([1], [5], "w1", 5, "final", "t1")


async def test_a_placeholder_the_arguments_do_not_cover_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\$3 in a write of 2 arguments"):
        await _sent([Write("UPDATE wallets SET balance = $3 WHERE id = $1", ("w1", 5))])


async def test_a_select_only_goes_last() -> None:
    # Unread, a SELECT inside WITH would not run at all (its notices never sent).
    notify = Write("SELECT pg_notify($1, $2)", ("final", "t1"))
    insert = Write("INSERT INTO notes (text) VALUES ($1)", ("a",))
    with pytest.raises(ValueError, match="only the last write"):
        await _sent([notify, insert])
