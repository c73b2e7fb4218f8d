"""Settings base: every service reads its configuration from `WALLET_*` environment variables
through a subclass of `ServiceSettings`, once, at its entrypoint. Nothing below reads the
environment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict

from wallet_shared.money import DEFAULT_MAX_AMOUNT
from wallet_shared.routing import ShardMap
from wallet_shared.topics import Topics


class ServiceSettings(BaseSettings):
    """What every service needs: Kafka, topic prefix, shard layout, logging, limits."""

    model_config = SettingsConfigDict(env_prefix="WALLET_", extra="ignore", frozen=True)

    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    topic_partitions: PositiveInt = 4
    shard_count: PositiveInt = 2
    shard_map: str | None = Field(default=None, description="e.g. 0-511=0,512-1023=1")
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    host: str = "127.0.0.1"
    max_amount: PositiveInt = DEFAULT_MAX_AMOUNT

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
