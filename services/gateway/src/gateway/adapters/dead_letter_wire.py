"""The services' internal dead-letter answers (`wallet_shared.platform.dead_letter_api`), read back."""

from __future__ import annotations

from wallet_shared.contracts.pagination import Page
from wallet_shared.contracts.schemas import InternalDeadLetter

from gateway.adapters.backends import BackendReply, expect_model


def dead_letter_page(reply: BackendReply) -> tuple[list[InternalDeadLetter], bool]:
    """A service's page of dead letters, and whether more follow it."""
    page = expect_model(
        reply,
        Page[InternalDeadLetter],
        detail="A service answered a dead-letter list unexpectedly.",
    )
    return page.items, page.next_cursor is not None


def dead_letter_of(reply: BackendReply) -> InternalDeadLetter:
    """A service's dead letter (the answer to a replay)."""
    return expect_model(
        reply, InternalDeadLetter, detail="A service answered a replay unexpectedly."
    )
