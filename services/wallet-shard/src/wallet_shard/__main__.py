"""`python -m wallet_shard`: read the settings, set up logging and topics, serve."""

from __future__ import annotations

import asyncio

import uvicorn
from wallet_shared.kafka import ensure_topics
from wallet_shared.logging import configure_logging

from wallet_shard.bootstrap import create_app, shard_topics
from wallet_shard.settings import ShardSettings


def main() -> None:
    settings = ShardSettings()  # the only place a shard reads its environment
    configure_logging(
        service=settings.service_name, level=settings.log_level, fmt=settings.log_format
    )
    asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap,
            shard_topics(settings),
            partitions=settings.topic_partitions,
        )
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.shard_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
