"""A consistent backup of every database of a wallet system, taken while it runs, and its restore
into fresh databases.

What "consistent" means across several databases: each database is dumped whole from one
snapshot (`pg_dump --snapshot`, from a REPEATABLE READ transaction held open meanwhile), and the
snapshots together form a cut that the saga protocol can carry on from. The coordinator's
snapshot is taken first, then every shard's (within milliseconds), so a shard is never behind
the coordinator: every Try the coordinator has heard of is in the shards' snapshots, and every
decision it has made can be re-sent and applied. What the shards may have seen that the
coordinator's snapshot has not is checked before anything is dumped (`cut_problems`): a leg of
a saga the coordinator does not have yet, or a leg confirmed or cancelled while its saga is
still trying there. Either would restore a leg its saga cannot account for, so such a cut is
let go and a new one taken (the window is milliseconds wide, a retry almost always passes).

After a restore, every saga that was in flight at the cut is re-driven by the coordinator
(current step re-sent; shards answer repeats with their first answer), messages waiting in
the outboxes are published, and a trying saga past its deadline is cancelled on both sides. The
restored system runs on fresh topics (its own prefix): whatever the old system published
before the cut stays in the old topics, where nothing of the restored system reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from wallet_devtools import postgres

MANIFEST: Final = "manifest.json"
FORMAT: Final = 1
RECENT_LEG_WINDOW_S: Final = 120
"""Legs touched this recently are checked against the coordinator's snapshot. A leg can only be
written after its saga was committed, so an older leg with no saga there would need the two
servers' clocks to disagree by this much."""

_IN_FLIGHT: Final = """
SELECT id, phase, source_wallet_id, destination_wallet_id, amount, currency, deadline_at
FROM transfers WHERE status = 'pending' ORDER BY id
"""

# Legs of sagas (a local transfer's legs are resolved in the transaction that writes them).
_RECENT_LEGS: Final = """
SELECT transfer_id, leg, state FROM (
    SELECT transfer_id, 'debit' AS leg, state, updated_at FROM holds
    UNION ALL
    SELECT transfer_id, 'credit', state, updated_at FROM pending_credits
) AS legs
WHERE (state = 'active' OR updated_at >= now() - make_interval(secs => $1))
  AND NOT EXISTS (SELECT 1 FROM local_transfers l WHERE l.id = legs.transfer_id)
"""

# Messages waiting to be published: they go to the restored system's topics.
_DATABASE_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
"""What `postgres.create_database` accepts (a name that needs no quoting)."""

_TOPIC_TABLES: Final = ("outbox", "outbox_parked")

# A dead letter keeps the topic it was consumed from (with its partition and offset, it names the
# record); a replay publishes it to the restored system's topic instead (`replay_topic`).
_MOVE_DEAD_LETTERS: Final = """
UPDATE dead_letters
SET replay_topic = $2 || substr(coalesce(replay_topic, topic), length($1) + 1)
WHERE starts_with(coalesce(replay_topic, topic), $1)
"""

Progress = Callable[[str], None]


class BackupError(RuntimeError):
    """The backup or restore could not be done (a database away, a tool failing, a bad folder)."""


@dataclass(frozen=True)
class Database:
    """One database of the system: the coordinator's or shard `shard`'s."""

    label: str  # `coordinator`, `shard-0`, ...
    dsn: str

    @property
    def name(self) -> str:
        return urlsplit(self.dsn).path.lstrip("/")


@dataclass(frozen=True)
class LegSeen:
    shard: str
    transfer_id: str
    leg: str
    state: str


def system_databases(coordinator_dsn: str, shard_dsns: Sequence[str]) -> list[Database]:
    """The coordinator's database first (its snapshot must come first), then the shards'."""
    if not shard_dsns:
        raise BackupError("at least one shard database is needed")
    return [Database("coordinator", coordinator_dsn)] + [
        Database(f"shard-{n}", dsn) for n, dsn in enumerate(shard_dsns)
    ]


def cut_problems(saga_phases: Mapping[str, str], legs: Sequence[LegSeen]) -> list[str]:
    """Why a cut cannot be restored and carried on from; empty when it can.

    `saga_phases`: the phase of each saga in the coordinator's snapshot, among the transfers
    the legs name; `legs`: the shards' recent and open legs, from snapshots taken after it.
    """
    problems = []
    for leg in legs:
        phase = saga_phases.get(leg.transfer_id)
        if phase is None:
            problems.append(
                f"{leg.shard}: {leg.leg} leg of {leg.transfer_id} ({leg.state}), a transfer "
                "newer than the coordinator's snapshot"
            )
        elif phase == "trying" and leg.state in ("confirmed", "cancelled"):
            problems.append(
                f"{leg.shard}: {leg.leg} leg of {leg.transfer_id} {leg.state} while the "
                "coordinator's snapshot has not decided it"
            )
    return problems


