"""The process launcher behind `make run` and the end-to-end tests.

`WalletCluster` creates the databases, picks ports, starts every service as its own process
(`python -m wallet_shard`, `-m transfer_coordinator`, `-m gateway`) and waits until each answers
`GET /health/ready`. It can SIGKILL and restart one service with the same environment and port,
which is what the fault tests do to a shard or the coordinator in the middle of a transfer.

    async with WalletCluster(admin_dsn=pg_dsn, kafka_bootstrap=kafka, log_dir=tmp / "logs",
                             throwaway=True) as cluster:
        httpx.get(f"{cluster.gateway_url}/v1/wallets", headers=cluster.auth_headers("alice"))

A throwaway cluster (tests) has random database names and its own topic prefix, and drops the
databases and deletes the topics when it stops. Otherwise (`make run`) the databases are
`wallet_shard_<n>` and `wallet_coordinator`, created when missing and kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from wallet_shared.contracts.schemas import Role
from wallet_shared.platform.lifecycle import StartStop

from wallet_devtools import postgres
from wallet_devtools.kafka import KafkaBroker, delete_topics_with_prefix
from wallet_devtools.layout import (
    COORDINATOR,
    GATEWAY,
    ClusterConfig,
    ServiceSpec,
    plan_services,
    shard_name,
)
from wallet_devtools.processes import (
    ProcessExitedError,
    await_all_or_cancel,
    exit_status,
    free_port,
    kill_process,
    log_tail,
    reap_stale_process,
    spawn,
    stop_process,
    wait_until_ready,
    write_pid_file,
)
from wallet_devtools.tokens import mint_token, random_secret

logger = logging.getLogger(__name__)

__all__ = ["COORDINATOR", "GATEWAY", "ServiceStartError", "WalletCluster", "shard_name"]


class ServiceStartError(RuntimeError):
    """A service exited, or did not become ready, while the cluster was starting it."""


@dataclass(frozen=True)
class DatabaseNames:
    """The database of each shard (index = shard id) and the coordinator's."""

    shards: tuple[str, ...]
    coordinator: str

    @classmethod
    def fixed(cls, shard_count: int) -> DatabaseNames:
        """The names `make run` and docker-compose use."""
        shards = tuple(f"wallet_shard_{n}" for n in range(shard_count))
        return cls(shards=shards, coordinator="wallet_coordinator")

    @classmethod
    def fresh(cls, shard_count: int, run_id: str) -> DatabaseNames:
        """Names unique to one throwaway cluster."""
        shards = tuple(f"{run_id}_shard_{n}" for n in range(shard_count))
        return cls(shards=shards, coordinator=f"{run_id}_coordinator")

    @property
    def all(self) -> tuple[str, ...]:
        """Every database name, shards first."""
        return (*self.shards, self.coordinator)


