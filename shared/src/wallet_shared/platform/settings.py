"""Settings base: every service reads its configuration from `WALLET_*` environment variables
through a subclass of `ServiceSettings`, once, at its entrypoint. Nothing below reads the
environment."""

from __future__ import annotations

import sys
from typing import Literal, NoReturn, TypeVar

from pydantic import Field, PositiveInt, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wallet_shared.contracts.money import DEFAULT_MAX_AMOUNT
from wallet_shared.contracts.routing import ShardMap
from wallet_shared.contracts.topics import Topics
from wallet_shared.platform.service_auth import secret_bytes

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class ServiceSettings(BaseSettings):
    """What every service needs: Kafka, topic prefix, shard layout, logging, limits."""

    # Errors never quote the rejected input: it may be a secret.
    model_config = SettingsConfigDict(
        env_prefix="WALLET_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    topic_partitions: PositiveInt = 4
    shard_count: PositiveInt = 2
    shard_map: str | None = Field(default=None, description="e.g. 0-511=0,512-1023=1")
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    host: str = "127.0.0.1"
    max_amount: PositiveInt = DEFAULT_MAX_AMOUNT
    internal_secret: SecretStr = Field(
        description="WALLET_INTERNAL_SECRET: signs the service credentials of internal calls "
        "(at least 32 bytes; never the public JWT secret)"
    )

    @field_validator("internal_secret")
    @classmethod
    def _long_enough(cls, secret: SecretStr) -> SecretStr:
        secret_bytes(secret)  # ValueError, without the value, when too short
        return secret

    def shards(self) -> ShardMap:
        """The bucket→shard map: the configured one, or an even split."""
        if self.shard_map:
            return ShardMap.parse(self.shard_map, shard_count=self.shard_count)
        return ShardMap.even(self.shard_count)

    def topics(self) -> Topics:
        """The topic names of this deployment."""
        return Topics(prefix=self.topic_prefix)


class DatabaseSettings(ServiceSettings):
    """A service that owns one PostgreSQL database."""

    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    database_pool_min: PositiveInt = 2
    database_pool_max: PositiveInt = 10
    idempotency_retention_h: float = Field(
        default=48.0,
        ge=24.0,
        description="Hours an Idempotency-Key's answer (and claim) is kept; a key reused later "
        "is a new key (at least 24)",
    )
    metrics_sample_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between two measurements of the state gauges (outbox age, consumer "
        "lag, dead letters, sagas): wallet_shared.platform.monitoring",
    )


def settings_or_exit(settings_class: type[SettingsT], *, service: str) -> SettingsT:
    """`settings_class` read from the environment; exits the process with one line naming each
    bad or missing `WALLET_*` variable (never its value: it may be a secret) otherwise."""
    try:
        return settings_class()
    except ValidationError as error:
        _exit_with(service, error)


def _exit_with(service: str, error: ValidationError) -> NoReturn:
    problems = "; ".join(
        f"{_env_name(e['loc'])}: "
        + (
            "required, not set"
            if e["type"] == "missing"
            else e["msg"].removeprefix("Value error, ")
        )
        for e in error.errors()
    )
    sys.exit(f"{service}: invalid settings (WALLET_* environment): {problems}")


def _env_name(location: tuple[int | str, ...]) -> str:
    return f"WALLET_{str(location[0]).upper()}" if location else "settings"
