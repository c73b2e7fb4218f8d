"""`python -m gateway`: read the settings from the environment and serve the public API."""

from __future__ import annotations

import sys

from wallet_shared.platform.http import serve
from wallet_shared.platform.logging import configure_logging
from wallet_shared.platform.settings import settings_or_exit

from gateway.adapters.tokens import TokenKeyError
from gateway.bootstrap import SERVICE, create_app
from gateway.settings import GatewaySettings


def _settings_or_exit() -> GatewaySettings:
    # The required fields come from the environment.
    settings = settings_or_exit(GatewaySettings, service=SERVICE)
    if settings.jwt_secret is None and not settings.jwt_public_key:
        sys.exit(
            "gateway: refusing to start without a token key: set WALLET_JWT_SECRET (HS256, "
            "at least 32 bytes) or WALLET_JWT_PUBLIC_KEY (RS256, PEM). "
            "`wallet run` supplies a development secret."
        )
    return settings


def main() -> None:
    settings = _settings_or_exit()
    configure_logging(service=SERVICE, level=settings.log_level, fmt=settings.log_format)
    try:
        app = create_app(settings)
    except TokenKeyError as error:
        sys.exit(f"gateway: {error}")
    serve(app, host=settings.host, port=settings.gateway_port)


if __name__ == "__main__":
    main()
