"""`python -m wallet_shard`: read the settings, configure logging, serve."""

from __future__ import annotations

from wallet_shared.platform.http import serve
from wallet_shared.platform.logging import configure_logging
from wallet_shared.platform.settings import settings_or_exit

from wallet_shard.bootstrap import create_app
from wallet_shard.settings import ShardSettings


def main() -> None:
    # The only place a shard reads its environment.
    settings = settings_or_exit(ShardSettings, service="wallet-shard")
    configure_logging(
        service=settings.service_name, level=settings.log_level, fmt=settings.log_format
    )
    serve(create_app(settings), host=settings.host, port=settings.shard_port)


if __name__ == "__main__":
    main()
