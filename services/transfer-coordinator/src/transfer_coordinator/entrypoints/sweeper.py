"""The sweeper task: a pass every `sweep_interval_s`, back to back while there is a backlog."""

from __future__ import annotations

from wallet_shared.platform.loops import BackgroundLoop

from transfer_coordinator.service_layer.context import CoordinatorContext
from transfer_coordinator.service_layer.sweeper import sweep_once
from transfer_coordinator.settings import SERVICE


class SagaSweeper(BackgroundLoop):
    """Runs `sweep_once` in the background until stopped."""

    def __init__(self, *, ctx: CoordinatorContext, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        super().__init__(name="saga_sweeper", service=SERVICE)
        self._ctx = ctx
        self._interval_s = interval_s

    async def run(self) -> None:
        failures = 0
        while not self.stopping:
            self.beat()
            try:
                result = await sweep_once(self._ctx)
            except Exception as error:  # the database may be away: try again later
                failures += 1
                await self.back_off("sweep_failed", error, failures, base_s=0.5, cap_s=10.0)
                continue
            failures = 0
            await self.pause(0.0 if result.more else self._interval_s)
