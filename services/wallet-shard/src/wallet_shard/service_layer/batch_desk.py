"""The shard's set-based desks: the requests of one kind that arrive together are booked by one
call, in one transaction (`wallet_shared.platform.batch_commit`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Generic, TypeVar

from wallet_shared.contracts.errors import WalletError
from wallet_shared.platform.batch_commit import BatchCommit

from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.unit_of_work import ShardRepositories, UnitOfWork

Asked = TypeVar("Asked")
Booked = TypeVar("Booked")


class BatchDesk(ABC, Generic[Asked, Booked]):
    """Submits each request to the batch being formed; `_book_together` books a whole batch."""

    def __init__(self, uow: UnitOfWork, shard: ShardContext, *, max_in_flight: int = 2) -> None:
        self._shard = shard
        self._batches: BatchCommit[ShardRepositories, Asked, Booked] = BatchCommit(
            uow, self._book_together, max_in_flight=max_in_flight
        )

    @abstractmethod
    async def _book_together(
        self, repos: ShardRepositories, batch: list[Asked]
    ) -> list[Booked | WalletError]:
        """Book `batch` in `repos`' transaction: per request, in order, what it booked or the
        refusal raised before it changed anything."""
