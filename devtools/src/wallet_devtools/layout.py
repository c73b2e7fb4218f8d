"""What a local cluster consists of: one process per service, its port and its environment.

Pure data, no I/O: `plan_services` is what `WalletCluster` starts, and what the deploy-config
test compares with the settings classes (the environment variable names of docs/internals.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

GATEWAY = "gateway"
COORDINATOR = "coordinator"
SHARD_PREFIX = "shard-"

# Service name (as in docker-compose.yml) -> the module run with `python -m`.
MODULES = {GATEWAY: "gateway", COORDINATOR: "transfer_coordinator", SHARD_PREFIX: "wallet_shard"}


def shard_name(shard_id: int) -> str:
    """Service name of shard `shard_id`: `shard-0`, `shard-1`, ..."""
    return f"{SHARD_PREFIX}{shard_id}"


@dataclass(frozen=True)
class ServiceSpec:
    """One service process: name, module, port and the `WALLET_*` variables it gets."""

    name: str
    module: str
    host: str
    port: int
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Base URL of the service's HTTP server."""
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class ClusterConfig:
    """Everything the services of one cluster share, and where each one listens."""

    kafka_bootstrap: str
    shard_database_urls: Sequence[str]
    coordinator_database_url: str
    jwt_secret: str
    internal_secret: str
    """Signs the service credentials of internal calls; every service gets it."""
    shard_ports: Sequence[int]
    coordinator_port: int
    gateway_port: int
    topic_prefix: str = ""
    topic_partitions: int | None = None
    log_format: str = "json"
    log_level: str | None = None
    host: str = "127.0.0.1"
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.shard_database_urls:
            raise ValueError("a cluster needs at least one shard")
        if len(self.shard_ports) != len(self.shard_database_urls):
            raise ValueError("one port per shard database is needed")


def _common_env(config: ClusterConfig) -> dict[str, str]:
    env = {
        "WALLET_KAFKA_BOOTSTRAP": config.kafka_bootstrap,
        "WALLET_TOPIC_PREFIX": config.topic_prefix,
        "WALLET_SHARD_COUNT": str(len(config.shard_database_urls)),
        "WALLET_LOG_FORMAT": config.log_format,
        "WALLET_HOST": config.host,
        "WALLET_INTERNAL_SECRET": config.internal_secret,
    }
    if config.topic_partitions is not None:
        env["WALLET_TOPIC_PARTITIONS"] = str(config.topic_partitions)
    if config.log_level is not None:
        env["WALLET_LOG_LEVEL"] = config.log_level
    return env


def plan_services(config: ClusterConfig) -> list[ServiceSpec]:
    """The processes of a cluster, shards first and the gateway last."""
    common = _common_env(config)

    def service(name: str, module: str, port: int, env: Mapping[str, str]) -> ServiceSpec:
        # `extra_env` comes last: what the caller passes through wins.
        return ServiceSpec(name, module, config.host, port, {**common, **env, **config.extra_env})

    shards = [
        service(
            shard_name(shard_id),
            MODULES[SHARD_PREFIX],
            port,
            {
                "WALLET_SHARD_ID": str(shard_id),
                "WALLET_DATABASE_URL": database_url,
                "WALLET_SHARD_PORT": str(port),
            },
        )
        for shard_id, (database_url, port) in enumerate(
            zip(config.shard_database_urls, config.shard_ports, strict=True)
        )
    ]
    coordinator = service(
        COORDINATOR,
        MODULES[COORDINATOR],
        config.coordinator_port,
        {
            "WALLET_DATABASE_URL": config.coordinator_database_url,
            "WALLET_COORDINATOR_PORT": str(config.coordinator_port),
            # Local runs and tests deliver webhooks to receivers on 127.0.0.1 over http;
            # deployments (compose) keep the default: https to public addresses only.
            "WALLET_WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        },
    )
    gateway = service(
        GATEWAY,
        MODULES[GATEWAY],
        config.gateway_port,
        {
            "WALLET_GATEWAY_PORT": str(config.gateway_port),
            "WALLET_SHARD_URLS": ",".join(shard.url for shard in shards),
            "WALLET_COORDINATOR_URL": coordinator.url,
            "WALLET_JWT_SECRET": config.jwt_secret,
        },
    )
    return [*shards, coordinator, gateway]


# Variables the launcher sets itself; anything else named WALLET_* may be passed through.
MANAGED_ENV = frozenset(
    {
        "WALLET_KAFKA_BOOTSTRAP",
        "WALLET_TOPIC_PREFIX",
        "WALLET_TOPIC_PARTITIONS",
        "WALLET_SHARD_COUNT",
        "WALLET_LOG_FORMAT",
        "WALLET_LOG_LEVEL",
        "WALLET_HOST",
        "WALLET_SHARD_ID",
        "WALLET_DATABASE_URL",
        "WALLET_SHARD_PORT",
        "WALLET_COORDINATOR_PORT",
        "WALLET_GATEWAY_PORT",
        "WALLET_SHARD_URLS",
        "WALLET_COORDINATOR_URL",
        "WALLET_JWT_SECRET",
        "WALLET_WEBHOOK_ALLOW_PRIVATE_URLS",
        "WALLET_INTERNAL_SECRET",
    }
)
