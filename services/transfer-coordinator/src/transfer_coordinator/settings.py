"""The coordinator's configuration: `WALLET_*` environment variables, read once by `__main__`."""

from __future__ import annotations

from typing import Final

from pydantic import PositiveFloat, PositiveInt
from wallet_shared.settings import DatabaseSettings

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
