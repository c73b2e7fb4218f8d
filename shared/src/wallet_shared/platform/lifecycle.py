"""Long-lived resources (relays, consumers, servers) start and stop the same way."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class StartStop(ABC):
    """A resource with `start()` / `stop()` that is also an async context manager."""

    @abstractmethod
    async def start(self) -> object:
        """Acquire what the resource needs and begin its work (a server may return its address)."""

    @abstractmethod
    async def stop(self) -> None:
        """End its work and release what it holds; safe to call when not started."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
