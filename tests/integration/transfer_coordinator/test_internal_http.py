"""The coordinator's internal HTTP routes, in process, on a real PostgreSQL (no Kafka: the outbox is
read directly and replies are fed to the handler)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from transfer_coordinator.adapters.notifications import FinalStatusListener
from transfer_coordinator.service_layer.replies import handle_replies
from transfer_coordinator.service_layer.waiting import FinalWaiters
from wallet_shared.contracts.messages import (
    CreditConfirmed,
    CreditTried,
    DebitConfirmed,
    DebitTried,
    LegReply,
)

from tests.integration.transfer_coordinator.harness import (
    Harness,
    internal_app,
    internal_client,
    wallet_on_shard,
)
from tests.service_credentials import internal_headers

SOURCE = wallet_on_shard(0)
DESTINATION = wallet_on_shard(1)
BODY = {
    "source_wallet_id": SOURCE,
    "destination_wallet_id": DESTINATION,
    "amount": 2500,
    "currency": "EUR",
    "description": "dinner",
}


@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    app = internal_app(harness)
    waiters = FinalWaiters()
    listener = FinalStatusListener(
        dsn=harness.dsn, on_final=waiters.announce, on_reconnect=waiters.announce_all
    )
    await listener.start()
    app.state.final_waiters = waiters
    try:
        async with internal_client(app) as http:
            yield http
    finally:
        await listener.stop()


def headers(key: str | None = "k-1", caller: str = "alice") -> dict[str, str]:
    found = internal_headers(caller, "user", owner_scope=caller)
    return found | ({"Idempotency-Key": key} if key is not None else {})


def completing_replies(transfer_id: str) -> list[list[LegReply]]:
    return [
        [
            DebitTried(transfer_id=transfer_id, wallet_id=SOURCE, ok=True),
            CreditTried(transfer_id=transfer_id, wallet_id=DESTINATION, ok=True),
        ],
        [
            CreditConfirmed(transfer_id=transfer_id, wallet_id=DESTINATION),
            DebitConfirmed(transfer_id=transfer_id, wallet_id=SOURCE),
        ],
    ]


def problem_code(response: httpx.Response) -> Any:
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()["code"]


async def test_post_answers_202_pending_and_replays_it(client: httpx.AsyncClient) -> None:
    first = await client.post("/internal/transfers", json=BODY, headers=headers())
    again = await client.post("/internal/transfers", json=BODY, headers=headers())

    assert first.status_code == 202
    body = first.json()
    assert (body["status"], body["amount"], body["currency"]) == ("pending", "2500", "EUR")
    assert again.status_code == 202
    assert again.json() == body
    assert again.headers["idempotent-replayed"] == "true"
    reused = await client.post("/internal/transfers", json=BODY | {"amount": 1}, headers=headers())
    assert problem_code(reused) == "idempotency_key_reused"


async def test_a_key_is_claimed_once_across_deposits_and_transfers(
    client: httpx.AsyncClient,
) -> None:
    async def claim(key: str, fingerprint: str, caller: str = "alice") -> str:
        body = {"claims": [{"caller": caller, "key": key, "fingerprint": fingerprint}]}
        answer = await client.post("/internal/idempotency-claims", json=body)
        assert answer.status_code == 200
        [result] = answer.json()["results"]
        return str(result)

    # A deposit booked on a shard claimed k-dep: the same claim again is fine, another is not.
    assert await claim("k-dep", "f1") == "claimed"
    assert await claim("k-dep", "f1") == "claimed"
    assert await claim("k-dep", "f2") == "reused"
    # ... and a transfer under that key is refused; another caller's k-dep is theirs.
    with_fingerprint = headers("k-dep") | {"X-Request-Fingerprint": "f3"}
    transfer = await client.post("/internal/transfers", json=BODY, headers=with_fingerprint)
    assert (transfer.status_code, problem_code(transfer)) == (422, "idempotency_key_reused")
    bob = headers("k-dep", caller="bob") | {"X-Request-Fingerprint": "f3"}
    assert (await client.post("/internal/transfers", json=BODY, headers=bob)).status_code == 202
    # A transfer's key cannot then serve a deposit.
    assert await claim("k-dep", "f1", caller="bob") == "reused"


async def test_claims_sent_together_are_answered_each_in_order(
    client: httpx.AsyncClient,
) -> None:
    def claim(key: str, fingerprint: str) -> dict[str, str]:
        return {"caller": "carol", "key": key, "fingerprint": fingerprint}

    first = {"claims": [claim("k1", "f1"), claim("k2", "f2")]}
    assert (await client.post("/internal/idempotency-claims", json=first)).json() == {
        "results": ["claimed", "claimed"]
    }
    # One batch: a new key, a replay, a reuse, and one new key for two requests (they race:
    # exactly one of them holds it).
    mixed = {
        "claims": [
            claim("k3", "f3"),
            claim("k1", "f1"),
            claim("k2", "fX"),
            claim("k4", "a"),
            claim("k4", "b"),
        ]
    }
    results = (await client.post("/internal/idempotency-claims", json=mixed)).json()["results"]
    assert results[:3] == ["claimed", "claimed", "reused"]
    assert sorted(results[3:]) == ["claimed", "reused"]
    bad_bodies: list[dict[str, list[dict[str, str]]]] = [
        {"claims": []},
        {"claims": [claim("", "f")]},
        {},
    ]
    for bad in bad_bodies:
        refused = await client.post("/internal/idempotency-claims", json=bad)
        assert (refused.status_code, problem_code(refused)) == (422, "validation_error"), bad


async def test_post_refusals(client: httpx.AsyncClient) -> None:
    no_key = await client.post("/internal/transfers", json=BODY, headers=headers(key=None))
    assert (no_key.status_code, problem_code(no_key)) == (400, "idempotency_key_required")
    same = BODY | {"destination_wallet_id": SOURCE}
    refused = await client.post("/internal/transfers", json=same, headers=headers())
    assert (refused.status_code, problem_code(refused)) == (422, "same_wallet")
    for bad in ({"amount": 0}, {"amount": "1.5"}, {"currency": "usd"}, {"amount": 10.0}):
        invalid = await client.post("/internal/transfers", json=BODY | bad, headers=headers("x"))
        assert (invalid.status_code, problem_code(invalid)) == (422, "validation_error"), bad
    too_long = await client.post("/internal/transfers?wait=31", json=BODY, headers=headers("y"))
    assert too_long.status_code == 422


async def test_wait_answers_200_once_final(harness: Harness, client: httpx.AsyncClient) -> None:
    async def participants() -> None:
        # The shards' replies, as soon as the saga row exists.
        for _ in range(1000):
            transfer_id = await harness.pool.fetchval("SELECT id FROM transfers")
            if transfer_id is not None:
                break
            await asyncio.sleep(0.01)
        for batch in completing_replies(transfer_id):
            await asyncio.sleep(0.05)
            await handle_replies(harness.ctx, batch)

    replying = asyncio.create_task(participants())
    response = await client.post("/internal/transfers?wait=10", json=BODY, headers=headers())
    await replying

    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    # A repeat is told what the first request was told: 200 with the final transfer.
    for wait in ("10", "0"):
        replay = await client.post(f"/internal/transfers?wait={wait}", json=BODY, headers=headers())
        assert (replay.status_code, replay.json()) == (200, response.json())
        assert replay.headers["idempotent-replayed"] == "true"


async def test_wait_times_out_with_the_pending_body(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    response = await client.post("/internal/transfers?wait=0.3", json=BODY, headers=headers())

    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    replay = await client.post("/internal/transfers", json=BODY, headers=headers())
    assert (replay.status_code, replay.json()) == (202, response.json())
    assert replay.headers["idempotent-replayed"] == "true"
    # Once it is final, a repeat is told the final state, as a caller who waited would be.
    for batch in completing_replies(response.json()["id"]):
        await handle_replies(harness.ctx, batch)
    final = await client.post("/internal/transfers", json=BODY, headers=headers())
    assert (final.status_code, final.json()["status"]) == (200, "completed")
    assert final.json()["id"] == response.json()["id"]
    assert final.headers["idempotent-replayed"] == "true"


async def test_get_and_list(client: httpx.AsyncClient) -> None:
    created = (await client.post("/internal/transfers", json=BODY, headers=headers())).json()

    one = await client.get(f"/internal/transfers/{created['id']}")
    assert (one.status_code, one.json()) == (200, created)
    for unknown in ("trf_" + "0" * 32, "nonsense", "wlt_123"):
        missing = await client.get(f"/internal/transfers/{unknown}")
        assert (missing.status_code, problem_code(missing)) == (404, "not_found")
    listed = await client.get("/internal/transfers", params={"wallet_id": DESTINATION})
    assert listed.json() == {"items": [created], "next_cursor": None}
    invalid: list[dict[str, str | int]] = [
        {"wallet_id": SOURCE, "limit": 0},
        {"wallet_id": SOURCE, "limit": 202},  # one above what a merging gateway asks
        {},
    ]
    for params in invalid:
        assert (await client.get("/internal/transfers", params=params)).status_code == 422
    bad_cursor = await client.get(
        "/internal/transfers", params={"wallet_id": SOURCE, "cursor": "!!"}
    )
    assert problem_code(bad_cursor) == "validation_error"


async def test_integrity(harness: Harness, client: httpx.AsyncClient) -> None:
    created = (await client.post("/internal/transfers", json=BODY, headers=headers())).json()
    tries, _ = completing_replies(created["id"])
    await handle_replies(harness.ctx, tries)
    await handle_replies(harness.ctx, [DebitConfirmed(transfer_id=created["id"], wallet_id=SOURCE)])

    report = await client.post(
        "/internal/integrity", json={"active_leg_transfer_ids": [created["id"]]}
    )

    assert report.status_code == 200
    answer = report.json()
    assert answer | {"cut": None} == {
        "pending": 1,
        "stuck": [],
        "final_with_active_legs": [],
        "in_flight": {"EUR": "2500"},
        "cut": None,
        "settled": {},
        "sagas": [],
        "late_pending": [],
    }
    # The cut reads the saga (made just now) leg by leg; with it, the saga's facts.
    assert answer["cut"]["pending_before"] == []
    assert created["id"] >= answer["cut"]["recent_from"]
    judged = await client.post(
        "/internal/integrity",
        json={"cut": answer["cut"], "transfer_ids": [created["id"]]},
    )
    assert judged.status_code == 200
    assert judged.json()["sagas"] == [
        {
            "id": created["id"],
            "status": "pending",
            "phase": "confirming",
            "amount": "2500",
            "currency": "EUR",
            "source_shard": 0,
            "destination_shard": 1,
        }
    ]
    assert judged.json()["settled"] == {}
    assert judged.json()["late_pending"] == []
