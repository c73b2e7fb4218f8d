"""Settings of a wallet-shard process (`WALLET_*` environment variables, read at the entrypoint)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, PositiveInt, model_validator
from wallet_shared.platform.settings import DatabaseSettings

from wallet_shard.domain.spending import SpendingLimits


class ShardSettings(DatabaseSettings):
    """One shard: which one it is, where it listens, and the database it owns."""

    shard_id: int = Field(ge=0, description="WALLET_SHARD_ID: this shard's number")
    shard_port: int = Field(default=8101, ge=1, le=65535)
    default_daily_limit: PositiveInt | None = Field(
        default=None, description="WALLET_DEFAULT_DAILY_LIMIT: outgoing money per UTC day"
    )
    default_monthly_limit: PositiveInt | None = Field(
        default=None, description="WALLET_DEFAULT_MONTHLY_LIMIT: outgoing money per UTC month"
    )

    @model_validator(mode="after")
    def _shard_exists(self) -> Self:
        if self.shard_id >= self.shard_count:
            raise ValueError(
                f"shard_id {self.shard_id} is outside the {self.shard_count} configured shards"
            )
        return self

    def default_limits(self) -> SpendingLimits:
        """The spending limits of wallets without their own (unset: no limit)."""
        return SpendingLimits(daily=self.default_daily_limit, monthly=self.default_monthly_limit)

    @property
    def service_name(self) -> str:
        """How this shard names itself in logs, metrics, outbox and dead letters."""
        return f"wallet-shard-{self.shard_id}"
