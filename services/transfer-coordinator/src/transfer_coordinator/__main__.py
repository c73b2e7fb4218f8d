"""`python -m transfer_coordinator`: read the settings, configure logging, serve."""

from __future__ import annotations

from wallet_shared.platform.http import serve
from wallet_shared.platform.logging import configure_logging
from wallet_shared.platform.settings import settings_or_exit

from transfer_coordinator.bootstrap import create_app
from transfer_coordinator.settings import SERVICE, CoordinatorSettings


def main() -> None:
    # The only place that reads the environment.
    settings = settings_or_exit(CoordinatorSettings, service=SERVICE)
    configure_logging(service=SERVICE, level=settings.log_level, fmt=settings.log_format)
    serve(create_app(settings), host=settings.host, port=settings.coordinator_port)


if __name__ == "__main__":
    main()
