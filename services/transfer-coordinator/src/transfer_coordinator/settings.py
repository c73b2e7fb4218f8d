"""The coordinator's configuration: `WALLET_*` environment variables, read once by `__main__`."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from pydantic import PositiveFloat, PositiveInt
from wallet_shared.platform.settings import DatabaseSettings

from transfer_coordinator.domain.risk import RiskThresholds
from transfer_coordinator.domain.webhooks import RetryPolicy

SERVICE: Final = "transfer-coordinator"
"""How the coordinator names itself in logs, metrics, outbox, dead letters and its group id."""


class CoordinatorSettings(DatabaseSettings):
    """Database, Kafka and the saga's timing."""

    coordinator_port: PositiveInt = 8200
    transfer_deadline_s: PositiveFloat = 30.0
    """A transfer still trying after this long is cancelled with `timeout`."""
    redrive_after_s: PositiveFloat = 5.0
    """A pending saga that has not moved for this long gets its current phase's commands again:
    participants are idempotent, so this heals a lost or dead-lettered message."""
    sweep_interval_s: PositiveFloat = 1.0
    integrity_stuck_grace_s: PositiveFloat = 60.0
    """The integrity check calls a saga stuck once it is still pending this long past its
    deadline: a saga merely behind consumer lag or a redrive is not stuck."""
    integrity_cut_margin_s: PositiveFloat = 60.0
    """The integrity check reads every saga made in this last stretch (and every pending one)
    transfer by transfer, the older ones as sums: it must exceed the longest time between a
    saga's id being made and its row being committed."""

    webhook_allow_private_urls: bool = False
    """Accept `http` URLs and non-public addresses (loopback, private): local runs and tests
    only, where receivers listen on 127.0.0.1."""
    webhook_timeout_s: PositiveFloat = 10.0
    """The whole of one delivery attempt, connection included."""
    webhook_retry_base_s: PositiveFloat = 5.0
    """The first retry comes within this long; each later one waits up to twice as long."""
    webhook_retry_cap_s: PositiveFloat = 3600.0
    webhook_retry_window_s: PositiveFloat = 90000.0
    """How long after its first attempt a delivery is retried before it is `failed` (25 h)."""
    webhook_max_in_flight_per_endpoint: PositiveInt = 4
    webhook_poll_interval_s: PositiveFloat = 1.0

    risk_velocity_count: PositiveInt = 20
    risk_velocity_window_s: PositiveFloat = 300.0
    risk_amount_multiple: PositiveInt = 50
    risk_amount_min_history: PositiveInt = 5
    risk_destinations_count: PositiveInt = 10
    risk_destinations_window_s: PositiveFloat = 600.0
    risk_deposit_transfer_window_s: PositiveFloat = 600.0

    def risk_thresholds(self) -> RiskThresholds:
        """What the risk rules tolerate."""
        return RiskThresholds(
            velocity_count=self.risk_velocity_count,
            velocity_window=timedelta(seconds=self.risk_velocity_window_s),
            amount_multiple=self.risk_amount_multiple,
            amount_min_history=self.risk_amount_min_history,
            destinations_count=self.risk_destinations_count,
            destinations_window=timedelta(seconds=self.risk_destinations_window_s),
            deposit_transfer_window=timedelta(seconds=self.risk_deposit_transfer_window_s),
        )

    def webhook_retry_policy(self) -> RetryPolicy:
        """When a failed delivery is tried again, and when it is given up."""
        return RetryPolicy(
            base_s=self.webhook_retry_base_s,
            cap_s=self.webhook_retry_cap_s,
            window=timedelta(seconds=self.webhook_retry_window_s),
        )
