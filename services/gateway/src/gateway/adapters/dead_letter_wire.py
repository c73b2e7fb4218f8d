"""The services' internal dead-letter answers (`wallet_shared.platform.dead_letter_api`), read back."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from wallet_shared.contracts.schemas import InternalDeadLetter

from gateway.adapters.backends import BackendContractError


class _PageWire(BaseModel):
    model_config = ConfigDict(extra="ignore")

    items: list[InternalDeadLetter]
    next_cursor: str | None = None


def dead_letter_page(body: Any) -> tuple[list[InternalDeadLetter], bool]:
    """A service's page of dead letters, and whether more follow it."""
    try:
        page = _PageWire.model_validate(body)
    except ValidationError as error:
        raise BackendContractError("A service answered a dead-letter list unexpectedly.") from error
    return page.items, page.next_cursor is not None


def dead_letter_of(body: Any) -> InternalDeadLetter:
    """A service's dead letter (the answer to a replay)."""
    try:
        return InternalDeadLetter.model_validate(body)
    except ValidationError as error:
        raise BackendContractError("A service answered a replay unexpectedly.") from error
