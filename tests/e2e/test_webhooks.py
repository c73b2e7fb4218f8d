"""Webhooks through the public API, delivered to real receivers on 127.0.0.1: signed, retried
after refusals, not held back by an endpoint that never answers, failed after the retry window
and retried by an admin, and neither lost nor processed twice across a coordinator crash."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from wallet_devtools.cluster import WalletCluster

from tests.e2e.client import Api, Gateway, assert_problem, assert_validation_problem, expect
from tests.e2e.webhook_receiver import WebhookReceiver, eventually

# Small delays so the retry schedule and its window pass within a test; the rules are the
# production ones.
FAST_RETRIES = {
    "WALLET_WEBHOOK_RETRY_BASE_S": "0.2",
    "WALLET_WEBHOOK_RETRY_CAP_S": "0.5",
    "WALLET_WEBHOOK_RETRY_WINDOW_S": "4",
    "WALLET_WEBHOOK_TIMEOUT_S": "1",
    "WALLET_WEBHOOK_POLL_INTERVAL_S": "0.2",
}


@pytest_asyncio.fixture
async def receivers() -> AsyncIterator[list[WebhookReceiver]]:
    started: list[WebhookReceiver] = []
    yield started
    for receiver in started:
        await receiver.stop()


async def register(
    admin: Api, receiver: WebhookReceiver, event_types: list[str], started: list[WebhookReceiver]
) -> dict[str, Any]:
    started.append(receiver)
    url = await receiver.start()
    hook: dict[str, Any] = expect(
        await admin.post("/v1/admin/webhooks", {"url": url, "event_types": event_types}), 201
    )
    assert hook["secret"].startswith("whsec_")
    receiver.secret = hook["secret"]
    return hook


async def deliveries(admin: Api, webhook_id: str) -> list[dict[str, Any]]:
    return await admin.all_pages(f"/v1/admin/webhooks/{webhook_id}/deliveries")


@pytest.mark.cluster(env=FAST_RETRIES)
async def test_signed_deliveries_retries_isolation_failure_and_admin_retry(
    gw: Gateway, receivers: list[WebhookReceiver]
) -> None:
    admin, alice = gw.admin(), gw.user("alice")
    flaky = WebhookReceiver(fail_first=2)
    silent = WebhookReceiver(never_answer=True)
    types = ["wallet.created", "transaction.posted"]
    flaky_hook = await register(admin, flaky, types, receivers)
    silent_hook = await register(admin, silent, ["transaction.posted"], receivers)

    listed = await admin.all_pages("/v1/admin/webhooks")
    assert {h["id"] for h in listed} >= {flaky_hook["id"], silent_hook["id"]}
    assert all("secret" not in hook for hook in listed)
    bad_url = await admin.post("/v1/admin/webhooks", {"url": "ftp://x", "event_types": types})
    assert_validation_problem(bad_url, "url")
    bad_type = await admin.post("/v1/admin/webhooks", {"url": flaky.url, "event_types": ["x"]})
    assert_validation_problem(bad_type, "event_types")
    assert_problem(await alice.get("/v1/admin/webhooks"), 403, "forbidden")

    wallet = await alice.create_wallet()
    posted = [(await alice.deposit(wallet["id"], 100 + n))["id"] for n in range(3)]

    def flaky_has_everything() -> bool:
        got = {e["transaction"]["id"] for e in flaky.matching(lambda e: "transaction" in e)}
        created = flaky.matching(lambda e: e["event_type"] == "wallet.created")
        return got == set(posted) and len(created) == 1

    # The never-answering endpoint does not hold the other back.
    await eventually(flaky_has_everything, what="all events at the flaky receiver")
    assert flaky.bad_signatures == []
    flaky_deliveries = await deliveries(admin, flaky_hook["id"])
    await eventually(
        lambda: _all_status(admin, flaky_hook["id"], "delivered"), what="flaky all delivered"
    )
    assert any(d["attempts"] > 1 for d in await deliveries(admin, flaky_hook["id"]))
    assert len(flaky_deliveries) == 4

    # The silent one times out on every attempt, then fails once the retry window is over.
    await eventually(
        lambda: _all_status(admin, silent_hook["id"], "failed"), what="silent all failed"
    )
    failed = await deliveries(admin, silent_hook["id"])
    assert len(failed) == 3
    assert all(d["attempts"] >= 2 and d["next_attempt_at"] is None for d in failed)
    retry_path = f"/v1/admin/webhooks/{silent_hook['id']}/deliveries/{failed[0]['id']}/retry"
    retried = expect(await admin.post(retry_path), 200)
    assert retried["status"] == "pending"
    assert_problem(await admin.post(retry_path), 409, "conflict")

    gone = f"/v1/admin/webhooks/{silent_hook['id']}"
    assert (await admin.http.delete(gone, headers=admin._headers(None))).status_code == 204
    assert_problem(await admin.get(f"{gone}/deliveries"), 404, "not_found")
    audit = await admin.all_pages("/v1/admin/audit-log", {"actor": "ops-admin"})
    actions = [record["action"] for record in audit]
    assert actions.count("webhook.create") == 2
    assert {"webhook.delete", "webhook.delivery_retry"} <= set(actions)


async def _all_status(admin: Api, webhook_id: str, status: str) -> bool:
    found = await deliveries(admin, webhook_id)
    return bool(found) and all(d["status"] == status for d in found)


@pytest.mark.cluster(env=FAST_RETRIES)
async def test_a_coordinator_crash_loses_no_delivery_and_repeats_none_after_dedupe(
    cluster: WalletCluster, gw: Gateway, receivers: list[WebhookReceiver]
) -> None:
    admin, bob = gw.admin(), gw.user("bob")
    receiver = WebhookReceiver(answer_after_s=0.3)
    hook = await register(admin, receiver, ["transaction.posted"], receivers)
    wallet = await bob.create_wallet()
    expected = {(await bob.deposit(wallet["id"], 10 + n))["id"] for n in range(12)}
    await eventually(lambda: len(receiver.events) >= 2, what="the first deliveries")

    await cluster.kill("coordinator")  # SIGKILL, with deliveries in flight and more pending
    assert len(receiver.events) < len(expected)
    await cluster.restart("coordinator")

    await eventually(
        lambda: {e["transaction"]["id"] for e in receiver.events.values()} == expected,
        what="every deposit delivered after the restart",
    )
    await eventually(lambda: _all_status(admin, hook["id"], "delivered"), what="all delivered")
    assert len(receiver.events) == len(expected)  # each processed once (duplicates deduped)
    assert len(await deliveries(admin, hook["id"])) == len(expected)
    assert receiver.bad_signatures == []
