"""The audit log (every shard's and the coordinator's, merged newest first), webhooks and risk
flags (the coordinator's), for admins and auditors."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime

from wallet_shared.contracts.admin_schemas import AuditRecord
from wallet_shared.contracts.pagination import Page
from wallet_shared.contracts.schemas import Role

from gateway.adapters.backends import (
    BackendReply,
    Backends,
    ClientOrigin,
    JsonObject,
    expect_model,
)
from gateway.adapters.pages import page_reply
from gateway.domain.listing import ListedItem, merge_newest_first
from gateway.domain.principal import Principal
from gateway.domain.roles import require_role

AUDIT_PATH = "/internal/audit-log"


async def audit_log(
    backends: Backends,
    caller: Principal,
    *,
    filters: Mapping[str, str | None],
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> BackendReply:
    """Every service's audit records, newest first by `(at, id)` (admins and auditors)."""
    require_role(caller, "admin", "auditor", action="read the audit log")
    params: dict[str, str | int] = {k: v for k, v in filters.items() if v is not None}
    params.update({k: v.isoformat() for k, v in (("since", since), ("until", until)) if v})
    params["limit"] = limit + 1
    if cursor is not None:
        params["cursor"] = cursor

    async def page_of(shard: int | None) -> list[ListedItem]:
        if shard is None:
            reply = await backends.coordinator("GET", AUDIT_PATH, caller=caller, params=params)
        else:
            reply = await backends.shard(shard, "GET", AUDIT_PATH, caller=caller, params=params)
        page = expect_model(
            reply, Page[AuditRecord], detail="A service answered an audit list unexpectedly."
        )
        return [
            ListedItem(created_at=record.at, id=record.id, body=record.model_dump(mode="json"))
            for record in page.items
        ]

    sources: list[int | None] = [*range(backends.shard_count), None]
    pages = await asyncio.gather(*(page_of(source) for source in sources))
    return page_reply(merge_newest_first(pages, limit=limit))


async def call_oversight(
    backends: Backends,
    caller: Principal,
    method: str,
    path: str,
    *,
    readers: tuple[Role, ...] = (),
    params: Mapping[str, str | int] | None = None,
    json: JsonObject | None = None,
    origin: ClientOrigin | None = None,
) -> BackendReply:
    """A webhook or risk-flag route of the coordinator, for admins (and `readers` roles)."""
    require_role(caller, "admin", *readers, action=f"{method} {path}")
    return await backends.coordinator(
        method, path, caller=caller, params=params, json=json, origin=origin
    )
