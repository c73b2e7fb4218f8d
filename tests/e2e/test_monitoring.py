"""Monitoring proven on the real thing: a real Prometheus scrapes a running system through a small
workload, then every query of every Grafana panel must return data, every alert rule must
evaluate without error, and the dead-letter alert must fire for the dead letter the workload
left.

A panel that shows nothing is a defect: it is what an operator looks at when paged. Queries run
as Grafana runs them with every service selected (`$service` = `.*`), over the workload's time
range, and each must give at least one number (not NaN).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from wallet_devtools.cluster import WalletCluster
from wallet_devtools.layout import COORDINATOR, GATEWAY
from wallet_shared.contracts.topics import Topics

from tests.e2e.client import Gateway, expect, user_on_shard
from tests.e2e.prometheus import Prometheus, finite_points
from tests.e2e.test_dead_letters import produce_poison

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "wallet.json"
# Grafana's $__rate_interval is at least four scrape intervals; the test scrapes every second.
RATE_INTERVAL = "10s"
WAIT_S = 120.0

pytestmark = pytest.mark.cluster(env={"WALLET_METRICS_SAMPLE_INTERVAL_S": "1"})


@pytest_asyncio.fixture
async def prometheus(cluster: WalletCluster, tmp_path: Path) -> AsyncIterator[Prometheus]:
    urls = cluster.urls
    jobs = {
        "wallet-gateway": [urls[GATEWAY]],
        "wallet-coordinator": [urls[COORDINATOR]],
        "wallet-shard": [url for name, url in urls.items() if name.startswith("shard-")],
    }
    server = Prometheus(workdir=tmp_path / "prometheus", jobs=jobs)
    async with httpx.AsyncClient(timeout=10.0) as client:
        await server.start(client)
    try:
        yield server
    finally:
        await server.stop()


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every panel, variables as Grafana fills them."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", RATE_INTERVAL)
            expr = expr.replace("$service", ".*")  # the variable's "All" value
            assert "$" not in expr, f"unknown variable in {panel['title']}: {expr}"
            queries.append((f"{panel['title']} [{target['refId']}]", expr))
    return queries


async def eventually(check: Callable[[], Awaitable[str | None]], what: str) -> None:
    """Retry `check` (None when satisfied, else what is still missing) until WAIT_S runs out."""
    deadline = time.monotonic() + WAIT_S
    while (missing := await check()) is not None:
        assert time.monotonic() < deadline, f"{what}: {missing}"
        await asyncio.sleep(1.0)


async def drive_workload(cluster: WalletCluster, gw: Gateway, kafka_bootstrap: str) -> None:
    """A little of everything the dashboard shows: wallets on both shards, deposits, transfers
    within and between shards, one refused for funds, one that trips a risk rule, a freeze (an
    audit record), an integrity run and a poison command (a dead letter)."""
    alice = gw.user(user_on_shard(0, "alice"))
    bob = gw.user(user_on_shard(1, "bob"))
    a1 = (await alice.create_wallet())["id"]
    a2 = (await alice.create_wallet())["id"]
    b1 = (await bob.create_wallet())["id"]
    await alice.deposit(a1, 50_000)
    await bob.deposit(b1, 20_000)
    transfers = [(a1, b1, 1_000), (b1, a1, 500), (a1, a2, 700), (a1, b1, 10_000_000)]
    for source, destination, amount in transfers:
        api = alice if source in (a1, a2) else bob
        created = expect(await api.transfer_raw(source, destination, amount), 202)
        await api.await_final(created["id"])
    # A deposit and a transfer of exactly that amount straight after: a risk flag.
    await alice.deposit(a2, 4_321)
    created = expect(await alice.transfer_raw(a2, b1, 4_321), 202)
    await alice.await_final(created["id"])
    await gw.admin().freeze(a2)
    await produce_poison(kafka_bootstrap, Topics(prefix=cluster.topic_prefix).shard_commands(0))
    report = await gw.auditor().integrity()
    assert report["consistent"], report


async def test_every_panel_query_returns_data_from_a_running_system(
    cluster: WalletCluster, gw: Gateway, kafka_bootstrap: str, prometheus: Prometheus
) -> None:
    async with httpx.AsyncClient(timeout=30.0) as client:

        async def targets_down() -> str | None:
            active = (await prometheus.api(client, "targets"))["activeTargets"]
            down = [t["scrapeUrl"] for t in active if t["health"] != "up"]
            return None if len(active) == len(cluster.services) and not down else f"{down}"

        await eventually(targets_down, "targets not scraped")
        started = time.time() - 5
        await drive_workload(cluster, gw, kafka_bootstrap)

        # The dashboard's `service` variable lists every service that served HTTP.
        async def services_missing() -> str | None:
            values = await prometheus.api(
                client, "label/service/values", **{"match[]": "wallet_http_requests_total"}
            )
            missing = {"gateway", "transfer-coordinator", "wallet-shard-0"} - set(values)
            return f"{sorted(missing)} of {values}" if missing else None

        await eventually(services_missing, "the $service variable")

        queries = panel_queries()
        assert len(queries) >= 30
        empty: dict[str, str] = dict(queries)

        async def panels_without_data() -> str | None:
            for title, expr in list(empty.items()):
                matrix = await prometheus.api(
                    client, "query_range", query=expr, start=started, end=time.time(), step=1
                )
                if finite_points(matrix["result"]):
                    del empty[title]
            return "\n".join(f"{title}: {expr}" for title, expr in empty.items()) or None

        await eventually(panels_without_data, "panels that show nothing")

        # Every alert rule evaluates on real series without an error.
        async def rules_not_ok() -> str | None:
            groups = (await prometheus.api(client, "rules", type="alert"))["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            bad = [f"{r['name']}: {r.get('lastError')}" for r in rules if r["health"] != "ok"]
            return "; ".join(bad) or None if rules else "no rules loaded"

        await eventually(rules_not_ok, "alert rules failing")

        # The poison command left a dead letter: the alert that has no `for` fires at once.
        async def dead_letter_alert_missing() -> str | None:
            alerts = (await prometheus.api(client, "alerts"))["alerts"]
            firing = {
                (a["labels"]["alertname"], a["labels"].get("topic", ""))
                for a in alerts
                if a["state"] == "firing"
            }
            topic = Topics(prefix=cluster.topic_prefix).shard_commands(0)
            return None if ("WalletDeadLetters", topic) in firing else f"firing: {firing}"

        await eventually(dead_letter_alert_missing, "WalletDeadLetters not firing")

        # And nothing that would page anyone on a healthy system does.
        alerts = (await prometheus.api(client, "alerts"))["alerts"]
        unexpected = [
            a["labels"]["alertname"]
            for a in alerts
            if not re.fullmatch(r"WalletDeadLetters(Unreplayed)?", a["labels"]["alertname"])
        ]
        assert unexpected == [], alerts
