"""`python -m transfer_coordinator`: read the settings, configure logging, serve."""

from __future__ import annotations

import uvicorn
from wallet_shared.logging import configure_logging

from transfer_coordinator.bootstrap import create_app
from transfer_coordinator.entrypoints.replies import SERVICE
from transfer_coordinator.settings import CoordinatorSettings


def main() -> None:
    # The only place that reads the environment.
    settings = CoordinatorSettings()
    configure_logging(service=SERVICE, level=settings.log_level, fmt=settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.coordinator_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
