"""A ledger verification or rebuild waits for a shard as long as the whole-ledger aggregate may
take (WALLET_LEDGER_MAINTENANCE_TIMEOUT_S), not the backend timeout of a request: otherwise the
CLI is answered 503 while the shard goes on."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import orjson
from gateway.adapters.backends import Backends, ClientOrigin
from gateway.domain.principal import Principal
from gateway.domain.routing import ShardRouter
from gateway.service_layer.ledger_maintenance import rebuild_snapshots, verify_ledger
from wallet_shared.contracts.ledger_admin import RebuildRequest
from wallet_shared.contracts.routing import ShardMap
from wallet_shared.platform.http_client import InternalHttpClient
from wallet_shared.platform.service_auth import ServiceTokenIssuer

ADMIN = Principal(user_id="ops", role="admin")


def _shard_answer(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/internal/ledger/verify":
        body: dict[str, object] = {
            "shard": 0 if request.url.port == 9100 else 1,
            "checked_at": datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
            "wallets_checked": 0,
            "differences": [],
            "differences_truncated": False,
            "open_legs": [],
        }
    else:
        body = {"shard": "shard-0", "items": [], "next_cursor": None, "wallets_total": 0}
    return httpx.Response(
        200, content=orjson.dumps(body), headers={"content-type": "application/json"}
    )


async def test_verify_and_rebuild_wait_for_a_shard_the_maintenance_timeout() -> None:
    read_timeouts: dict[str, float] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        read_timeouts[request.url.path] = request.extensions["timeout"]["read"]
        return _shard_answer(request)

    async with InternalHttpClient(
        timeout_s=10, max_connections=4, transport=httpx.MockTransport(answer)
    ) as client:
        backends = Backends(
            client=client,
            credentials=ServiceTokenIssuer(secret="s" * 32, service="gateway"),
            shard_urls=["http://shard-0:9100", "http://shard-1:9101"],
            coordinator_url="http://coordinator:9000",
            timeout_s=10,
            maintenance_timeout_s=100,
        )
        await verify_ledger(backends, ADMIN)
        await rebuild_snapshots(
            backends,
            ShardRouter(ShardMap.even(2)),
            ADMIN,
            RebuildRequest(shard=0, limit=10),
            ClientOrigin(address="127.0.0.1", user_agent="test"),
        )
    assert read_timeouts == {"/internal/ledger/verify": 100, "/internal/ledger/rebuild": 100}
