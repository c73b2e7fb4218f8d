"""Every failure a service meets becomes a problem+json answer with a stable code."""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI
from fastapi.testclient import TestClient
from wallet_shared.contracts.errors import InsufficientFunds, ServiceUnavailable, TransientError
from wallet_shared.platform.problems import install_problem_handlers


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/refused")
    async def refused() -> None:
        raise InsufficientFunds("The wallet holds 5; 10 were asked.")

    @app.get("/database-away")
    async def database_away() -> None:
        raise TransientError("connection lost")

    @app.get("/connection-desynchronised")
    async def connection_desynchronised() -> None:
        # What asyncpg raises on a pooled connection whose server died mid-answer.
        raise asyncpg.exceptions.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        )

    @app.get("/backend-away")
    async def backend_away() -> None:
        raise ServiceUnavailable("A backend service did not answer; retry.")

    @app.get("/bug")
    async def bug() -> None:
        raise RuntimeError("SELECT secret FROM somewhere")

    return app


def test_a_business_refusal_keeps_its_code() -> None:
    response = TestClient(_app()).get("/refused")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "insufficient_funds"


def test_a_transient_failure_asks_for_a_retry() -> None:
    response = TestClient(_app()).get("/database-away")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["code"] == "service_unavailable"


def test_a_connection_left_broken_by_a_database_crash_asks_for_a_retry() -> None:
    # Found by `wallet chaos` (PostgreSQL stopped in immediate mode): these were 500s.
    response = TestClient(_app()).get("/connection-desynchronised")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["code"] == "service_unavailable"


def test_a_backend_away_asks_for_a_retry_too() -> None:
    # Found by `wallet chaos`: while a shard or the coordinator was down, the gateway's 503s
    # carried no Retry-After (only transient database failures had one).
    response = TestClient(_app()).get("/backend-away")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["code"] == "service_unavailable"


def test_a_bug_tells_nothing_of_itself() -> None:
    response = TestClient(_app(), raise_server_exceptions=False).get("/bug")
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "SELECT" not in response.text
