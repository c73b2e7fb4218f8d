"""What a shard route reads from its request in its one dependency: the proved caller, the
client the gateway saw (bounded and without NUL), the shard's services; 401 without a caller."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI, Request
from wallet_shard.entrypoints.request_context import (
    MAX_CLIENT_ADDRESS,
    MAX_USER_AGENT,
    shard_request,
)
from wallet_shared.platform.service_auth import (
    CALLER_STATE_KEY,
    Caller,
    InvalidServiceCredential,
)

SERVICES = SimpleNamespace(uow="the unit of work", shard="the shard context")


def request(headers: list[tuple[bytes, bytes]], caller: Caller | None) -> Request:
    app = FastAPI()
    app.state.shard_services = SERVICES
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/internal/wallets/w/deposits",
        "headers": headers,
        "app": app,
        "state": {} if caller is None else {CALLER_STATE_KEY: caller},
    }
    return Request(scope)


async def test_the_origin_is_the_proved_caller_and_the_client_the_gateway_saw() -> None:
    caller = Caller("alice", "user", owner_scope="alice", service="gateway")
    asked = await shard_request(
        request(
            [
                (b"x-client-address", b"203.0.113.7"),
                (b"x-client-user-agent", b"shop\x00-app/" + b"9" * 2 * MAX_USER_AGENT),
            ],
            caller,
        )
    )
    assert asked.caller == caller
    assert asked.services == SERVICES  # what the lifespan put in the app's state
    assert (asked.origin.actor, asked.origin.actor_role) == ("alice", "user")
    assert asked.origin.client_address == "203.0.113.7"
    assert asked.origin.user_agent == ("shop-app/" + "9" * 2 * MAX_USER_AGENT)[:MAX_USER_AGENT]


async def test_without_client_headers_the_origin_names_only_the_caller() -> None:
    caller = Caller("root", "admin", owner_scope=None, service="gateway")
    asked = await shard_request(request([(b"x-client-address", b"1" * 500)], caller))
    assert asked.origin.client_address == "1" * MAX_CLIENT_ADDRESS
    assert asked.origin.user_agent is None
    assert asked.origin.actor_role == "admin"


async def test_a_request_without_a_proved_caller_is_refused() -> None:
    with pytest.raises(InvalidServiceCredential):
        await shard_request(request([], caller=None))
