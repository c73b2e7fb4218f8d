"""The alert rules and the dashboard, checked by Prometheus' own tool and against what Grafana's
provisioning expects (no Prometheus or Grafana running: promtool is a plain program).

- `promtool check rules` accepts alerts.yml;
- `promtool test rules` passes alerts_test.yml, which has, for every alert, a case where it fires
  and one where it stays silent;
- every alert carries a severity, a summary and runbook text;
- the dashboard names the provisioned datasource by uid, its panel ids are unique, and it sits
  where the dashboard provider reads it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"


def _promtool() -> str:
    path = shutil.which("promtool")
    # Installed by scripts/bootstrap.sh (Debian's `prometheus` package) like PostgreSQL is.
    assert path is not None, "promtool not found: run scripts/bootstrap.sh (apt prometheus)"
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def _alerts() -> list[dict[str, Any]]:
    document = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def test_promtool_accepts_the_alert_rules() -> None:
    result = _run(_promtool(), "check", "rules", str(PROMETHEUS / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in result.stdout


def test_every_alert_passes_its_unit_tests() -> None:
    result = _run(_promtool(), "test", "rules", str(PROMETHEUS / "alerts_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())
    assert tests["rule_files"] == ["alerts.yml"]
    fires: set[str] = set()
    silent: set[str] = set()
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            (fires if check["exp_alerts"] else silent).add(check["alertname"])
    names = {rule["alert"] for rule in _alerts()}
    assert names - fires == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested staying silent"
    assert (fires | silent) <= names, "tests of alerts that do not exist"


@pytest.mark.parametrize("alert", _alerts(), ids=lambda rule: str(rule["alert"]))
def test_every_alert_tells_what_to_do(alert: dict[str, Any]) -> None:
    assert alert["labels"]["severity"] in {"warning", "critical"}
    annotations = alert["annotations"]
    assert annotations["summary"].strip()
    # The runbook: what to look at and what to do, for whoever is paged at 3 a.m.
    assert len(annotations["runbook"].split()) >= 10, annotations["runbook"]


def test_issue_10_failure_modes_each_have_an_alert() -> None:
    expressions = {rule["alert"]: rule["expr"] for rule in _alerts()}
    wanted = {
        "WalletConsumerLagGrowing": "wallet_consumer_lag_messages",
        "WalletOutboxMessagesOld": "wallet_outbox_oldest_age_seconds",
        "WalletDatabasePoolExhausted": "wallet_db_pool_waiting_acquires",
        "WalletSagaPastDeadline": "wallet_saga_past_deadline_seconds",
        "WalletLoopSilent": "wallet_loop_heartbeat_timestamp_seconds",
        "WalletDeadLettersUnreplayed": "wallet_dead_letters_unreplayed",
        "WalletHighServerErrorRate": 'status=~"5.."',
        "WalletIntegrityInconsistent": "wallet_integrity_consistent",
    }
    for alert, needle in wanted.items():
        assert needle in expressions[alert], alert


# --- Grafana provisioning ----------------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((GRAFANA / "dashboards" / "wallet.json").read_text())
    return document


def _all_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    found = []
    for panel in panels:
        found.append(panel)
        found += _all_panels(panel.get("panels", []))
    return found


def test_dashboard_uses_the_provisioned_datasource_and_unique_panel_ids() -> None:
    provisioning = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    [datasource] = provisioning["datasources"]
    assert datasource["type"] == "prometheus"
    dashboard = _dashboard()
    panels = _all_panels(dashboard["panels"])
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    assert all(isinstance(panel_id, int) and panel_id > 0 for panel_id in ids)
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": datasource["uid"]}, panel[
            "title"
        ]
        assert panel["targets"], f"{panel['title']} has no query"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource["uid"], panel["title"]
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"]["uid"] == datasource["uid"]


def test_dashboard_fits_grafana_file_provisioning() -> None:
    dashboard = _dashboard()
    # A provisioned dashboard is identified by uid (stable links, no duplicates on reload) and
    # must not carry a database id.
    assert dashboard["uid"]
    assert len(dashboard["uid"]) <= 40
    assert "id" not in dashboard or dashboard["id"] is None
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "wallet.yml").read_text())
    [entry] = provider["providers"]
    assert entry["type"] == "file"
    # docker-compose.yml mounts deploy/grafana/dashboards at the provider's path.
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{entry['options']['path']}:ro" in mounts
    for panel in _all_panels(dashboard["panels"]):
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
