"""A throwaway PostgreSQL server for `make run` and the test suite, plus database helpers.

`PostgresServer` runs `initdb` once under a folder, then `postgres` on 127.0.0.1 and a free port,
with trust authentication (the cluster is local and disposable). When the caller is root it runs
PostgreSQL as the `postgres` system user, since PostgreSQL refuses to run as root.

    async with PostgresServer(base_dir=Path(".local/run/postgres")) as server:
        dsn = await create_database(server.dsn, "wallet_shard_0", exist_ok=True)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from wallet_shared.platform.lifecycle import StartStop

from wallet_devtools.processes import (
    ProcessExitedError,
    child_pids,
    command_line,
    exit_status,
    free_port,
    kill_process,
    log_tail,
    pid_is_alive,
    read_pid_file,
    spawn,
    stop_process,
    wait_gone,
    wait_until_ready,
)

SUPERUSER = "postgres"
_SYSTEM_USER = "postgres"  # the OS account PostgreSQL runs as when we are root
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_INITDB_DONE = ".initdb-complete"


class PostgresNotInstalledError(RuntimeError):
    """No PostgreSQL server binaries were found."""


def find_postgres_bindir(preferred: Path | None = None) -> Path:
    """The folder holding `initdb`, `postgres` and `pg_ctl`, newest major version first.

    Debian puts the server binaries in /usr/lib/postgresql/<major>/bin, which is not on PATH.
    """
    candidates: list[Path] = [preferred] if preferred else []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    versioned = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versioned, key=_major_version, reverse=True)
    candidates.append(Path("/usr/local/pgsql/bin"))
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "postgres", "pg_ctl")):
            return folder
    raise PostgresNotInstalledError(
        "PostgreSQL server binaries not found; run scripts/bootstrap.sh "
        "(or `apt-get install -y postgresql`)"
    )


def _major_version(bindir: Path) -> float:
    try:
        return float(bindir.parent.name)
    except ValueError:
        return 0.0


class PostgresServer(StartStop):
    """A local PostgreSQL server under `base_dir` (data in `data/`, log in `postgres.log`).

    The data folder is kept between runs, so a server started again on the same folder finds
    its databases. `durable=False` turns fsync and friends off: fine for tests, whose data is
    thrown away, never for `make run`.
    """

    def __init__(
        self,
        *,
        base_dir: Path,
        port: int | None = None,
        durable: bool = True,
        max_connections: int = 300,
        settings: Mapping[str, str] | None = None,
        bindir: Path | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        if max_connections < 10:
            raise ValueError("max_connections must be at least 10")
        if startup_timeout <= 0:
            raise ValueError("startup_timeout must be positive")
        self._base_dir = base_dir.resolve()
        self._requested_port = port
        self._durable = durable
        self._max_connections = max_connections
        self._settings = dict(settings or {})
        self._bindir = bindir
        self._startup_timeout = startup_timeout
        self._run_as = _SYSTEM_USER if os.geteuid() == 0 else None
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    @property
    def data_dir(self) -> Path:
        """The PostgreSQL data directory (PGDATA)."""
        return self._base_dir / "data"

    @property
    def log_path(self) -> Path:
        """Where the server's own log goes."""
        return self._base_dir / "postgres.log"

    @property
    def port(self) -> int:
        """The TCP port the running server listens on."""
        if self._port is None:
            raise RuntimeError("PostgreSQL server is not started")
        return self._port

    @property
    def dsn(self) -> str:
        """Superuser DSN of the `postgres` maintenance database."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    async def start(self) -> str:
        """Initialise the data folder if needed, start the server, wait until it answers."""
        if self._process is not None:
            raise RuntimeError("PostgreSQL server already started")
        bindir = find_postgres_bindir(self._bindir)
        self._base_dir.mkdir(parents=True, exist_ok=True)
        self._make_reachable()
        await asyncio.to_thread(self._initdb_once, bindir)
        await asyncio.to_thread(self._clear_stale_postmaster, bindir)
        attempts = 1 if self._requested_port else 3
        for attempt in range(1, attempts + 1):
            try:
                return await self._start_on(bindir, self._requested_port or free_port())
            except ProcessExitedError:
                # Another process may have taken the port between our probe and postgres' bind.
                if attempt == attempts or "could not bind" not in log_tail(self.log_path):
                    raise
        raise AssertionError("unreachable")

    async def stop(self) -> None:
        """Fast shutdown (`pg_ctl stop -m fast`): clients are disconnected, data is flushed."""
        process, self._process = self._process, None
        if process is None:
            return
        if exit_status(process) is None:
            await asyncio.to_thread(self._pg_ctl_stop, find_postgres_bindir(self._bindir))
        await stop_process(process, grace_s=10.0)
        self._port = None

    async def crash(self, *, immediate: bool) -> None:
        """Stop the server the way a crash would; `start()` brings it back on the same data,
        replaying the WAL (construct it with `port` for it to keep its address).

        `immediate`: `pg_ctl stop -m immediate` (the postmaster makes every backend quit at
        once, no checkpoint). Otherwise SIGKILL of the postmaster and of every backend: they
        lead sessions of their own, so killing the postmaster's group alone would leave them
        attached to the shared memory, and the next server would refuse to start.
        """
        process, self._process = self._process, None
        if process is None:
            raise RuntimeError("PostgreSQL server is not started")
        bindir = find_postgres_bindir(self._bindir)
        if immediate:
            command = [str(bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate"]
            await asyncio.to_thread(self._run_tool, [*command, "-w", "-t", "60"], check=False)
        else:
            backends = child_pids(process.pid)
            await asyncio.to_thread(kill_process, process)
            for pid in backends:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            await wait_gone(backends, within_s=60.0)
        await stop_process(process, grace_s=10.0)
        self._port = None

    async def _start_on(self, bindir: Path, port: int) -> str:
        self._process = spawn(
            [str(bindir / "postgres"), "-D", str(self.data_dir), *self._server_options(port)],
            log_path=self.log_path,
            cwd=Path("/"),
            user=self._run_as,
        )
        self._port = port
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        return self.dsn

    def _server_options(self, port: int) -> list[str]:
        settings = {
            "port": str(port),
            "listen_addresses": "127.0.0.1",
            # TCP only: no socket file to place, whatever the data folder's path length.
            "unix_socket_directories": "",
            "max_connections": str(self._max_connections),
            "logging_collector": "off",
        }
        if not self._durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        settings |= self._settings
        return [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]

    async def _wait_ready(self) -> None:
        assert self._process is not None
        await wait_until_ready(
            self._process,
            lambda: _accepts_connections(self.dsn),
            what="postgres",
            timeout_s=self._startup_timeout,
            interval_s=0.1,
            logs=lambda: f"log {self.log_path}:\n{log_tail(self.log_path)}",
        )

    def _initdb_once(self, bindir: Path) -> None:
        marker = self._base_dir / _INITDB_DONE
        if marker.exists():
            return
        # A data folder without the marker comes from an initdb that was interrupted.
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(mode=0o700)
        self._chown_to_server_user(self.data_dir)
        command = [
            str(bindir / "initdb"),
            *("-D", str(self.data_dir), "-U", SUPERUSER, "-A", "trust"),
            *("-E", "UTF8", "--no-locale", "--no-instructions"),
        ]
        self._run_tool(command)
        marker.write_text("initdb completed\n")

    def _clear_stale_postmaster(self, bindir: Path) -> None:
        """Deal with a postmaster.pid left by a run that was killed.

        A live postgres on our data folder (an orphan of that run) is stopped; a pid file whose
        process is gone, or whose pid now belongs to another program, is removed, since
        postgres would otherwise refuse to start.
        """
        pid_file = self.data_dir / "postmaster.pid"
        pid = read_pid_file(pid_file)
        if pid is None:
            return
        if pid_is_alive(pid) and str(self.data_dir) in command_line(pid):
            self._pg_ctl_stop(bindir)
        pid_file.unlink(missing_ok=True)

    def _pg_ctl_stop(self, bindir: Path) -> None:
        command = [str(bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast"]
        try:
            self._run_tool([*command, "-w", "-t", "30"])
        except subprocess.CalledProcessError:
            # Fast shutdown did not finish in time: immediate mode skips the checkpoint
            # (crash recovery replays the WAL at the next start).
            self._run_tool(
                [str(bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate"],
                check=False,
            )

    def _run_tool(self, command: list[str], *, check: bool = True) -> None:
        with self.log_path.open("ab") as log:
            subprocess.run(  # noqa: S603 - fixed PostgreSQL tool invocations
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd="/",
                user=self._run_as,
                group=self._run_as,
                extra_groups=[] if self._run_as else None,
                check=check,
            )

    def _chown_to_server_user(self, path: Path) -> None:
        if self._run_as is None:
            return
        account = pwd.getpwnam(self._run_as)
        os.chown(path, account.pw_uid, account.pw_gid)

    def _make_reachable(self) -> None:
        """Let the `postgres` account reach the data folder through every parent folder.

        Only needed when we are root: the folders we create (and pytest's temporary ones) may be
        closed to other users, and PostgreSQL must traverse them to open its data directory.
        """
        if self._run_as is None:
            return
        for folder in [self._base_dir, *self._base_dir.parents]:
            mode = folder.stat().st_mode
            if not mode & 0o001:
                folder.chmod(mode | 0o001)


async def _accepts_connections(dsn: str) -> bool:
    try:
        connection = await asyncpg.connect(dsn, timeout=2.0)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    await connection.close()
    return True


def database_dsn(server_dsn: str, database: str) -> str:
    """The DSN of `database` on the server that `server_dsn` points at."""
    parts = urlsplit(server_dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


def random_database_name(prefix: str = "wallet_test") -> str:
    """A fresh database name, `<prefix>_<12 hex digits>`."""
    return _checked_name(f"{prefix}_{secrets.token_hex(6)}")


def _checked_name(name: str) -> str:
    # Identifiers cannot be bound as query parameters; accept only names that need no quoting.
    if not _DATABASE_NAME.match(name):
        raise ValueError(f"invalid database name {name!r}: use [a-z_][a-z0-9_]*, at most 63")
    return name


async def create_database(server_dsn: str, name: str, *, exist_ok: bool = False) -> str:
    """Create database `name` on the server and return its DSN."""
    name = _checked_name(name)
    connection = await asyncpg.connect(server_dsn)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and not exist_ok:
            raise FileExistsError(f"database {name} already exists")
        if not exists:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return database_dsn(server_dsn, name)


async def drop_database(server_dsn: str, name: str) -> None:
    """Drop database `name` if it exists, disconnecting whoever is still connected to it."""
    name = _checked_name(name)
    connection = await asyncpg.connect(server_dsn)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m wallet_devtools.postgres start --base-dir DIR`: a server until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m wallet_devtools.postgres")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="run a server in the foreground until Ctrl-C")
    start.add_argument("--base-dir", type=Path, required=True)
    start.add_argument("--port", type=int, default=None)
    start.add_argument("--no-fsync", action="store_true", help="fast, for throwaway data")
    args = parser.parse_args(argv)
    server = PostgresServer(base_dir=args.base_dir, port=args.port, durable=not args.no_fsync)
    try:
        return asyncio.run(_serve(server))
    except KeyboardInterrupt:  # asyncio.run re-raises Ctrl-C once the server is stopped
        return 0


async def _serve(server: PostgresServer) -> int:
    async with server:
        print(f"PostgreSQL on {server.dsn} (Ctrl-C stops it)", flush=True)
        # Ctrl-C cancels this wait; leaving the block stops the server.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
