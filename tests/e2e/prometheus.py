"""A real Prometheus server (Debian's `prometheus`, installed by scripts/bootstrap.sh) for one
test: listening on 127.0.0.1 only, its data in a temporary folder, scraping the given targets
every second with the project's alert rules loaded."""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml
from wallet_devtools.processes import free_port, log_tail, spawn, stop_process, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
ALERT_RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"


class Prometheus:
    """`start()` it, query it with `query_range()`, `stop()` it."""

    def __init__(self, *, workdir: Path, jobs: Mapping[str, list[str]]) -> None:
        """`jobs`: scrape job name → base URLs of the services it scrapes (their /metrics)."""
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._jobs = dict(jobs)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    def _write_config(self) -> Path:
        rules = self.workdir / "alerts.yml"
        shutil.copyfile(ALERT_RULES, rules)
        config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": [str(rules)],
            "scrape_configs": [
                {
                    "job_name": job,
                    "metrics_path": "/metrics",
                    "static_configs": [{"targets": [urlsplit(url).netloc for url in urls]}],
                }
                for job, urls in self._jobs.items()
            ],
        }
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        return path

    async def start(self, client: httpx.AsyncClient) -> None:
        binary = shutil.which("prometheus")
        assert binary is not None, "prometheus not found: run scripts/bootstrap.sh (apt prometheus)"
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        self._process = spawn(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            log_path=self.log_path,
            cwd=self.workdir,
        )

        async def ready() -> bool:
            try:
                return (await client.get(f"{self.url}/-/ready")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_until_ready(
            self._process,
            ready,
            what="prometheus",
            timeout_s=60.0,
            interval_s=0.2,
            logs=lambda: log_tail(self.log_path),
        )

    async def stop(self) -> None:
        if self._process is not None:
            await stop_process(self._process)
            self._process = None

    async def api(self, client: httpx.AsyncClient, path: str, **params: Any) -> Any:
        """The `data` of a successful answer of the HTTP API (`/api/v1/<path>`)."""
        response = await client.get(f"{self.url}/api/v1/{path}", params=params)
        body = response.json()
        assert response.status_code == 200, body
        assert body["status"] == "success", body
        return body["data"]


def finite_points(matrix: list[dict[str, Any]]) -> int:
    """How many of a range query's values are numbers (not NaN, not infinite)."""
    return sum(
        1 for series in matrix for _, value in series["values"] if math.isfinite(float(value))
    )
