"""The deployment files agree with the code: docker-compose.yml, the local launcher (`make run`,
the e2e cluster), Prometheus, the alert rules and the Grafana dashboard.

No Docker is needed: the files are parsed and compared with the settings classes the services
read their environment with, and with the metric names the services export.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from gateway.settings import GatewaySettings
from pydantic_settings import BaseSettings
from transfer_coordinator.settings import CoordinatorSettings
from wallet_devtools.layout import ClusterConfig, plan_services
from wallet_shard.settings import ShardSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

SETTINGS_BY_MODULE: dict[str, type[BaseSettings]] = {
    "wallet_shard": ShardSettings,
    "transfer_coordinator": CoordinatorSettings,
    "gateway": GatewaySettings,
}
# The metric names the services export (the project's metrics contract).
EXPORTED_METRICS = frozenset(
    {
        "wallet_http_requests_total",
        "wallet_http_request_duration_seconds",
        "wallet_transfers_total",
        "wallet_transfer_duration_seconds",
        "wallet_outbox_published_total",
        "wallet_outbox_backlog",
        "wallet_outbox_parked_total",
        "wallet_consumer_messages_total",
        "wallet_dead_letters_total",
        "wallet_ledger_postings_total",
        "wallet_webhook_deliveries_total",
        "wallet_webhook_attempts_total",
        "wallet_webhook_deliveries_pending",
        "wallet_webhook_oldest_pending_seconds",
        "wallet_risk_flags_total",
        "wallet_audit_records_total",
        # state, sampled off the money path (wallet_shared.platform.monitoring)
        "wallet_consumer_lag_messages",
        "wallet_outbox_oldest_age_seconds",
        "wallet_db_pool_max_connections",
        "wallet_db_pool_connections_in_use",
        "wallet_db_pool_waiting_acquires",
        "wallet_dead_letters_unreplayed",
        "wallet_sagas_in_flight",
        "wallet_saga_oldest_age_seconds",
        "wallet_saga_past_deadline_seconds",
        "wallet_loop_up",
        "wallet_loop_heartbeat_timestamp_seconds",
        # the gateway's, set by each run of the integrity check
        "wallet_integrity_consistent",
        "wallet_integrity_checked_timestamp_seconds",
    }
)
# Alert rules may also use Prometheus' own `up`.
ALERTABLE_METRICS = EXPORTED_METRICS | {"up"}
_HISTOGRAM_SERIES = re.compile(r"_(bucket|sum|count)$")


# --- helpers ---------------------------------------------------------------------------------


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def env_names(settings: type[BaseSettings]) -> set[str]:
    """The environment variable names a pydantic-settings class reads (upper case)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names = set()
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif alias is not None and hasattr(alias, "choices"):
            names |= {choice.upper() for choice in alias.choices if isinstance(choice, str)}
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def _default_of(value: str) -> str:
    """`${VAR:-default}` as Docker Compose resolves it when VAR is unset."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


def _module(service: dict[str, Any]) -> str | None:
    command = service.get("command") or []
    if len(command) >= 3 and command[:2] == ["python", "-m"]:
        return str(command[2])
    return None


def _port_of(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def _settings_from(
    monkeypatch: pytest.MonkeyPatch, settings: type[BaseSettings], env: dict[str, str]
) -> BaseSettings:
    for key in [k for k in os.environ if k.startswith("WALLET_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return settings()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = _load_yaml(ROOT / "docker-compose.yml")
    return document


@pytest.fixture(scope="module")
def wallet_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The compose services that run one of our modules, by compose name."""
    return {
        name: service
        for name, service in compose["services"].items()
        if _module(service) in SETTINGS_BY_MODULE
    }


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {key: _default_of(str(value)) for key, value in service["environment"].items()}


def _service_port(service: dict[str, Any]) -> int:
    env = _env(service)
    module = _module(service)
    variable = {
        "wallet_shard": "WALLET_SHARD_PORT",
        "transfer_coordinator": "WALLET_COORDINATOR_PORT",
        "gateway": "WALLET_GATEWAY_PORT",
    }[str(module)]
    return int(env[variable])


# --- docker-compose.yml ----------------------------------------------------------------------


def test_compose_runs_the_whole_topology(compose: dict[str, Any]) -> None:
    expected = {"postgres", "kafka", "shard-0", "shard-1", "coordinator", "gateway"}
    assert expected <= set(compose["services"])
    assert compose["services"]["kafka"]["image"].startswith("apache/kafka:3.9.")


def test_compose_env_names_are_settings_fields(
    wallet_services: dict[str, dict[str, Any]],
) -> None:
    for name, service in wallet_services.items():
        settings = SETTINGS_BY_MODULE[str(_module(service))]
        unknown = set(service["environment"]) - env_names(settings)
        assert not unknown, f"{name} sets variables {settings.__name__} does not read: {unknown}"


