"""A real single-node Apache Kafka broker (KRaft) for `make run` and the tests, plus the topic
clean-up of throwaway clusters (topics are created with `wallet_shared.platform.kafka.ensure_topics`).

The broker's jars come from Maven Central (`devtools/kafka/pom.xml`, resolved with the
dependency plugin into `.local/kafka/libs`), so no Docker and no tarball download is needed:

    python -m wallet_devtools.kafka install        # once; quick when already there
    async with KafkaBroker(base_dir=Path(".local/run/kafka")) as broker:
        await ensure_topics(broker.bootstrap, ["demo"], partitions=2)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import shutil
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from wallet_shared.platform.lifecycle import StartStop

from wallet_devtools.paths import KAFKA_LIBS_DIR, KAFKA_POM
from wallet_devtools.processes import (
    free_port,
    kill_process,
    log_tail,
    port_is_open,
    reap_stale_process,
    spawn,
    stop_process,
    wait_until_ready,
    write_pid_file,
)

# Kept in step with devtools/kafka/pom.xml; checked against aiokafka 0.14 (idempotent producer,
# consumer groups, admin client).
KAFKA_VERSION = "3.9.2"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
_INSTALLED_MARKER = ".installed"
_UNKNOWN_TOPIC = 3


class KafkaNotInstalledError(RuntimeError):
    """The broker jars are missing or Java/Maven are not available."""


# --- installing the broker jars -------------------------------------------------------------


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def kafka_installed(*, libs_dir: Path = KAFKA_LIBS_DIR, pom: Path = KAFKA_POM) -> bool:
    """Whether `libs_dir` holds a complete copy of the jars that `pom` declares."""
    marker = libs_dir / _INSTALLED_MARKER
    return marker.is_file() and marker.read_text().strip() == _pom_digest(pom)


def install_kafka(
    *, libs_dir: Path = KAFKA_LIBS_DIR, pom: Path = KAFKA_POM, quiet: bool = True
) -> Path:
    """Resolve the broker jars with Maven into `libs_dir` unless they are there already.

    The jars land in a sibling folder first and are moved in place at the end, so an
    interrupted download never looks complete. The marker holds the pom's digest: editing the
    pom (a version bump) triggers a fresh resolve.
    """
    if kafka_installed(libs_dir=libs_dir, pom=pom):
        return libs_dir
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaNotInstalledError("Maven (mvn) not found; run scripts/bootstrap.sh")
    staging = libs_dir.with_name(libs_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        mvn,
        *("-B", "-f", str(pom), f"{DEPENDENCY_PLUGIN}:copy-dependencies"),
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]
    # Maven prints colour codes even with -q -B: when quiet, its output is shown on failure only.
    resolved = subprocess.run(  # noqa: S603 - fixed command
        command, stdin=subprocess.DEVNULL, capture_output=quiet, text=True, check=False
    )
    if resolved.returncode != 0:
        output = "\n".join((resolved.stdout or "").splitlines()[-40:])
        raise KafkaNotInstalledError(f"Maven could not resolve {pom}:\n{output}")
    (staging / _INSTALLED_MARKER).write_text(_pom_digest(pom) + "\n")
    shutil.rmtree(libs_dir, ignore_errors=True)
    staging.rename(libs_dir)
    return libs_dir


# --- the broker ------------------------------------------------------------------------------


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as Kafka's Uuid)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def storage_format_args(cluster_id: str, properties_path: Path) -> list[str]:
    """Arguments of `kafka.tools.StorageTool` that format the storage for `cluster_id`.

    The id is glued to its option: a URL-safe base64 id may begin with `-` (one in 64 does), and
    as a separate argument the tool would read it as an option and refuse to start.
    """
    return [
        "format",
        "--ignore-formatted",
        f"--cluster-id={cluster_id}",
        f"--config={properties_path}",
    ]


class KafkaBroker(StartStop):
    """A single-node KRaft broker (broker and controller in one JVM) under `base_dir`.

    Data (`data/`) is kept between runs: a broker started again on the same folder keeps its
    topics and committed offsets; the storage is formatted only the first time.
    """

    def __init__(
        self,
        *,
        base_dir: Path,
        libs_dir: Path = KAFKA_LIBS_DIR,
        port: int | None = None,
        controller_port: int | None = None,
        heap: str = "512m",
        settings: Mapping[str, str] | None = None,
        startup_timeout: float = 120.0,
        stop_timeout: float = 30.0,
        java: str = "java",
    ) -> None:
        if startup_timeout <= 0 or stop_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self._base_dir = base_dir.resolve()
        self._libs_dir = libs_dir.resolve()
        self._requested_ports = (port, controller_port)
        self._heap = heap
        self._settings = dict(settings or {})
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._java = java
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    @property
    def bootstrap(self) -> str:
        """`host:port` of the PLAINTEXT listener, for `bootstrap_servers`."""
        if self._port is None:
            raise RuntimeError("Kafka broker is not started")
        return f"127.0.0.1:{self._port}"

    @property
    def data_dir(self) -> Path:
        """The broker's `log.dirs`."""
        return self._base_dir / "data"

    @property
    def log_path(self) -> Path:
        """The broker's own log (log4j); the JVM's stdout and stderr go to `broker.out`."""
        return self._base_dir / "logs" / "server.log"

    @property
    def _properties_path(self) -> Path:
        return self._base_dir / "server.properties"

    @property
    def _out_path(self) -> Path:
        return self._base_dir / "broker.out"

    @property
    def _pid_path(self) -> Path:
        return self._base_dir / "kafka.pid"

    async def start(self) -> str:
        """Write the configuration, format storage once, start the JVM, wait until it serves."""
        if self._process is not None:
            raise RuntimeError("Kafka broker already started")
        if not (self._libs_dir / _INSTALLED_MARKER).is_file():
            raise KafkaNotInstalledError(
                f"no broker jars in {self._libs_dir}; run `python -m wallet_devtools.kafka install`"
            )
        self._base_dir.mkdir(parents=True, exist_ok=True)
        # An orphan broker from a killed run would hold the lock on the data folder.
        await asyncio.to_thread(
            reap_stale_process, self._pid_path, must_contain=str(self._properties_path)
        )
        port, controller_port = (p or free_port() for p in self._requested_ports)
        self._write_config(port, controller_port)
        await asyncio.to_thread(self._format_once)
        self._process = spawn(
            self._java_command("kafka.Kafka", str(self._properties_path)),
            log_path=self._out_path,
            cwd=self._base_dir,
        )
        write_pid_file(self._pid_path, self._process.pid)
        self._port = port
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        return self.bootstrap

    async def stop(self) -> None:
        """SIGTERM (the broker shuts down cleanly), SIGKILL if it has not ended in time."""
        process, self._process = self._process, None
        if process is not None:
            await stop_process(process, grace_s=self._stop_timeout)
        self._pid_path.unlink(missing_ok=True)
        self._port = None

    async def kill(self) -> None:
        """SIGKILL the broker now, as a crash would (no controlled shutdown, no flush).

        `start()` brings it back on the same data (the broker recovers its logs); construct
        the broker with `port` and `controller_port` for it to keep its address.
        """
        process, self._process = self._process, None
        if process is None:
            raise RuntimeError("Kafka broker is not started")
        await asyncio.to_thread(kill_process, process)
        self._pid_path.unlink(missing_ok=True)
        self._port = None

    async def _serves(self) -> bool:
        assert self._port is not None
        return port_is_open(self._port) and await _broker_answers(self.bootstrap)

    def _java_command(self, main_class: str, *args: str) -> list[str]:
        return [
            self._java,
            f"-Xmx{self._heap}",
            f"-Xms{self._heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration={(self._base_dir / 'log4j.properties').as_uri()}",
            f"-Dkafka.logs.dir={self.log_path.parent}",
            "-cp",
            f"{self._libs_dir}/*",  # the JVM expands the wildcard itself
            main_class,
            *args,
        ]

    def _write_config(self, port: int, controller_port: int) -> None:
        properties = self._server_properties(port, controller_port)
        text = "".join(f"{key}={value}\n" for key, value in properties.items())
        self._properties_path.write_text(text)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        (self._base_dir / "log4j.properties").write_text(_log4j_properties(self.log_path))

    def _server_properties(self, port: int, controller_port: int) -> dict[str, str]:
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "delete.topic.enable": "true",
            # One broker: internal topics cannot have more replicas than that.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "10",
            # Consumers joining a fresh group should get partitions at once, not after 3 s.
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "4",
        }
        return properties | self._settings

    def _format_once(self) -> None:
        if (self.data_dir / "meta.properties").is_file():
            return
        command = self._java_command(
            "kafka.tools.StorageTool", *storage_format_args(new_cluster_id(), self._properties_path)
        )
        with self._out_path.open("ab") as out:
            completed = subprocess.run(  # noqa: S603 - fixed command
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self._base_dir,
                check=False,
            )
        if completed.returncode != 0:
            raise RuntimeError(f"Kafka storage format failed:\n{log_tail(self._out_path)}")

    async def _wait_ready(self) -> None:
        assert self._process is not None
        await wait_until_ready(
            self._process,
            self._serves,
            what="Kafka",
            timeout_s=self._startup_timeout,
            interval_s=0.25,
            logs=lambda: (
                f"{self._out_path}:\n{log_tail(self._out_path)}\n{log_tail(self.log_path)}"
            ),
        )


