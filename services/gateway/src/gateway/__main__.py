"""`python -m gateway`: read the settings from the environment and serve the public API."""

from __future__ import annotations

import sys

from pydantic import ValidationError
from wallet_shared.http import serve
from wallet_shared.logging import configure_logging

from gateway.auth import TokenKeyError
from gateway.bootstrap import SERVICE, create_app
from gateway.settings import GatewaySettings


def _env_name(location: tuple[int | str, ...]) -> str:
    return f"WALLET_{str(location[0]).upper()}" if location else "settings"


def _settings_or_exit() -> GatewaySettings:
    try:
        settings = GatewaySettings()  # the required fields come from the environment
    except ValidationError as error:
        # Field names and messages only: the rejected values may be secrets.
        problems = "; ".join(
            f"{_env_name(e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()
        )
        sys.exit(f"gateway: invalid settings (WALLET_* environment): {problems}")
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
