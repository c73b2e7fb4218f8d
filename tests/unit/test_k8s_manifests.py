"""deploy/k8s agrees with Kubernetes and with the code, offline.

The production overlay is rendered (tests/unit/kustomize.py, the same objects as `kubectl
kustomize`), then:
- every core object (Deployment, Service, PodDisruptionBudget, Job, CronJob, ConfigMap, Secret,
  Namespace) validates against the Kubernetes schemas of kubernetes-validate, strictly (unknown
  fields are errors);
- the operators' objects (Strimzi Kafka, KafkaNodePool, KafkaTopic; CloudNativePG Cluster) get a
  structural check: the JSON Schemas below hold the fields we use, with the types and required
  fields of the operators' CRDs (kafka.strimzi.io/v1beta2, postgresql.cnpg.io/v1); the CRDs
  themselves are not vendored;
- every WALLET_* variable a container gets is one its service's settings class reads, and the
  whole environment builds valid settings; ports, probes, Services, PodDisruptionBudgets,
  database secrets and the topics agree with what the code uses (its settings classes and topic
  functions are the source of truth).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import jwt
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import typer
from gateway.adapters.tokens import TokenKeyError, TokenVerifier
from gateway.settings import GatewaySettings
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from transfer_coordinator.bootstrap import coordinator_topics
from transfer_coordinator.settings import CoordinatorSettings
from wallet_devtools import cli
from wallet_shard.bootstrap import shard_topics
from wallet_shard.settings import ShardSettings
from wallet_shared.platform.migrate import MIGRATIONS

from tests.unit.kustomize import Manifest, pod_spec, render
from tests.unit.test_deploy_config import SETTINGS_BY_MODULE, env_names

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAY = K8S / "overlays" / "production"
SECRET_FILES = ("secrets.env", "integrity-token.env")
KUBERNETES_VERSION = "1.32.0"

CORE_KINDS = frozenset(
    {"Namespace", "ConfigMap", "Secret", "Service", "Deployment", "PodDisruptionBudget"}
    | {"Job", "CronJob"}
)

# --- the operators' objects: the shape we rely on ----------------------------------------------

_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}
_QUANTITY = {"type": ["string", "integer"], "pattern": r"^[0-9.]+([KMGTPE]i?|m)?$"}
_RESOURCES = {
    "type": "object",
    "properties": {
        "requests": {"type": "object", "additionalProperties": _QUANTITY},
        "limits": {"type": "object", "additionalProperties": _QUANTITY},
    },
    "additionalProperties": False,
}


def _crd(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": _NAME, "labels": {"type": "object"}},
            },
            "spec": spec,
        },
    }


CRD_SCHEMAS: dict[str, dict[str, Any]] = {
    "Kafka": _crd(
        "kafka.strimzi.io/v1beta2",
        "Kafka",
        {
            "type": "object",
            "required": ["kafka"],
            "properties": {
                "kafka": {
                    "type": "object",
                    "required": ["listeners"],
                    "properties": {
                        "version": {"type": "string"},
                        "metadataVersion": {"type": "string"},
                        "listeners": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["name", "port", "type", "tls"],
                                "properties": {
                                    "name": {"type": "string", "pattern": "^[a-z0-9]{1,11}$"},
                                    "port": {"type": "integer", "minimum": 9092},
                                    "type": {
                                        "enum": [
                                            "internal",
                                            "route",
                                            "loadbalancer",
                                            "nodeport",
                                            "ingress",
                                            "cluster-ip",
                                        ]
                                    },
                                    "tls": {"type": "boolean"},
                                    "networkPolicyPeers": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "podSelector": {"type": "object"},
                                                "namespaceSelector": {"type": "object"},
                                            },
                                            "additionalProperties": False,
                                        },
                                    },
                                },
                            },
                        },
                        "config": {"type": "object"},
                    },
                },
                "entityOperator": {
                    "type": "object",
                    "properties": {"topicOperator": {"type": "object"}},
                },
            },
        },
    ),
    "KafkaNodePool": _crd(
        "kafka.strimzi.io/v1beta2",
        "KafkaNodePool",
        {
            "type": "object",
            "required": ["replicas", "roles", "storage"],
            "properties": {
                "replicas": {"type": "integer", "minimum": 0},
                "roles": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"enum": ["controller", "broker"]},
                },
                "storage": {
                    "type": "object",
                    "required": ["type"],
                    "properties": {
                        "type": {"enum": ["ephemeral", "persistent-claim", "jbod"]},
                        "volumes": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["type"],
                                "properties": {
                                    "id": {"type": "integer", "minimum": 0},
                                    "type": {"enum": ["ephemeral", "persistent-claim"]},
                                    "size": {"type": "string"},
                                    "deleteClaim": {"type": "boolean"},
                                    "kraftMetadata": {"enum": ["shared"]},
                                },
                            },
                        },
                    },
                },
                "resources": _RESOURCES,
            },
        },
    ),
    "KafkaTopic": _crd(
        "kafka.strimzi.io/v1beta2",
        "KafkaTopic",
        {
            "type": "object",
            "required": ["partitions", "replicas"],
            "properties": {
                "topicName": {"type": "string"},
                "partitions": {"type": "integer", "minimum": 1},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                "config": {"type": "object"},
            },
        },
    ),
    "Cluster": _crd(
        "postgresql.cnpg.io/v1",
        "Cluster",
        {
            "type": "object",
            "required": ["instances", "storage"],
            "properties": {
                "instances": {"type": "integer", "minimum": 1},
                "primaryUpdateStrategy": {"enum": ["unsupervised", "supervised"]},
                "postgresql": {
                    "type": "object",
                    "properties": {
                        "parameters": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        }
                    },
                },
                "bootstrap": {
                    "type": "object",
                    "properties": {
                        "initdb": {
                            "type": "object",
                            "required": ["database", "owner"],
                            "properties": {
                                "database": {"type": "string"},
                                "owner": {"type": "string"},
                            },
                        }
                    },
                },
                "storage": {
                    "type": "object",
                    "required": ["size"],
                    "properties": {"size": {"type": "string"}},
                },
                "resources": _RESOURCES,
            },
        },
    ),
}


# --- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def objects() -> list[Manifest]:
    # secrets.env and integrity-token.env are never committed; their examples have the same keys.
    return render(
        OVERLAY,
        env_files={name: OVERLAY / f"{name}.example" for name in SECRET_FILES},
    )


def _of_kind(objects: list[Manifest], kind: str) -> list[Manifest]:
    return [obj for obj in objects if obj["kind"] == kind]


def _named(objects: list[Manifest], kind: str, name: str) -> Manifest:
    [found] = [obj for obj in _of_kind(objects, kind) if obj["metadata"]["name"] == name]
    return found


def _module(container: dict[str, Any]) -> str | None:
    command = container.get("command", [])
    return str(command[2]) if command[:2] == ["python", "-m"] else None


def _service_containers(objects: list[Manifest]) -> list[tuple[Manifest, dict[str, Any]]]:
    """(Deployment, container) of every container running one of the services."""
    return [
        (deployment, container)
        for deployment in _of_kind(objects, "Deployment")
        for container in deployment["spec"]["template"]["spec"]["containers"]
        if _module(container) in SETTINGS_BY_MODULE
    ]


def _config(objects: list[Manifest]) -> dict[str, str]:
    data: dict[str, str] = _named(objects, "ConfigMap", "wallet-config")["data"]
    return data


def _environment(objects: list[Manifest], container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet builds it, with each secret reference replaced
    by a stand-in of the right shape (secrets are not in the repository)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        env |= _named(objects, "ConfigMap", name)["data"]
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            ref = variable["valueFrom"]["secretKeyRef"]
            env[variable["name"]] = _stand_in(objects, ref["name"], ref["key"])
    return env


def _stand_in(objects: list[Manifest], secret: str, key: str) -> str:
    """What Kubernetes would put in the variable: a generated Secret's key, or the `uri` of the
    `<cluster>-app` Secret CloudNativePG creates for each Cluster."""
    clusters = {c["metadata"]["name"]: c for c in _of_kind(objects, "Cluster")}
    if secret.endswith("-app") and secret.removesuffix("-app") in clusters:
        assert key == "uri", f"{secret}: CloudNativePG's app secret has the URL under `uri`"
        cluster = clusters[secret.removesuffix("-app")]
        initdb = cluster["spec"]["bootstrap"]["initdb"]
        host = f"{cluster['metadata']['name']}-rw"
        return f"postgresql://{initdb['owner']}:x@{host}:5432/{initdb['database']}"
    generated = _named(objects, "Secret", secret)
    assert key in generated["data"], f"secret {secret} has no key {key}"
    # Distinct stand-ins per key, long enough for every secret's minimum length.
    return f"{key}-stand-in-".ljust(64, "x")


def _settings(
    monkeypatch: pytest.MonkeyPatch, settings: type[BaseSettings], env: dict[str, str]
) -> Any:
    with monkeypatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("WALLET_")]:
            patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        return settings()


# --- Kubernetes schemas ---------------------------------------------------------------------------


def test_the_overlay_renders_the_whole_system(objects: list[Manifest]) -> None:
    shard_count = int(_config(objects)["WALLET_SHARD_COUNT"])
    deployments = {d["metadata"]["name"] for d in _of_kind(objects, "Deployment")}
    shards = {f"wallet-shard-{n}" for n in range(shard_count)}
    assert deployments == {"wallet-gateway", "wallet-coordinator"} | shards
    for kind in ("Service", "PodDisruptionBudget"):
        assert {o["metadata"]["name"] for o in _of_kind(objects, kind)} == deployments, kind
    assert {c["metadata"]["name"] for c in _of_kind(objects, "Cluster")} == {
        f"{name}-db" for name in deployments - {"wallet-gateway"}
    }
    assert len(_of_kind(objects, "Kafka")) == 1
    assert len(_of_kind(objects, "Job")) == 1
    assert len(_of_kind(objects, "CronJob")) == 1
    assert {o["metadata"]["name"] for o in _of_kind(objects, "Secret")} == {
        "wallet-secrets",
        "wallet-integrity-token",
    }
    namespaced = [o for o in objects if o["kind"] != "Namespace"]
    [namespace] = _of_kind(objects, "Namespace")
    assert {o["metadata"]["namespace"] for o in namespaced} == {namespace["metadata"]["name"]}
    # No home-made StatefulSets: Kafka and PostgreSQL come from their operators.
    assert not _of_kind(objects, "StatefulSet")
    assert {o["kind"] for o in objects} <= CORE_KINDS | set(CRD_SCHEMAS)


def test_every_core_object_validates_against_the_kubernetes_schemas(
    objects: list[Manifest],
) -> None:
    core = [obj for obj in objects if obj["kind"] in CORE_KINDS]
    assert len(core) >= 15
    for obj in core:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {error.message}")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "replicas"), "two"),  # wrong type
        (("spec", "template", "spec", "containerz"), []),  # unknown field (strict)
    ],
)
def test_the_schema_validation_catches_mistakes(
    objects: list[Manifest], path: tuple[str, ...], value: object
) -> None:
    broken = copy.deepcopy(_named(objects, "Deployment", "wallet-gateway"))
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_operator_objects_have_the_shape_their_crds_require(objects: list[Manifest]) -> None:
    for obj in objects:
        if obj["kind"] in CRD_SCHEMAS:
            jsonschema.validate(obj, CRD_SCHEMAS[obj["kind"]])
    broken = copy.deepcopy(_of_kind(objects, "KafkaTopic")[0])
    broken["spec"]["partitions"] = "12"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, CRD_SCHEMAS["KafkaTopic"])


# --- agreement with the code ------------------------------------------------------------------


def test_every_variable_is_one_the_service_reads_and_builds_valid_settings(
    objects: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    containers = _service_containers(objects)
    assert len(containers) == len(_of_kind(objects, "Deployment"))
    for deployment, container in containers:
        settings_class = SETTINGS_BY_MODULE[str(_module(container))]
        env = _environment(objects, container)
        unknown = set(env) - env_names(settings_class)
        assert not unknown, f"{deployment['metadata']['name']}: nobody reads {unknown}"
        _settings(monkeypatch, settings_class, env)


def test_ports_probes_services_and_budgets_agree(
    objects: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    port_setting = {
        "wallet_shard": "shard_port",
        "transfer_coordinator": "coordinator_port",
        "gateway": "gateway_port",
    }
    for deployment, container in _service_containers(objects):
        name = deployment["metadata"]["name"]
        module = str(_module(container))
        settings = _settings(
            monkeypatch, SETTINGS_BY_MODULE[module], _environment(objects, container)
        )
        port = getattr(settings, port_setting[module])
        assert settings.host == "0.0.0.0", name
        [container_port] = container["ports"]
        assert container_port["containerPort"] == port, name
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready", name
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["port"] == container_port["name"], name
        assert container["resources"]["requests"], name
        assert container["resources"]["limits"], name
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port), name
        assert annotations["prometheus.io/path"] == "/metrics", name
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod_labels.items(), name
        service = _named(objects, "Service", name)
        assert service["spec"]["selector"].items() <= pod_labels.items(), name
        [service_port] = service["spec"]["ports"]
        assert service_port["targetPort"] == container_port["name"], name
        budget = _named(objects, "PodDisruptionBudget", name)
        assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items(), name
        # A budget of one available pod leaves room for a drain only with two or more.
        assert deployment["spec"]["replicas"] >= 2, name
        assert budget["spec"]["minAvailable"] < deployment["spec"]["replicas"], name


def test_the_gateway_reaches_every_shard_and_the_coordinator_through_their_services(
    objects: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    [(_, gateway)] = [(d, c) for d, c in _service_containers(objects) if _module(c) == "gateway"]
    settings = _settings(monkeypatch, GatewaySettings, _environment(objects, gateway))
    service_urls = {
        s["metadata"]["name"]: f"http://{s['metadata']['name']}:{s['spec']['ports'][0]['port']}"
        for s in _of_kind(objects, "Service")
    }
    assert settings.shard_url_list() == tuple(
        service_urls[f"wallet-shard-{n}"] for n in range(settings.shard_count)
    )
    assert settings.coordinator_base_url() == service_urls["wallet-coordinator"]
    # Each shard Deployment is the shard its Service's name says, on its own database.
    for deployment, container in _service_containers(objects):
        if _module(container) != "wallet_shard":
            continue
        shard = _settings(monkeypatch, ShardSettings, _environment(objects, container))
        assert deployment["metadata"]["name"] == f"wallet-shard-{shard.shard_id}"
        assert shard.database_url.endswith(f"/wallet_shard_{shard.shard_id}")


def test_kafka_topics_are_exactly_the_ones_the_services_use(
    objects: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    used: set[str] = set()
    partitions: set[int] = set()
    for _, container in _service_containers(objects):
        module = _module(container)
        env = _environment(objects, container)
        if module == "wallet_shard":
            settings = _settings(monkeypatch, ShardSettings, env)
            used |= set(shard_topics(settings))
        elif module == "transfer_coordinator":
            coordinator = _settings(monkeypatch, CoordinatorSettings, env)
            used |= set(coordinator_topics(coordinator))
            partitions.add(coordinator.topic_partitions)
    [kafka] = _of_kind(objects, "Kafka")
    topics = _of_kind(objects, "KafkaTopic")
    assert {t["spec"]["topicName"] for t in topics} == used
    assert len(topics) == len(used)
    for topic in topics:
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        assert {topic["spec"]["partitions"]} == partitions
        assert topic["spec"]["replicas"] > int(topic["spec"]["config"]["min.insync.replicas"])
    # Topics exist before the services start: nothing may create one with broker defaults.
    assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False
    [listener] = kafka["spec"]["kafka"]["listeners"]
    bootstrap = f"{kafka['metadata']['name']}-kafka-bootstrap:{listener['port']}"
    assert _config(objects)["WALLET_KAFKA_BOOTSTRAP"] == bootstrap
    [pool] = _of_kind(objects, "KafkaNodePool")
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}


def test_only_the_pods_that_use_kafka_may_reach_its_plain_listener(
    objects: list[Manifest],
) -> None:
    [kafka] = _of_kind(objects, "Kafka")
    [listener] = kafka["spec"]["kafka"]["listeners"]
    peers = listener["networkPolicyPeers"]
    # Same namespace only, and each peer names the pods it admits.
    assert all(set(peer) == {"podSelector"} for peer in peers)
    selectors = [peer["podSelector"]["matchLabels"] for peer in peers]
    admitted = set()
    for obj in objects:
        pod = pod_spec(obj)
        if pod is None:
            continue
        template = (
            obj["spec"]["jobTemplate"]["spec"]["template"]
            if obj["kind"] == "CronJob"
            else obj["spec"]["template"]
        )
        labels = template["metadata"].get("labels", {})
        if any(selector.items() <= labels.items() for selector in selectors):
            admitted.add(obj["metadata"]["name"])
    users = {
        deployment["metadata"]["name"]
        for deployment, container in _service_containers(objects)
        if _module(container) in ("wallet_shard", "transfer_coordinator")
    }
    assert users
    assert admitted == users


def test_the_migration_job_migrates_every_database_once(objects: list[Manifest]) -> None:
    [job] = _of_kind(objects, "Job")
    migrated: list[tuple[str, str]] = []
    for container in job["spec"]["template"]["spec"]["containers"]:
        command = container["command"]
        assert command[:3] == ["python", "-m", "wallet_shared.platform.migrate"]
        assert command[3] in MIGRATIONS
        [variable] = container["env"]
        assert variable["name"] == "WALLET_DATABASE_URL"
        migrated.append((command[3], variable["valueFrom"]["secretKeyRef"]["name"]))
    used = {
        (
            "wallet-shard" if _module(container) == "wallet_shard" else "transfer-coordinator",
            variable["valueFrom"]["secretKeyRef"]["name"],
        )
        for _, container in _service_containers(objects)
        for variable in container["env"]
        if variable["name"] == "WALLET_DATABASE_URL"
    }
    assert sorted(migrated) == sorted(used)
    assert job["spec"]["ttlSecondsAfterFinished"] > 0


def test_the_integrity_cron_job_uses_the_cli_with_an_auditor_token_of_its_own(
    objects: list[Manifest],
) -> None:
    [cron] = _of_kind(objects, "CronJob")
    pod = pod_spec(cron)
    assert pod is not None
    [container] = pod["containers"]
    assert container["command"] == ["wallet", "integrity"]
    # A pre-minted token from its own Secret: the pod never holds the JWT signing secret, with
    # which it could mint any token of any role.
    secrets = {
        variable["name"]: variable["valueFrom"]["secretKeyRef"]
        for variable in container["env"]
        if "valueFrom" in variable
    }
    assert secrets == {"WALLET_TOKEN": {"name": "wallet-integrity-token", "key": "token"}}
    assert "token" in _named(objects, "Secret", "wallet-integrity-token")["data"]
    assert "envFrom" not in container
    assert "volumes" not in pod
    commands = typer.main.get_command(cli.app).commands  # type: ignore[attr-defined]
    read = {
        str(param.envvar) for param in commands["integrity"].params if isinstance(param.envvar, str)
    } | {
        str(variable)
        for param in commands["integrity"].params
        if isinstance(param.envvar, list)
        for variable in param.envvar
    }
    names = {variable["name"] for variable in container["env"]}
    assert names <= read, names - read


def test_every_pod_runs_unprivileged_with_resources(objects: list[Manifest]) -> None:
    for obj in objects:
        pod = pod_spec(obj)
        if pod is None:
            continue
        assert pod["securityContext"]["runAsNonRoot"] is True, obj["metadata"]["name"]
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["resources"]["requests"]
            assert container["resources"]["limits"]["memory"]
            assert container["image"].startswith("registry.example.com/wallet/wallet-system:")


def test_secrets_are_never_committed_and_their_examples_cannot_go_live(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    for name in SECRET_FILES:
        assert f"/deploy/k8s/overlays/*/{name}" in ignored
    example = dict(
        line.split("=", 1) for line in (OVERLAY / "secrets.env.example").read_text().splitlines()
    )
    assert set(example) == {"jwt-secret", "internal-secret"}
    token = dict(
        line.split("=", 1)
        for line in (OVERLAY / "integrity-token.env.example").read_text().splitlines()
    )
    assert set(token) == {"token"}
    # A copy of an example deployed as it is must stop the services, not run with a known
    # secret: each placeholder is refused where the service reads it.
    with pytest.raises(TokenKeyError, match="at least 32 bytes"):
        TokenVerifier.create(secret=example["jwt-secret"], public_key_pem=None)
    base = {
        "WALLET_SHARD_COUNT": "1",
        "WALLET_SHARD_URLS": "http://s",
        "WALLET_COORDINATOR_URL": "http://c",
        "WALLET_JWT_SECRET": "j" * 64,
    }
    with pytest.raises(ValidationError, match="internal_secret"):
        _settings(
            monkeypatch,
            GatewaySettings,
            base | {"WALLET_INTERNAL_SECRET": example["internal-secret"]},
        )
    _settings(monkeypatch, GatewaySettings, base | {"WALLET_INTERNAL_SECRET": "i" * 64})
    with pytest.raises(jwt.DecodeError):
        jwt.decode(token["token"], options={"verify_signature": False})
