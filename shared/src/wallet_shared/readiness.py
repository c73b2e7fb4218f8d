"""What `/health/ready` asks of a service's parts: named checks, each answering True when ready."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

ReadinessCheck = Callable[[], Awaitable[bool]]
