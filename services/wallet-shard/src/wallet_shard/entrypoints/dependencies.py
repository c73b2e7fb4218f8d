"""What the HTTP routes get from the app's lifespan, through `Depends`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.local_transfers import LocalTransfers
from wallet_shard.service_layer.movements import CashMovements
from wallet_shard.service_layer.unit_of_work import UnitOfWork


@dataclass(slots=True)
class ShardServices:
    """The unit of work and shard context the lifespan built, and the desks that book local
    transfers, deposits and withdrawals in batches over them (one each per process: the
    batches form there)."""

    uow: UnitOfWork
    shard: ShardContext
    local_transfers: LocalTransfers = field(init=False)
    cash: CashMovements = field(init=False)

    def __post_init__(self) -> None:
        self.local_transfers = LocalTransfers(self.uow, self.shard)
        self.cash = CashMovements(self.uow, self.shard)


async def shard_services(request: Request) -> ShardServices:
    services: ShardServices = request.app.state.shard_services
    return services


Services = Annotated[ShardServices, Depends(shard_services)]
