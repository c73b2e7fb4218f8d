"""PostgreSQL plumbing every service shares: the pool, migrations, and transactions whose backend
failures arrive already sorted into "a retry may help" (`TransientError`) or not.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from importlib import resources
from typing import Final

import asyncpg
import orjson
import structlog

from wallet_shared.contracts.errors import TransientError

_log = structlog.get_logger(__name__)

SHARED_MIGRATIONS: Final = "wallet_shared.platform.migrations"
"""The package holding the tables of this library (outbox, idempotency keys, dead letters)."""

_MIGRATION_LOCK: Final = "wallet_shared.platform.migrations"
_MIGRATION_FILE: Final = re.compile(r"^(?P<version>\d{3,})_(?P<name>[a-z0-9_]+)\.sql$")

# Failures of the connection or of the transaction's luck, not of the statement: running the same
# transaction again may succeed.
_TRANSIENT: Final[tuple[type[BaseException], ...]] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    OSError,
)
_DESYNCHRONISED: Final = ("cannot switch to state", "another operation")
"""How asyncpg's `InternalClientError` says that a connection lost its protocol state, as when
the server died while answering with an error (asyncpg #1069). Its other kinds (protocol, codec,
schema cache errors) are bugs, and stay 500s and dead letters."""


DATABASE_FAILURES: Final[tuple[type[Exception], ...]] = (
    *(kind for kind in _TRANSIENT if issubclass(kind, Exception)),
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)
"""What a database call raises when the database, not the statement, failed (or may have):
`is_transient` tells which of them a retry may cure."""


def is_transient(error: BaseException) -> bool:
    """Whether running the failed transaction again may succeed."""
    if isinstance(error, asyncpg.InterfaceError):
        # asyncpg says "connection is closed", "connection was closed in the middle of
        # operation", or "pool is closing" (the process is shutting down).
        return "closed" in str(error) or "pool is closing" in str(error)
    if type(error) is asyncpg.exceptions.InternalClientError:
        # The connection is out of step with its server: `transaction()` terminates it, and a
        # retry gets a fresh one from the pool.
        return any(sign in str(error) for sign in _DESYNCHRONISED)
    return isinstance(error, _TRANSIENT)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # json/jsonb parameters and results are Python values, encoded by orjson.
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name,
            schema="pg_catalog",
            encoder=lambda value: orjson.dumps(value).decode("utf-8"),
            decoder=orjson.loads,
            format="text",
        )


async def create_pool(
    dsn: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    connect_timeout_s: float = 30.0,
) -> asyncpg.Pool:
    """A connection pool whose json/jsonb values go through orjson.

    Retries while the server is not answering yet (it may still be starting) until
    `connect_timeout_s` has passed; then the last connection error propagates.
    """
    deadline = time.monotonic() + connect_timeout_s
    delay = 0.1
    while True:
        try:
            pool: asyncpg.Pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                init=_init_connection,
                reset=_keep_session,
            )
            return pool
        except Exception as error:
            if not is_transient(error) or time.monotonic() + delay > deadline:
                raise
            _log.warning("database_not_ready", error=str(error), retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


_BEGIN_PLANNING_AFRESH: Final = "BEGIN; SET LOCAL plan_cache_mode = force_custom_plan"
"""Opens a transaction that plans every statement for its own arguments and the tables'
current size, not with the session's cached generic plan (`transaction(fresh_plans=True)`)."""


async def _keep_session(_: asyncpg.Connection) -> None:
    """Skip asyncpg's session reset (one more round trip on every release of a connection).

    The services keep no session state on pooled connections: advisory locks are
    transaction-scoped (the outbox relay releases its session lock itself), LISTEN uses a
    dedicated connection, nothing is SET. asyncpg still rolls back a transaction left open.
    """


async def database_ready(pool: asyncpg.Pool, *, timeout_s: float = 2.0) -> bool:
    """Whether the database answers a trivial query within `timeout_s` (for readiness probes)."""
    try:
        async with asyncio.timeout(timeout_s):
            return bool(await pool.fetchval("SELECT true"))
    except Exception:
        return False


@asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection outside any transaction (each statement commits alone), its failures
    sorted as `transaction`'s are: for work of one writing statement, which needs no BEGIN and
    COMMIT (two round trips, and two wake-ups of the server and of this process).
    """
    try:
        async with pool.acquire() as conn:
            try:
                yield conn
            except asyncpg.exceptions.InternalClientError:
                # Its protocol state is lost: back in the pool it would fail the next user too.
                conn.terminate()
                raise
    except Exception as error:
        if is_transient(error):
            raise TransientError(f"{type(error).__name__}: {error}") from error
        raise


@asynccontextmanager
async def transaction(
    pool: asyncpg.Pool, *, fresh_plans: bool = False
) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction: committed when the block ends, rolled back on error.

    Connection loss, serialization failures and deadlocks come out as `TransientError` (the whole
    transaction may be run again); everything else, integrity violations included, unchanged.

    `fresh_plans`: every statement of the transaction is planned for its own arguments, not
    with the session's generic plan, which is made once per session after a few executions and
    kept until the table is next analysed: one made while a table was nearly empty (a fresh
    system, a table growing faster than autovacuum analyses it) scans it whole at every batch
    (measured: the coordinator's saga lock and save, 3-4 ms a call late in a benchmark run,
    against well under 1 ms planned afresh). For the hot batch handlers whose tables grow fast;
    not for every statement: planning each one of every request costs more than it saves
    (measured too).
    """
    async with connection(pool) as conn:
        if not fresh_plans:
            async with conn.transaction():
                yield conn
            return
        async with _planning_afresh(conn):
            yield conn


@asynccontextmanager
async def _planning_afresh(conn: asyncpg.Connection) -> AsyncIterator[None]:
    # BEGIN and SET LOCAL in one round trip (a simple query of two statements): asyncpg's own
    # transaction() sends BEGIN alone, and the SET was then a round trip of its own in every
    # batch. asyncpg refuses a transaction() nested in one begun so (it would BEGIN again),
    # and returning the connection to the pool rolls back whatever is left open.
    await conn.execute(_BEGIN_PLANNING_AFRESH)
    try:
        yield
    except BaseException:
        if not conn.is_closed():
            with suppress(Exception):
                await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")


@dataclass(frozen=True, slots=True, order=True)
class Migration:
    """One SQL file of a migration stream."""

    version: int
    name: str
    sql: str


def migration_files(package: str) -> list[Migration]:
    """The migrations of `package` (files `NNN_name.sql`), in version order.

    Other files are ignored; two files with the same version are a mistake and raise ValueError.
    """
    found: dict[int, Migration] = {}
    for entry in resources.files(package).iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match is None or not entry.is_file():
            continue
        version = int(match["version"])
        if version in found:
            raise ValueError(f"{package}: two migrations numbered {version}")
        found[version] = Migration(version, match["name"], entry.read_text(encoding="utf-8"))
    return [found[version] for version in sorted(found)]


async def apply_migrations(pool: asyncpg.Pool, *, package: str) -> None:
    """Bring the database up to date: the shared tables first, then the files of `package`.

    Each file runs once, in its own transaction, recorded in `schema_migrations` by stream (the
    package name) and version. A session advisory lock makes concurrent callers (replicas starting
    together) wait for each other instead of racing.
    """
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", _MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " stream text NOT NULL, version integer NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (stream, version))"
            )
            for stream in dict.fromkeys((SHARED_MIGRATIONS, package)):
                await _apply_stream(conn, stream)
        finally:
            await conn.execute(
                "SELECT pg_advisory_unlock(hashtextextended($1, 0))", _MIGRATION_LOCK
            )


async def _apply_stream(conn: asyncpg.Connection, stream: str) -> None:
    rows = await conn.fetch("SELECT version FROM schema_migrations WHERE stream = $1", stream)
    applied = {row["version"] for row in rows}
    for migration in migration_files(stream):
        if migration.version in applied:
            continue
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (stream, version) VALUES ($1, $2)",
                stream,
                migration.version,
            )
        _log.info(
            "migration_applied", stream=stream, version=migration.version, name=migration.name
        )
