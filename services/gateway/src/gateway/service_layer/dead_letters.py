"""Dead letters of every shard and the coordinator: one merged list, and replays routed by id."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from wallet_shared.contracts.schemas import DeadLetter, DeadLetterPage
from wallet_shared.platform.dead_letter_api import dead_letter_position

from gateway.adapters.backends import COORDINATOR, BackendReply, Backends
from gateway.adapters.dead_letter_wire import dead_letter_of, dead_letter_page
from gateway.domain.dead_letters import (
    DeadLetterSource,
    SourcePage,
    bound_for,
    decode_list_cursor,
    merge_dead_letter_pages,
    parse_dead_letter_id,
    public_dead_letter,
)
from gateway.domain.principal import Principal
from gateway.domain.roles import require_role
from gateway.domain.routing import shard_name

LIST_PATH = "/internal/dead-letters"


def dead_letter_sources(backends: Backends) -> list[DeadLetterSource]:
    """Every service that keeps dead letters, named as the backends are."""
    shards = [DeadLetterSource(shard_name(n), n) for n in range(backends.shard_count)]
    return [*shards, DeadLetterSource(COORDINATOR, None)]


async def list_dead_letters(
    backends: Backends, caller: Principal, *, limit: int, cursor: str | None
) -> DeadLetterPage:
    """Every service's dead letters, newest first (admins only)."""
    require_role(caller, "admin", action="read dead letters")
    sources = dead_letter_sources(backends)
    position = decode_list_cursor(cursor, sources) if cursor is not None else None

    async def page_of(source: DeadLetterSource) -> SourcePage:
        params: dict[str, str | int] = {"limit": limit}
        if position is not None:
            params["cursor"] = dead_letter_position(*bound_for(position, source))
        reply = await _call(backends, source, "GET", LIST_PATH, caller=caller, params=params)
        items, has_more = dead_letter_page(reply)
        return SourcePage(source=source, items=items, has_more=has_more)

    pages = await asyncio.gather(*(page_of(source) for source in sources))
    return merge_dead_letter_pages(pages, limit=limit)


async def replay_dead_letter(
    backends: Backends, caller: Principal, dead_letter_id: str
) -> DeadLetter:
    """Publish a dead letter again through the service that holds it (admins only, once)."""
    require_role(caller, "admin", action="replay dead letters")
    source, number = parse_dead_letter_id(dead_letter_id, dead_letter_sources(backends))
    path = f"{LIST_PATH}/{number}/replay"
    reply = await _call(backends, source, "POST", path, caller=caller)
    return public_dead_letter(source, dead_letter_of(reply))


async def _call(
    backends: Backends,
    source: DeadLetterSource,
    method: str,
    path: str,
    *,
    caller: Principal,
    params: Mapping[str, str | int] | None = None,
) -> BackendReply:
    if source.shard is None:
        return await backends.coordinator(method, path, caller=caller, params=params)
    return await backends.shard(source.shard, method, path, caller=caller, params=params)
