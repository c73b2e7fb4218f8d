"""Shard list pages (`{"items": [...], "next_cursor"}`) read for merging, and written back."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError
from wallet_shared.contracts.pagination import Page

from gateway.adapters.backends import BackendContractError, BackendReply
from gateway.domain.listing import ListedItem, MergedPage


class _Position(BaseModel):
    # Only what ordering needs; the item itself is relayed exactly as the shard wrote it.
    model_config = ConfigDict(extra="ignore")

    id: str
    created_at: AwareDatetime


def listed_items(body: Any) -> list[ListedItem]:
    """The items of a shard's page with their `(created_at, id)` positions."""
    try:
        page = Page[dict[str, Any]].model_validate(body)
        positions = [_Position.model_validate(item) for item in page.items]
    except ValidationError as error:
        raise BackendContractError("A shard answered a list request unexpectedly.") from error
    return [
        ListedItem(created_at=position.created_at, id=position.id, body=item)
        for position, item in zip(positions, page.items, strict=True)
    ]


def page_reply(page: MergedPage) -> BackendReply:
    """A merged page as a successful reply in the public list shape."""
    body = {"items": [item.body for item in page.items], "next_cursor": page.next_cursor}
    return BackendReply(
        backend="gateway", status_code=200, body=orjson.dumps(body), media_type="application/json"
    )
