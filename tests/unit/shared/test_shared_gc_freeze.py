"""What a service process builds to start is kept out of the garbage collector's full passes."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from wallet_shared.platform.http import freeze_after_startup


async def test_objects_made_by_the_lifespan_are_frozen_once_it_has_started() -> None:
    made: list[object] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        made.append({"pool": "long-lived"})  # what a lifespan opens: pools, clients
        assert gc.get_freeze_count() == 0
        yield
        made.clear()

    app = FastAPI(lifespan=lifespan)
    freeze_after_startup(app)
    gc.unfreeze()
    try:
        async with app.router.lifespan_context(app):
            assert made
            assert gc.get_freeze_count() > 0
            # Frozen objects are out of every generation a collection walks.
            assert not any(made[0] is obj for obj in gc.get_objects())
    finally:
        gc.unfreeze()
