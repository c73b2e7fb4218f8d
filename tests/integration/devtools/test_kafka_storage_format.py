"""Kafka's own StorageTool formats a broker's storage with an id that begins with `-` (one id
in 64 does) when given the arguments the launcher gives it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from wallet_devtools.kafka import install_kafka, storage_format_args
from wallet_devtools.paths import KAFKA_LIBS_DIR


def test_the_real_storage_tool_takes_an_id_that_begins_with_a_dash(tmp_path: Path) -> None:
    install_kafka(libs_dir=KAFKA_LIBS_DIR)  # quick when scripts/bootstrap.sh fetched the jars
    data = tmp_path / "data"
    properties = tmp_path / "server.properties"
    properties.write_text(
        "process.roles=broker,controller\n"
        "node.id=1\n"
        "controller.quorum.voters=1@127.0.0.1:9\n"
        "listeners=PLAINTEXT://127.0.0.1:8,CONTROLLER://127.0.0.1:9\n"
        "controller.listener.names=CONTROLLER\n"
        f"log.dirs={data}\n"
    )
    cluster_id = "-AbCdEfGhIjKlMnOpQrStUw"
    completed = subprocess.run(
        [
            *("java", "-cp", f"{KAFKA_LIBS_DIR}/*", "kafka.tools.StorageTool"),
            *storage_format_args(cluster_id, properties),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"cluster.id={cluster_id}" in (data / "meta.properties").read_text()
