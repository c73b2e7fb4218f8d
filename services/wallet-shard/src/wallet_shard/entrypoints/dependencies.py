"""What the HTTP routes get from the app's lifespan, through `Depends`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class ShardServices:
    """The unit of work and shard context the lifespan built."""

    uow: UnitOfWork
    shard: ShardContext


async def shard_services(request: Request) -> ShardServices:
    services: ShardServices = request.app.state.shard_services
    return services


Services = Annotated[ShardServices, Depends(shard_services)]
