"""`python -m wallet_shared.platform.migrate <service>`: bring one service's database up to date and exit.

The Kubernetes migration Job (deploy/k8s) runs it before a rollout, so that a schema change
lands once, before new pods start, rather than with whichever replica starts first. The services
still migrate when they start (the same advisory lock makes concurrent runs wait for each other),
so a missed Job only delays, never breaks, a deployment. The database is `WALLET_DATABASE_URL`.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Final

from pydantic_settings import BaseSettings, SettingsConfigDict

from wallet_shared.platform.db import apply_migrations, create_pool
from wallet_shared.platform.settings import settings_or_exit

MIGRATIONS: Final = {
    "wallet-shard": "wallet_shard.adapters.migrations",
    "transfer-coordinator": "transfer_coordinator.adapters.migrations",
}
"""The migrations package of each service that owns a database."""


class MigrationSettings(BaseSettings):
    """Only what a migration needs: the database."""

    model_config = SettingsConfigDict(
        env_prefix="WALLET_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    database_url: str


async def migrate(database_url: str, service: str) -> None:
    """Apply the shared migrations, then `service`'s, to the database at `database_url`."""
    pool = await create_pool(database_url, min_size=1, max_size=1, connect_timeout_s=120.0)
    try:
        await apply_migrations(pool, package=MIGRATIONS[service])
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1 or arguments[0] not in MIGRATIONS:
        sys.exit(f"usage: python -m wallet_shared.platform.migrate {'|'.join(MIGRATIONS)}")
    settings = settings_or_exit(MigrationSettings, service=f"{arguments[0]} migrations")
    asyncio.run(migrate(settings.database_url, arguments[0]))
    print(f"{arguments[0]}: migrations applied")


if __name__ == "__main__":
    main()
