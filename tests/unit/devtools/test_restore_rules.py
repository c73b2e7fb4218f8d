"""What `wallet backup` and `wallet restore` refuse before touching a database, and what they
print (no password, JSON included), checked through the CLI as an operator runs it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner
from wallet_devtools import cli
from wallet_devtools.ops import backup, backup_commands
from wallet_devtools.ops.backup import BackupError, Restored, check_topic_prefix, restored_name


@pytest.mark.parametrize("prefix", ["", "live."])
def test_the_backed_up_systems_topic_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(BackupError, match="topic prefix of its own"):
        check_topic_prefix(old_prefix=prefix, new_prefix=prefix)
    check_topic_prefix(old_prefix=prefix, new_prefix="r20260101.")


@pytest.mark.parametrize("suffix", ["Bad", "a-b", "x" * 60])
def test_a_suffix_postgresql_would_not_take_is_refused_before_anything_is_created(
    suffix: str,
) -> None:
    with pytest.raises(BackupError, match="--suffix"):
        restored_name("wallet_shard_0", suffix)
    assert restored_name("wallet_shard_0", "r1") == "wallet_shard_0_r1"


def test_the_backup_folder_is_its_owners_alone(tmp_path: Path) -> None:
    folder = tmp_path / "backups" / "today"
    backup._prepare_folder(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    existing = tmp_path / "open"
    existing.mkdir(mode=0o755)
    backup._prepare_folder(existing)
    assert stat.S_IMODE(existing.stat().st_mode) == 0o700


def _backup_folder(tmp_path: Path, topic_prefix: str) -> Path:
    folder = tmp_path / "backup"
    folder.mkdir()
    manifest = {
        "format": backup.FORMAT,
        "topic_prefix": topic_prefix,
        "databases": [],
        "in_flight": [],
    }
    (folder / backup.MANIFEST).write_text(json.dumps(manifest))
    return folder


def test_restore_into_the_old_prefix_exits_with_the_reason_not_a_traceback(
    tmp_path: Path,
) -> None:
    folder = _backup_folder(tmp_path, "live.")
    result = CliRunner().invoke(
        cli.app,
        ["restore", str(folder), "--topic-prefix", "live."],
        # The server comes from the environment: no password on the command line.
        env={"WALLET_RESTORE_INTO": "postgresql://admin:s3cret@127.0.0.1:1/postgres"},
    )
    assert result.exit_code == 3, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "topic prefix of its own" in result.output


def test_an_invalid_suffix_exits_with_the_reason_not_a_traceback(tmp_path: Path) -> None:
    folder = _backup_folder(tmp_path, "live.")
    manifest = json.loads((folder / backup.MANIFEST).read_text())
    manifest["databases"] = [
        {"label": "coordinator", "database": "wallet_coordinator", "file": "c.dump", "sha256": ""}
    ]
    (folder / backup.MANIFEST).write_text(json.dumps(manifest))
    result = CliRunner().invoke(
        cli.app,
        ["restore", str(folder), "--suffix", "Not-Valid"],
        env={"WALLET_RESTORE_INTO": "postgresql://admin@127.0.0.1:1/postgres"},
    )
    assert result.exit_code == 3, result.output
    assert isinstance(result.exception, SystemExit)
    assert "--suffix" in result.output


def test_restore_json_shows_no_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def restored(*_: object, **__: object) -> Restored:
        return Restored(
            coordinator_dsn="postgresql://admin:s3cret@db:5432/wallet_coordinator_r1",
            shard_dsns=["postgresql://admin:s3cret@db:5432/wallet_shard_0_r1"],
            topic_prefix="r1.",
            in_flight=0,
        )

    monkeypatch.setattr(backup_commands, "restore_backup", restored)
    result = CliRunner().invoke(
        cli.app,
        ["restore", str(_backup_folder(tmp_path, "live.")), "--suffix", "r1", "--json"],
        env={"WALLET_RESTORE_INTO": "postgresql://admin:s3cret@db:5432/postgres"},
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert "s3cret" not in result.stdout
    assert document["shard_dsns"] == ["postgresql://admin:***@db:5432/wallet_shard_0_r1"]
