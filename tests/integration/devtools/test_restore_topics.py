"""What `wallet restore` does to a restored database besides pg_restore, on real PostgreSQL:
dead letters keep the record they name and replay to the restored system's topics; a database
that exists already or a server away is a clean BackupError, not a traceback."""

from __future__ import annotations

import secrets
from typing import cast

import asyncpg
import pytest
from wallet_devtools import postgres
from wallet_devtools.ops import backup
from wallet_devtools.ops.backup import BackupError
from wallet_shared.platform.consumer import ConsumedRecord
from wallet_shared.platform.dead_letters import DeadLetterStore
from wallet_shared.platform.outbox import OutboxRelay

from tests.integration.outbox_records import take_outbox


class _Wakes:
    def wake(self) -> None:
        """The test reads the outbox itself."""


def _record(topic: str, offset: int, value: bytes) -> ConsumedRecord:
    return ConsumedRecord(
        topic=topic, partition=0, offset=offset, key=b"wlt_1", value=value, headers=()
    )


async def test_a_restored_dead_letter_replays_to_the_new_topics_and_frees_its_position(
    pool: asyncpg.Pool, database_dsn: str
) -> None:
    store = DeadLetterStore(pool=pool, service="svc", relay=cast(OutboxRelay, _Wakes()))
    await store.add(_record("old.wallet.commands", 5, b"before the cut"), error="e", attempts=3)
    await take_outbox(pool)

    await backup._move_topics(database_dsn, old_prefix="old.", new_prefix="new.")

    # The restored system's topics start at offset 0: a new failure at the position of a
    # restored dead letter is a dead letter of its own.
    await store.add(_record("new.wallet.commands", 5, b"after the restore"), error="e", attempts=3)
    letters = await store.page(limit=10)
    assert sorted((letter.topic, letter.offset) for letter in letters) == [
        ("new.wallet.commands", 5),
        ("old.wallet.commands", 5),
    ]
    await take_outbox(pool)
    restored = next(letter for letter in letters if letter.topic == "old.wallet.commands")
    await store.replay(restored.id)
    [replayed] = await take_outbox(pool)
    assert (replayed.topic, replayed.value) == ("new.wallet.commands", b"before the cut")

    # Restored again (a backup of the restored system): the replay follows the newest prefix.
    await backup._move_topics(database_dsn, old_prefix="new.", new_prefix="newer.")
    rows = await pool.fetch("SELECT topic, replay_topic FROM dead_letters ORDER BY id")
    assert [tuple(row) for row in rows] == [
        ("old.wallet.commands", "newer.wallet.commands"),
        ("new.wallet.commands", "newer.wallet.commands"),
    ]


async def test_restoring_into_the_old_prefix_is_refused(database_dsn: str) -> None:
    with pytest.raises(BackupError, match="topic prefix of its own"):
        await backup._move_topics(database_dsn, old_prefix="live.", new_prefix="live.")


async def test_a_database_that_exists_or_a_server_away_is_a_backup_error(
    pg_server_dsn: str,
) -> None:
    name = f"restore_{secrets.token_hex(4)}"
    await backup._create_database(pg_server_dsn, name)
    try:
        with pytest.raises(BackupError, match="already exists: choose another --suffix"):
            await backup._create_database(pg_server_dsn, name)
    finally:
        await postgres.drop_database(pg_server_dsn, name)
    with pytest.raises(BackupError, match="cannot create database"):
        await backup._create_database("postgresql://nobody@127.0.0.1:1/postgres", name)
