"""Migration files are found by name and ordered by number; database errors are sorted into
"a retry may help" or not."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest
from wallet_shared.platform.db import SHARED_MIGRATIONS, is_transient, migration_files


def _package(folder: Path, files: dict[str, str]) -> str:
    name = f"migrations_{uuid.uuid4().hex[:8]}"
    root = folder / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    for file_name, sql in files.items():
        (root / file_name).write_text(sql)
    return name


@pytest.fixture
def package_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_files_are_ordered_by_number_not_by_name(package_dir: Path) -> None:
    package = _package(
        package_dir,
        {"010_ten.sql": "ten", "002_two.sql": "two", "0100_hundred.sql": "hundred"},
    )
    found = migration_files(package)
    assert [(m.version, m.name, m.sql) for m in found] == [
        (2, "two", "two"),
        (10, "ten", "ten"),
        (100, "hundred", "hundred"),
    ]


def test_other_files_are_ignored(package_dir: Path) -> None:
    package = _package(
        package_dir,
        {
            "001_real.sql": "real",
            "README.md": "",
            "1_short.sql": "",
            "002-dashed.sql": "",
            "003_Upper.sql": "",
            "004_draft.sql.bak": "",
        },
    )
    assert [m.name for m in migration_files(package)] == ["real"]


def test_two_files_with_one_number_are_refused(package_dir: Path) -> None:
    package = _package(package_dir, {"001_a.sql": "", "001_b.sql": ""})
    with pytest.raises(ValueError, match="two migrations numbered 1"):
        migration_files(package)


def test_the_shared_tables_come_first_and_complete() -> None:
    files = migration_files(SHARED_MIGRATIONS)
    assert [m.version for m in files] == list(range(1, len(files) + 1))
    plumbing, parking, audit, retention = files[:4]
    for table in ("outbox", "idempotency_keys", "dead_letters"):
        assert f"CREATE TABLE {table} (" in plumbing.sql
    assert "CREATE TABLE outbox_parked (" in parking.sql
    assert "CREATE TABLE audit_log (" in audit.sql
    assert "ON idempotency_keys (created_at)" in retention.sql


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.InterfaceError("connection is closed"),
        # Met by `wallet chaos` when PostgreSQL stopped in immediate mode under load.
        asyncpg.exceptions.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        ),
        ConnectionRefusedError(111, "Connection refused"),
        OSError("network unreachable"),
    ],
)
def test_a_retry_may_cure_lost_connections_and_unlucky_transactions(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.CheckViolationError("balance below zero"),
        asyncpg.exceptions.UndefinedTableError("no such table"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        # asyncpg's other internal errors are bugs (codecs, protocol, a stale schema cache).
        asyncpg.exceptions.InternalClientError("no binary format encoder for type thing"),
        asyncpg.exceptions.ProtocolError("unexpected message"),
        asyncpg.exceptions.OutdatedSchemaCacheError("cached statement plan is invalid"),
        ValueError("a bug"),
    ],
)
def test_a_retry_cannot_cure_broken_rules_or_bugs(error: Exception) -> None:
    assert not is_transient(error)
