"""`wallet backup DIR` and `wallet restore DIR --into SERVER_DSN` (see `ops/backup.py` for what
the backup guarantees). They talk to the databases, not the gateway: name them with
`--coordinator-dsn` and `--shard-dsn` (in shard order), or let them default to `make run`'s."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import typer
from rich.console import Console
from rich.table import Table

from wallet_devtools import postgres
from wallet_devtools.bench.procstats import postgres_port
from wallet_devtools.ops.backup import (
    BackupError,
    Database,
    restore_backup,
    system_databases,
    take_backup,
)
from wallet_devtools.ops.render import EXIT_API_ERROR
from wallet_devtools.paths import RUN_DIR

AsJson = Annotated[bool, typer.Option("--json", help="Print the outcome as JSON, for scripts.")]


def backup(
    folder: Annotated[Path, typer.Argument(help="Where to write the dumps and manifest.json.")],
    coordinator_dsn: Annotated[
        str | None,
        typer.Option(envvar="WALLET_BACKUP_COORDINATOR_DSN", help="The coordinator's database."),
    ] = None,
    shard_dsn: Annotated[
        list[str] | None,
        typer.Option(
            envvar="WALLET_BACKUP_SHARD_DSNS", help="Each shard's database, in shard order."
        ),
    ] = None,
    state_dir: Annotated[
        Path, typer.Option(help="Without DSNs: the state folder of `make run`'s system.")
    ] = RUN_DIR,
    topic_prefix: Annotated[
        str, typer.Option(envvar="WALLET_TOPIC_PREFIX", help="The system's topic prefix.")
    ] = "",
    as_json: AsJson = False,
) -> None:
    """A consistent backup of every database, taken while the system runs.

    One snapshot per database, taken together as a cut the sagas can carry on from (checked,
    retaken if not), dumped with pg_dump; manifest.json lists the files, their checksums and
    the transfers in flight at the cut.
    """

    async def work(console: Console) -> dict[str, Any]:
        databases = await _databases(coordinator_dsn, shard_dsn or [], state_dir.resolve())
        with console.status("Backing up...") as status:
            return await take_backup(
                databases,
                folder,
                topic_prefix=topic_prefix,
                progress=lambda step: status.update(f"Backup: {step}..."),
            )

    manifest = _run(work)
    if as_json:
        sys.stdout.write(json.dumps(manifest, indent=2, default=str) + "\n")
        return
    table = Table(title=f"Backup in {folder}")
    for column in ("database", "file", "bytes"):
        table.add_column(column)
    for entry in manifest["databases"]:
        table.add_row(f"{entry['label']} ({entry['database']})", entry["file"], str(entry["bytes"]))
    console = Console()
    console.print(table)
    console.print(
        f"Cut taken in {manifest['cut']['attempts']} attempt(s); transfers in flight at the "
        f"cut: {len(manifest['in_flight'])} (they settle after a restore)."
    )


def restore(
    folder: Annotated[Path, typer.Argument(help="A folder `wallet backup` wrote.")],
    into: Annotated[
        str,
        typer.Option(
            "--into",
            envvar="WALLET_RESTORE_INTO",
            help="Superuser DSN of the PostgreSQL server to create the databases on (from the "
            "environment, a password stays off the command line).",
        ),
    ],
    suffix: Annotated[
        str | None,
        typer.Option(help="The new databases are <name>_<suffix> (default: r<UTC time>)."),
    ] = None,
    topic_prefix: Annotated[
        str | None,
        typer.Option(
            help="Topic prefix of the restored system (default: <suffix>.); never the "
            "backed-up system's."
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Restore a backup into fresh databases and print the settings to start a system on.

    Start that system on the topic prefix shown (a fresh one): the messages waiting in the
    restored outboxes are moved to it.
    """
    chosen_suffix = suffix or datetime.now(UTC).strftime("r%Y%m%d%H%M%S")
    prefix = topic_prefix if topic_prefix is not None else f"{chosen_suffix}."

    async def work(console: Console) -> Any:
        with console.status("Restoring...") as status:
            return await restore_backup(
                folder,
                server_dsn=into,
                suffix=chosen_suffix,
                topic_prefix=prefix,
                progress=lambda step: status.update(f"Restore: {step}..."),
            )

    restored = _run(work)
    # No password is printed, JSON included: output ends up in logs and CI artefacts; the
    # operator has it already (it is --into's).
    document = {
        "coordinator_dsn": _shown(restored.coordinator_dsn),
        "shard_dsns": [_shown(dsn) for dsn in restored.shard_dsns],
        "topic_prefix": restored.topic_prefix,
        "in_flight": restored.in_flight,
    }
    if as_json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return
    lines = ["Restored. Start the services with:", f"  WALLET_TOPIC_PREFIX={prefix}"]
    lines.append(f"  coordinator: WALLET_DATABASE_URL={_shown(restored.coordinator_dsn)}")
    lines += [
        f"  shard-{n}:     WALLET_DATABASE_URL={_shown(dsn)}"
        for n, dsn in enumerate(restored.shard_dsns)
    ]
    lines.append(f"{restored.in_flight} transfer(s) were in flight at the cut; they settle once")
    lines.append("the coordinator runs (then check: wallet integrity).")
    print("\n".join(lines))


def _shown(dsn: str) -> str:
    """The DSN with its password masked (a terminal or a log is not a secret store)."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _run(work: Any) -> Any:
    console = Console(stderr=True)
    try:
        return asyncio.run(work(console))
    except BackupError as error:
        console.print(f"wallet: {error}", style="red", markup=False)
        raise typer.Exit(EXIT_API_ERROR) from error


async def _databases(
    coordinator_dsn: str | None, shard_dsns: list[str], state_dir: Path
) -> list[Database]:
    """The DSNs given, or those of the system `make run` keeps under `state_dir`."""
    if coordinator_dsn is not None:
        return system_databases(coordinator_dsn, shard_dsns)
    if shard_dsns:
        raise BackupError("--shard-dsn needs --coordinator-dsn")
    port = postgres_port(state_dir)
    if port is None:
        raise BackupError(
            f"no running PostgreSQL under {state_dir}; name the databases with "
            "--coordinator-dsn and --shard-dsn"
        )
    server = f"postgresql://{postgres.SUPERUSER}@127.0.0.1:{port}/postgres"
    try:
        conn = await asyncpg.connect(server)
    except (OSError, asyncpg.PostgresError) as error:
        raise BackupError(f"cannot reach PostgreSQL under {state_dir}: {error}") from error
    try:
        rows = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname ~ '^wallet_shard_[0-9]+$'"
        )
    finally:
        await conn.close()
    count = len(rows)
    return system_databases(
        postgres.database_dsn(server, "wallet_coordinator"),
        [postgres.database_dsn(server, f"wallet_shard_{n}") for n in range(count)],
    )