async def take_backup(
    databases: Sequence[Database],
    folder: Path,
    *,
    topic_prefix: str,
    progress: Progress,
    max_attempts: int = 50,
) -> dict[str, Any]:
    """Dump every database from one restorable cut into `folder`; the manifest written there."""
    await asyncio.to_thread(_prepare_folder, folder)
    pg_dump = _tool("pg_dump")
    async with _connections(databases) as connections:
        for attempt in range(1, max_attempts + 1):
            progress(f"taking a cut (attempt {attempt})")
            snapshots = await _export_snapshots(connections)
            in_flight, problems, open_legs = await _check_cut(databases, connections)
            if not problems:
                break
            progress(f"cut not restorable ({problems[0]}); taking another")
            await asyncio.gather(*(conn.execute("ROLLBACK") for conn in connections))
            await asyncio.sleep(0.05 * attempt)
        else:
            raise BackupError(f"no restorable cut in {max_attempts} attempts: {problems[:3]}")
        files = []
        for database, snapshot in zip(databases, snapshots, strict=True):
            progress(f"dumping {database.label} ({database.name})")
            files.append(await _dump(pg_dump, database, snapshot, folder))
        await asyncio.gather(*(conn.execute("COMMIT") for conn in connections))
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "topic_prefix": topic_prefix,
        "cut": {"attempts": attempt, "order": [d.label for d in databases]},
        "databases": files,
        "in_flight": in_flight,
        "open_legs": open_legs,
        "pg_dump": await _version(pg_dump),
    }
    text = json.dumps(manifest, indent=2, default=str) + "\n"
    await asyncio.to_thread((folder / MANIFEST).write_text, text)
    return manifest


def _prepare_folder(folder: Path) -> None:
    # The dumps hold every wallet and audit record: readable by their owner only.
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
    except OSError as error:
        raise BackupError(f"cannot use {folder} for a backup: {error}") from error
    if (folder / MANIFEST).exists():
        raise BackupError(f"{folder} already holds a backup")


@dataclass(frozen=True)
class Restored:
    """Where each restored database is."""

    coordinator_dsn: str
    shard_dsns: list[str]
    topic_prefix: str
    in_flight: int


async def restore_backup(
    folder: Path,
    *,
    server_dsn: str,
    suffix: str,
    topic_prefix: str,
    progress: Progress,
) -> Restored:
    """Create fresh databases on the server of `server_dsn` (`<name>_<suffix>`), restore each
    dump into its own, and move the messages waiting in the outboxes to `topic_prefix`."""
    manifest = await asyncio.to_thread(read_manifest, folder)
    check_topic_prefix(old_prefix=manifest["topic_prefix"], new_prefix=topic_prefix)
    names = {
        entry["label"]: restored_name(entry["database"], suffix) for entry in manifest["databases"]
    }
    pg_restore = _tool("pg_restore")
    restored: dict[str, str] = {}
    for entry in manifest["databases"]:
        progress(f"checking {entry['file']}")
        await asyncio.to_thread(_check_file, folder / entry["file"], entry["sha256"])
        name = names[entry["label"]]
        progress(f"restoring {entry['label']} into {name}")
        dsn = await _create_database(server_dsn, name)
        target, password = _without_password(dsn)
        await _run(
            pg_restore,
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--dbname",
            target,
            str(folder / entry["file"]),
            password=password,
        )
        await _move_topics(dsn, old_prefix=manifest["topic_prefix"], new_prefix=topic_prefix)
        restored[entry["label"]] = dsn
    shards = sorted((k for k in restored if k.startswith("shard-")), key=lambda k: int(k[6:]))
    return Restored(
        coordinator_dsn=restored["coordinator"],
        shard_dsns=[restored[k] for k in shards],
        topic_prefix=topic_prefix,
        in_flight=len(manifest["in_flight"]),
    )


def check_topic_prefix(*, old_prefix: str, new_prefix: str) -> None:
    """A restored system must run on topics of its own: on the old system's, it would consume
    what the old system published after the cut (transfers the restored books never saw)."""
    if new_prefix == old_prefix:
        raise BackupError(
            f"the restored system needs a topic prefix of its own, not the backed-up system's "
            f"({old_prefix!r}): choose another --topic-prefix"
        )


def restored_name(database: str, suffix: str) -> str:
    """`<database>_<suffix>`, refused before anything is created when PostgreSQL would not take
    it unquoted."""
    name = f"{database}_{suffix}"
    if not _DATABASE_NAME.fullmatch(name):
        raise BackupError(
            f"database name {name!r} is not usable: the --suffix must be lowercase letters, "
            "digits and _, and the name at most 63 characters"
        )
    return name


async def _create_database(server_dsn: str, name: str) -> str:
    try:
        return await postgres.create_database(server_dsn, name, exist_ok=False)
    except FileExistsError as error:
        raise BackupError(f"database {name} already exists: choose another --suffix") from error
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise BackupError(f"cannot create database {name}: {error}") from error


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise BackupError(f"{folder} holds no readable backup ({MANIFEST}): {error}") from error
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r}, this tool reads {FORMAT}")
    return manifest


