"""One Idempotency-Key rule: the gateway, the shards and the coordinator accept and refuse the
same keys, the same way (they once had three rules, so a key could pass one and fail the next)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import BaseModel
from starlette.requests import Request
from transfer_coordinator.entrypoints.http import _start_command
from wallet_shard.entrypoints.request_context import idempotent_request
from wallet_shared.contracts.errors import WalletError
from wallet_shared.contracts.internal import StartTransferRequest
from wallet_shared.contracts.rules import checked_key
from wallet_shared.platform.http import Caller

CALLER = Caller(user_id="alice", role="user", owner_scope="alice")
KEYS = [
    "k",
    "a" * 255,
    "order-42/retry 1",
    "~!@#$%^&*()",
    " ",
    "",
    "a" * 256,
    "tab\there",
    "new\nline",
    "ünïcode",
    "\x7f",
    None,
]


class Deposit(BaseModel):
    amount: int


def _shard(key: str | None) -> object:
    request = Request({"type": "http", "method": "POST", "path": "/internal/x", "headers": []})
    return idempotent_request(request, CALLER, key, Deposit(amount=1))


def _coordinator(key: str | None) -> object:
    body = StartTransferRequest.model_validate(
        {"source_wallet_id": "w1", "destination_wallet_id": "w2", "amount": "1", "currency": "EUR"}
    )
    return _start_command(body, CALLER, key)


def _outcome(check: Callable[[str | None], object], key: str | None) -> str:
    try:
        check(key)
    except WalletError as refusal:
        return f"{refusal.code}: {refusal.errors}"
    return "accepted"


@pytest.mark.parametrize("key", KEYS)
def test_every_service_applies_the_same_key_rule(key: str | None) -> None:
    gateway = _outcome(checked_key, key)
    assert _outcome(_shard, key) == gateway
    assert _outcome(_coordinator, key) == gateway
    if key is None:
        assert gateway.startswith("idempotency_key_required")