def _log4j_properties(log_path: Path) -> str:
    return f"""\
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File={log_path}
log4j.appender.file.MaxFileSize=50MB
log4j.appender.file.MaxBackupIndex=3
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.controller=INFO
log4j.logger.kafka.log.LogCleaner=WARN
"""


async def _broker_answers(bootstrap: str) -> bool:
    """Whether the broker answers a metadata request and lists itself as a live broker."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        await admin.close()


# --- topics ----------------------------------------------------------------------------------


async def _started_admin(bootstrap: str) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    await admin.start()
    return admin


def _errors(response: Any, field: str) -> list[tuple[str, int, str]]:
    """(topic, error code, message) of every topic in a create/delete topics response."""
    found = []
    for entry in response.to_object().get(field, []):
        found.append((entry["topic"], entry["error_code"], entry.get("error_message") or ""))
    return found


async def list_topics(bootstrap: str) -> list[str]:
    """Names of all topics, internal ones (`__consumer_offsets`) included."""
    admin = await _started_admin(bootstrap)
    try:
        return sorted(await admin.list_topics())
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    """Delete the given topics; names that do not exist are ignored."""
    if not names:
        return
    admin = await _started_admin(bootstrap)
    try:
        response = await admin.delete_topics(list(names))
    finally:
        await admin.close()
    failed = [e for e in _errors(response, "topic_error_codes") if e[1] not in (0, _UNKNOWN_TOPIC)]
    if failed:
        raise RuntimeError(f"could not delete topics: {failed}")


async def delete_topics_with_prefix(bootstrap: str, prefix: str) -> list[str]:
    """Delete every topic whose name starts with `prefix` (which must not be empty)."""
    if not prefix:
        raise ValueError("refusing to delete topics with an empty prefix (that is all of them)")
    doomed = [name for name in await list_topics(bootstrap) if name.startswith(prefix)]
    await delete_topics(bootstrap, doomed)
    return doomed


# --- command line ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m wallet_devtools.kafka install|start`: fetch the jars, or run a broker."""
    parser = argparse.ArgumentParser(prog="python -m wallet_devtools.kafka")
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install", help=f"resolve the Kafka {KAFKA_VERSION} jars")
    install.add_argument("--libs-dir", type=Path, default=KAFKA_LIBS_DIR)
    install.add_argument("--verbose", action="store_true", help="show Maven's output")
    start = commands.add_parser("start", help="run a broker in the foreground until Ctrl-C")
    start.add_argument("--base-dir", type=Path, required=True)
    start.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    if args.command == "install":
        install_kafka(libs_dir=args.libs_dir, quiet=not args.verbose)
        return 0
    try:
        return asyncio.run(_serve(args.base_dir, args.port))
    except KeyboardInterrupt:  # asyncio.run re-raises Ctrl-C once the broker is stopped
        return 0


async def _serve(base_dir: Path, port: int | None) -> int:
    install_kafka()
    async with KafkaBroker(base_dir=base_dir, port=port) as broker:
        print(f"Kafka {KAFKA_VERSION} on {broker.bootstrap} (Ctrl-C stops it)", flush=True)
        # Ctrl-C cancels this wait; leaving the block stops the server.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