@contextlib.asynccontextmanager
async def _connections(databases: Sequence[Database]) -> AsyncIterator[list[asyncpg.Connection]]:
    try:
        connections = list(
            await asyncio.gather(*(asyncpg.connect(d.dsn, timeout=30) for d in databases))
        )
    except (OSError, asyncpg.PostgresError) as error:
        raise BackupError(f"cannot reach a database: {error}") from error
    try:
        yield connections
    finally:
        await asyncio.gather(*(conn.close() for conn in connections), return_exceptions=True)


async def _export_snapshots(connections: Sequence[asyncpg.Connection]) -> list[str]:
    """The coordinator's snapshot first, then all the shards' at once."""

    async def export(conn: asyncpg.Connection) -> str:
        await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        return str(await conn.fetchval("SELECT pg_export_snapshot()"))

    coordinator = await export(connections[0])
    shards = await asyncio.gather(*(export(conn) for conn in connections[1:]))
    return [coordinator, *shards]


async def _check_cut(
    databases: Sequence[Database], connections: Sequence[asyncpg.Connection]
) -> tuple[list[dict[str, Any]], list[str], dict[str, int]]:
    coordinator, shards = connections[0], connections[1:]
    in_flight = [dict(row) for row in await coordinator.fetch(_IN_FLIGHT)]
    legs: list[LegSeen] = []
    open_legs: dict[str, int] = {}
    for database, conn in zip(databases[1:], shards, strict=True):
        rows = await conn.fetch(_RECENT_LEGS, float(RECENT_LEG_WINDOW_S))
        legs += [LegSeen(database.label, r["transfer_id"], r["leg"], r["state"]) for r in rows]
        open_legs[database.label] = sum(1 for r in rows if r["state"] == "active")
    named = sorted({leg.transfer_id for leg in legs})
    rows = await coordinator.fetch(
        "SELECT id, phase FROM transfers WHERE id = ANY($1::text[])", named
    )
    phases = {row["id"]: row["phase"] for row in rows}
    return in_flight, cut_problems(phases, legs), open_legs


async def _dump(pg_dump: Path, database: Database, snapshot: str, folder: Path) -> dict[str, Any]:
    file = folder / f"{database.label}.dump"
    dsn, password = _without_password(database.dsn)
    await _run(
        pg_dump,
        "--format=custom",
        "--no-owner",
        "--no-privileges",
        f"--snapshot={snapshot}",
        f"--file={file}",
        dsn,
        password=password,
    )
    return {
        "label": database.label,
        "database": database.name,
        "file": file.name,
        "bytes": (await asyncio.to_thread(file.stat)).st_size,
        "sha256": await asyncio.to_thread(_sha256, file),
    }


async def _move_topics(dsn: str, *, old_prefix: str, new_prefix: str) -> None:
    """Messages waiting to be published go to the restored system's topics, and dead letters
    replay there (their own topic, partition and offset stay: they name the record read)."""
    check_topic_prefix(old_prefix=old_prefix, new_prefix=new_prefix)
    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as error:
        raise BackupError(f"cannot reach the restored database: {error}") from error
    try:
        async with conn.transaction():
            for table in _TOPIC_TABLES:
                await conn.execute(
                    f"UPDATE {table} SET topic = $2 || substr(topic, length($1) + 1) "
                    "WHERE starts_with(topic, $1)",
                    old_prefix,
                    new_prefix,
                )
            await conn.execute(_MOVE_DEAD_LETTERS, old_prefix, new_prefix)
    finally:
        await conn.close()


def _tool(name: str) -> Path:
    try:
        return postgres.find_postgres_bindir() / name
    except postgres.PostgresNotInstalledError as error:
        raise BackupError(f"{name} not found: install PostgreSQL's client tools") from error


def _without_password(dsn: str) -> tuple[str, str | None]:
    """The DSN without its password, and the password: a command line is visible to every
    user of the machine (`ps`), the environment of a process is not."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn, None
    netloc = parts.netloc.replace(f":{parts.password}@", "@", 1)
    return urlunsplit(parts._replace(netloc=netloc)), unquote(parts.password)


async def _run(tool: Path, *arguments: str, password: str | None = None) -> str:
    env = {**os.environ, "PGPASSWORD": password} if password is not None else None
    process = await asyncio.create_subprocess_exec(
        str(tool),
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise BackupError(f"{tool.name} failed: {err.decode(errors='replace').strip()[-2000:]}")
    return out.decode(errors="replace")


async def _version(tool: Path) -> str:
    return (await _run(tool, "--version")).strip()


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_file(file: Path, expected: str) -> None:
    if not file.is_file() or _sha256(file) != expected:
        raise BackupError(f"{file} is missing or not the file the backup wrote (sha256 differs)")