def test_compose_env_builds_valid_settings(
    wallet_services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for service in wallet_services.values():
        with monkeypatch.context() as patch:
            _settings_from(patch, SETTINGS_BY_MODULE[str(_module(service))], _env(service))


def test_compose_ports_urls_and_databases_agree(compose: dict[str, Any]) -> None:
    services = compose["services"]
    shard_names = sorted(n for n in services if n.startswith("shard-"))
    for shard_id, name in enumerate(shard_names):
        env = _env(services[name])
        assert env["WALLET_SHARD_ID"] == str(shard_id)
        assert f":{env['WALLET_SHARD_PORT']}/health/ready" in str(services[name]["healthcheck"])
    gateway = _env(services["gateway"])
    shard_urls = gateway["WALLET_SHARD_URLS"].split(",")
    assert [_port_of(url) for url in shard_urls] == [
        (name, int(_env(services[name])["WALLET_SHARD_PORT"])) for name in shard_names
    ]
    coordinator_port = int(_env(services["coordinator"])["WALLET_COORDINATOR_PORT"])
    assert _port_of(gateway["WALLET_COORDINATOR_URL"]) == ("coordinator", coordinator_port)
    assert services["gateway"]["ports"] == [f"127.0.0.1:8000:{gateway['WALLET_GATEWAY_PORT']}"]
    assert len(shard_names) == int(gateway["WALLET_SHARD_COUNT"])


def test_compose_databases_are_created_by_the_init_script(
    wallet_services: dict[str, dict[str, Any]],
) -> None:
    init_sql = (DEPLOY / "postgres" / "init" / "01-databases.sql").read_text()
    created = set(re.findall(r"CREATE DATABASE (\w+);", init_sql))
    used = set()
    for service in wallet_services.values():
        env = _env(service)
        if "WALLET_DATABASE_URL" in env:
            url = urlsplit(env["WALLET_DATABASE_URL"])
            assert url.hostname == "postgres"
            used.add(url.path.lstrip("/"))
        assert env["WALLET_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert used == created


# --- the local launcher (make run, e2e tests) --------------------------------------------------


def _local_cluster(shard_count: int) -> ClusterConfig:
    return ClusterConfig(
        kafka_bootstrap="127.0.0.1:9092",
        shard_database_urls=[f"postgresql://p@127.0.0.1:5432/s{n}" for n in range(shard_count)],
        coordinator_database_url="postgresql://p@127.0.0.1:5432/c",
        jwt_secret="x" * 64,
        internal_secret="y" * 64,
        shard_ports=[9100 + n for n in range(shard_count)],
        coordinator_port=9200,
        gateway_port=9000,
        topic_prefix="t1.",
        topic_partitions=2,
        log_level="INFO",
    )


@pytest.mark.parametrize("shard_count", [1, 2, 3])
def test_launcher_env_builds_valid_settings(
    shard_count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for spec in plan_services(_local_cluster(shard_count)):
        settings_class = SETTINGS_BY_MODULE[spec.module]
        unknown = set(spec.env) - env_names(settings_class)
        assert not unknown, f"{spec.name} gets variables nobody reads: {unknown}"
        with monkeypatch.context() as patch:
            settings = _settings_from(patch, settings_class, dict(spec.env))
        assert settings.model_dump()["host"] == "127.0.0.1"


# --- Prometheus, alerts, Grafana -------------------------------------------------------------


def test_prometheus_scrapes_every_wallet_service(
    wallet_services: dict[str, dict[str, Any]],
) -> None:
    config = _load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    targets = {
        target
        for job in config["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    expected = {f"{name}:{_service_port(svc)}" for name, svc in wallet_services.items()}
    assert targets == expected
    assert all(
        job.get("metrics_path", "/metrics") == "/metrics" for job in config["scrape_configs"]
    )
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]


def _metric_names(expression: str) -> set[str]:
    names = set(re.findall(r"\b(wallet_[a-z0-9_]+|up)\b", expression))
    return {_HISTOGRAM_SERIES.sub("", name) for name in names}


def test_alert_rules_cover_the_failure_modes_with_known_metrics() -> None:
    rules = [
        rule
        for group in _load_yaml(DEPLOY / "prometheus" / "alerts.yml")["groups"]
        for rule in group["rules"]
    ]
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        unknown = _metric_names(rule["expr"]) - ALERTABLE_METRICS
        assert not unknown, f"{rule['alert']} uses unknown metrics {unknown}"
    used = set().union(*(_metric_names(rule["expr"]) for rule in rules))
    assert {
        "up",
        "wallet_dead_letters_total",
        "wallet_outbox_backlog",
        "wallet_transfers_total",
        "wallet_integrity_consistent",
        "wallet_consumer_lag_messages",
        "wallet_outbox_oldest_age_seconds",
        "wallet_db_pool_waiting_acquires",
        "wallet_saga_past_deadline_seconds",
        "wallet_loop_heartbeat_timestamp_seconds",
        "wallet_dead_letters_unreplayed",
    } <= used


def _expressions(node: Any) -> Iterator[str]:
    """Every PromQL string of a dashboard: panel targets and templating queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"expr", "definition", "query"} and isinstance(value, str):
                yield value
            else:
                yield from _expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from _expressions(item)


def test_grafana_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "wallet.json").read_text())
    expressions = list(_expressions(dashboard))
    used = set().union(*(_metric_names(e) for e in expressions))
    assert used <= EXPORTED_METRICS, used - EXPORTED_METRICS
    assert used == EXPORTED_METRICS, f"no panel for {EXPORTED_METRICS - used}"
    datasource = _load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    uid = datasource["datasources"][0]["uid"]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert panels
    assert all(panel["datasource"]["uid"] == uid for panel in panels)
