"""Idle connections: a client lets them go before a server would close them."""

import inspect
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from wallet_shared.platform import http
from wallet_shared.platform.http_client import (
    CLIENT_KEEPALIVE_S,
    InternalHttpClient,
    pooled_http_client,
)


def test_servers_keep_idle_connections_longer_than_clients_reuse_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Otherwise a client may send on a connection the server is closing, and the request fails
    # with no answer (a 503 at the gateway).
    ran: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: ran.update(options))
    http.serve(FastAPI(), host="127.0.0.1", port=0)
    defaults = {
        name: inspect.signature(make).parameters["keepalive_s"].default
        for name, make in (("client", InternalHttpClient), ("pool", pooled_http_client))
    }
    assert defaults == {"client": CLIENT_KEEPALIVE_S, "pool": CLIENT_KEEPALIVE_S}
    assert ran["timeout_keep_alive"] > CLIENT_KEEPALIVE_S