class WalletCluster(StartStop):
    """All services of one wallet system, as local processes."""

    def __init__(
        self,
        *,
        admin_dsn: str,
        kafka_bootstrap: str,
        log_dir: Path,
        shard_count: int = 2,
        throwaway: bool = False,
        topic_prefix: str | None = None,
        jwt_secret: str | None = None,
        internal_secret: str | None = None,
        gateway_port: int | None = None,
        topic_partitions: int | None = None,
        log_format: str = "json",
        log_level: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        base_env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        ready_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        databases: DatabaseNames | None = None,
    ) -> None:
        """Describe a cluster; nothing starts before `start()`.

        `base_env` is the environment the processes inherit (the caller's, usually); any
        `WALLET_*` variable in it is dropped so that only this cluster's settings apply, and
        `extra_env` is added to every service (e.g. `WALLET_TRANSFER_DEADLINE_S` for a test).
        `internal_secret` signs the services' credentials to each other: a fresh random one
        unless given. `databases` names existing databases to run on (a restored backup):
        kept as they are, and dropped when a throwaway cluster stops.
        """
        if shard_count < 1:
            raise ValueError("shard_count must be at least 1")
        if ready_timeout <= 0 or stop_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self.run_id = f"t{secrets.token_hex(5)}"
        self.throwaway = throwaway
        if throwaway and topic_prefix == "":
            raise ValueError("a throwaway cluster needs a topic prefix, its topics get deleted")
        self.topic_prefix = (
            f"{self.run_id}." if topic_prefix is None and throwaway else (topic_prefix or "")
        )
        if databases is not None and len(databases.shards) != shard_count:
            raise ValueError("one database per shard is needed")
        self.database_names = databases or (
            DatabaseNames.fresh(shard_count, self.run_id)
            if throwaway
            else DatabaseNames.fixed(shard_count)
        )
        self._databases_given = databases is not None
        self.jwt_secret = jwt_secret or random_secret()
        # Per cluster and never printed: only its services need it.
        self._internal_secret = internal_secret or random_secret()
        self.admin_dsn = admin_dsn
        self.kafka_bootstrap = kafka_bootstrap
        self.log_dir = log_dir.resolve()
        self._gateway_port = gateway_port
        self._topic_partitions = topic_partitions
        self._log_format = log_format
        self._log_level = log_level
        self._extra_env = dict(extra_env or {})
        self._base_env = _without_wallet_settings(base_env)
        self._python = python
        self._ready_timeout = ready_timeout
        self._stop_timeout = stop_timeout
        self._specs: dict[str, ServiceSpec] = {}
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._databases_created = False

    # --- what tests and the CLI read ---------------------------------------------------------

    @property
    def services(self) -> list[str]:
        """Service names in start order: `shard-0`, ..., `coordinator`, `gateway`."""
        return list(self._specs)

    @property
    def gateway_url(self) -> str:
        """Base URL of the public API."""
        return self._spec(GATEWAY).url

    @property
    def urls(self) -> dict[str, str]:
        """Base URL of every service, by name."""
        return {name: spec.url for name, spec in self._specs.items()}

    def log_path(self, name: str) -> Path:
        """The log file of service `name` (stdout and stderr, appended across restarts)."""
        return self.log_dir / f"{name}.log"

    def log_tail(self, name: str, lines: int = 60) -> str:
        """The last lines of a service's log."""
        return log_tail(self.log_path(name), lines)

    def is_running(self, name: str) -> bool:
        """Whether service `name` has a live process."""
        process = self._processes.get(name)
        return process is not None and exit_status(process) is None

    def token(self, sub: str, role: Role = "user", *, ttl_s: int = 3600) -> str:
        """A JWT the gateway of this cluster accepts."""
        return mint_token(secret=self.jwt_secret, sub=sub, role=role, ttl_s=ttl_s)

    def auth_headers(self, sub: str, role: Role = "user") -> dict[str, str]:
        """`Authorization: Bearer <token>` for `sub` with `role`."""
        return {"Authorization": f"Bearer {self.token(sub, role)}"}

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the databases, start every service at once, wait until all are ready."""
        if self._processes:
            raise RuntimeError("cluster already started")
        try:
            await self._create_databases()
            self._specs = {spec.name: spec for spec in plan_services(self._config())}
            self.log_dir.mkdir(parents=True, exist_ok=True)
            for spec in self._specs.values():
                self._spawn(spec)
            await await_all_or_cancel([self._wait_ready(name) for name in self._specs])
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop every service (SIGTERM, SIGKILL after the timeout); clean up if throwaway."""
        processes, self._processes = self._processes, {}
        await asyncio.gather(
            *(stop_process(p, grace_s=self._stop_timeout) for p in processes.values())
        )
        for name in processes:
            self._pid_path(name).unlink(missing_ok=True)
        if self.throwaway:
            await self._clean_up_throwaway_state()

    async def kill(self, name: str) -> None:
        """SIGKILL service `name` (and its process group) now, as a crash would."""
        process = self._processes.get(name)
        if process is None:
            raise KeyError(f"no process for service {name!r}")
        await asyncio.to_thread(kill_process, process)

    async def terminate(self, name: str) -> None:
        """Stop service `name` gracefully (SIGTERM), SIGKILL after the stop timeout."""
        process = self._processes.get(name)
        if process is not None:
            await stop_process(process, grace_s=self._stop_timeout)

    async def restart(self, name: str) -> None:
        """Start service `name` again, same environment and port; stop it first if it runs."""
        spec = self._spec(name)
        await self.terminate(name)
        self._spawn(spec)
        await self._wait_ready(name)

    # --- internals -----------------------------------------------------------------------------

    def _spec(self, name: str) -> ServiceSpec:
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(self._specs) or "none: the cluster is not started"
            raise KeyError(f"unknown service {name!r} (services: {known})") from None

    def _config(self) -> ClusterConfig:
        names = self.database_names
        return ClusterConfig(
            kafka_bootstrap=self.kafka_bootstrap,
            shard_database_urls=[postgres.database_dsn(self.admin_dsn, n) for n in names.shards],
            coordinator_database_url=postgres.database_dsn(self.admin_dsn, names.coordinator),
            jwt_secret=self.jwt_secret,
            internal_secret=self._internal_secret,
            shard_ports=[free_port() for _ in names.shards],
            coordinator_port=free_port(),
            gateway_port=self._gateway_port or free_port(),
            topic_prefix=self.topic_prefix,
            topic_partitions=self._topic_partitions,
            log_format=self._log_format,
            log_level=self._log_level,
            extra_env=self._extra_env,
        )

    async def _create_databases(self) -> None:
        exist_ok = self._databases_given or not self.throwaway
        self._databases_created = True
        await asyncio.gather(
            *(
                postgres.create_database(self.admin_dsn, name, exist_ok=exist_ok)
                for name in self.database_names.all
            )
        )

    def _pid_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.pid"

    def _spawn(self, spec: ServiceSpec) -> None:
        # A service left running by a killed `wallet run` would still hold its port.
        reap_stale_process(self._pid_path(spec.name), must_contain=f"-m {spec.module}")
        env = {**self._base_env, "PYTHONUNBUFFERED": "1", **spec.env}
        process = spawn(
            [self._python, "-m", spec.module], log_path=self.log_path(spec.name), env=env
        )
        self._processes[spec.name] = process
        write_pid_file(self._pid_path(spec.name), process.pid)

    async def _wait_ready(self, name: str) -> None:
        spec = self._specs[name]
        async with httpx.AsyncClient(timeout=2.0) as client:
            try:
                await wait_until_ready(
                    self._processes[name],
                    lambda: _answers_ready(client, spec.url),
                    what=f"{name} at {spec.url}",
                    timeout_s=self._ready_timeout,
                    interval_s=0.1,
                    logs=lambda: f"{self.log_path(name)}:\n{self.log_tail(name)}",
                )
            except (ProcessExitedError, TimeoutError) as error:
                raise ServiceStartError(str(error)) from error

    async def _clean_up_throwaway_state(self) -> None:
        # Best effort: a failed clean-up must not hide the outcome of the test it follows.
        if self._databases_created:
            self._databases_created = False
            for name in self.database_names.all:
                with _logged_failure(f"drop database {name}"):
                    await postgres.drop_database(self.admin_dsn, name)
        with _logged_failure(f"delete topics {self.topic_prefix}*"):
            await delete_topics_with_prefix(self.kafka_bootstrap, self.topic_prefix)


async def start_servers(
    stack: contextlib.AsyncExitStack, base_dir: Path, *, for_faults: bool = False
) -> tuple[postgres.PostgresServer, KafkaBroker]:
    """A PostgreSQL (`base_dir/postgres`) and a Kafka broker (`base_dir/kafka`, on the installed
    jars), started together; `stack` stops them.

    Durable, on ports picked when they start. `for_faults`, for a run that kills and restarts
    them: both get fixed ports, so that a server started again after a crash is found where the
    services look for it, and PostgreSQL runs without fsync (the run survives process crashes,
    not power cuts: what the kernel holds is safe) but with synchronous commits: a commit the
    services were told about must survive an immediate stop or a SIGKILL of the server.
    """
    if for_faults:
        pg = postgres.PostgresServer(
            base_dir=base_dir / "postgres",
            port=free_port(),
            durable=False,
            settings={"synchronous_commit": "on"},
        )
        kafka = KafkaBroker(
            base_dir=base_dir / "kafka", port=free_port(), controller_port=free_port()
        )
    else:
        pg = postgres.PostgresServer(base_dir=base_dir / "postgres", durable=True)
        kafka = KafkaBroker(base_dir=base_dir / "kafka")
    # Stops are registered first: each is a no-op for what never started, and a start cut
    # short by Ctrl-C or by the other one failing still gets cleaned up.
    stack.push_async_callback(pg.stop)
    stack.push_async_callback(kafka.stop)
    await await_all_or_cancel([pg.start(), kafka.start()])
    return pg, kafka


async def _answers_ready(client: httpx.AsyncClient, url: str) -> bool:
    try:
        response = await client.get(f"{url}/health/ready")
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def _without_wallet_settings(base_env: Mapping[str, str] | None) -> dict[str, str]:
    if base_env is None:
        return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    return {key: value for key, value in base_env.items() if not key.startswith("WALLET_")}


@contextlib.contextmanager
def _logged_failure(action: str) -> Iterator[None]:
    try:
        yield
    except Exception:
        logger.warning("cluster clean-up: could not %s", action, exc_info=True)
