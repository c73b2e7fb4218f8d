"""Authentication and roles: who may call, and what each caller may see or touch."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import jwt
import orjson
from wallet_devtools.cluster import WalletCluster
from wallet_devtools.tokens import mint_token

from tests.e2e.client import (
    Gateway,
    assert_problem,
    expect,
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unsigned_token(claims: dict[str, Any]) -> str:
    """A token with `alg: none` and no signature, the classic forgery."""
    header = _b64(orjson.dumps({"alg": "none", "typ": "JWT"}))
    return f"{header}.{_b64(orjson.dumps(claims))}."


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "mallory", "role": "user", "iat": now, "exp": now + 600} | overrides


async def test_requests_without_a_valid_token_are_401(gw: Gateway, cluster: WalletCluster) -> None:
    secret = cluster.jwt_secret
    no_exp = _claims()
    del no_exp["exp"]
    bad_tokens = {
        "garbage": "not-a-jwt",
        "signed with another secret": mint_token(secret="x" * 64, sub="mallory"),
        "expired": mint_token(secret=secret, sub="mallory", ttl_s=-120),
        "alg none": _unsigned_token(_claims()),
        "alg none, role admin": _unsigned_token(_claims(role="admin")),
        "HS512 instead of HS256": jwt.encode(_claims(), secret, algorithm="HS512"),
        "without exp": jwt.encode(no_exp, secret, algorithm="HS256"),
        "unknown role": jwt.encode(_claims(role="superuser"), secret, algorithm="HS256"),
        "sub with a space": jwt.encode(_claims(sub="mal lory"), secret, algorithm="HS256"),
        "sub of 65 chars": jwt.encode(_claims(sub="m" * 65), secret, algorithm="HS256"),
        "without sub": jwt.encode(
            {k: v for k, v in _claims().items() if k != "sub"}, secret, algorithm="HS256"
        ),
    }
    for name, token in bad_tokens.items():
        response = await gw.with_token(token).get("/v1/wallets")
        assert response.status_code == 401, f"{name}: {response.status_code} {response.text}"
        assert_problem(response, 401, "unauthorized")

    anonymous = gw.with_token(None)
    assert_problem(await anonymous.get("/v1/wallets"), 401, "unauthorized")
    assert_problem(await anonymous.post("/v1/wallets", {"currency": "USD"}), 401, "unauthorized")
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "bearer-less-token"):
        response = await anonymous.get("/v1/wallets", headers={"Authorization": header})
        assert_problem(response, 401, "unauthorized")

    # None of the refused callers got a wallet registered.
    listing = expect(await gw.admin().get("/v1/wallets"), 200)
    assert listing["items"] == []

    # A valid token without a role claim is a plain user (API.md: `user` is the default).
    token = jwt.encode({"sub": "plain", "exp": int(time.time()) + 600}, secret, algorithm="HS256")
    plain = gw.with_token(token)
    wallet = expect(await plain.post("/v1/wallets", {"currency": "USD"}), 201)
    assert wallet["user_id"] == "plain"
    assert_problem(await plain.get("/v1/admin/integrity"), 403, "forbidden")


async def test_auditor_reads_everything_and_writes_nothing(gw: Gateway) -> None:
    alice, auditor = gw.user("alice"), gw.auditor()
    wallet = await alice.create_wallet("USD")
    await alice.deposit(wallet["id"], 500)
    other = await gw.user("bob").create_wallet("USD")

    assert (await auditor.wallet(wallet["id"]))["balance"] == "500"
    history = expect(await auditor.get(f"/v1/wallets/{wallet['id']}/transactions"), 200)
    assert [t["amount"] for t in history["items"]] == ["500"]
    listing = expect(await auditor.get("/v1/wallets", {"user_id": "alice"}), 200)
    assert [w["id"] for w in listing["items"]] == [wallet["id"]]
    expect(await auditor.get("/v1/admin/integrity"), 200)

    wid = wallet["id"]
    writes = [
        auditor.post("/v1/wallets", {"currency": "USD"}),
        auditor.post("/v1/wallets", {"currency": "USD", "user_id": "alice"}),
        auditor.deposit_raw(wid, 100),
        auditor.withdraw_raw(wid, 100),
        auditor.transfer_raw(wid, other["id"], 100),
        auditor.post(f"/v1/wallets/{wid}/freeze"),
    ]
    for write in writes:
        assert_problem(await write, 403, "forbidden")
    assert (await alice.wallet(wid))["balance"] == "500"
    assert (await alice.wallet(wid))["status"] == "active"
    assert (await gw.user("bob").wallet(other["id"]))["balance"] == "0"


async def test_users_cannot_see_or_touch_other_users_wallets(gw: Gateway) -> None:
    alice, bob = gw.user("alice"), gw.user("bob")
    wallet = await alice.create_wallet("USD", label="savings")
    await alice.deposit(wallet["id"], 1000)
    bobs = await bob.create_wallet("USD")
    wid = wallet["id"]

    attempts = [
        bob.get(f"/v1/wallets/{wid}"),
        bob.get(f"/v1/wallets/{wid}/transactions"),
        bob.get("/v1/transfers", {"wallet_id": wid}),
        bob.deposit_raw(wid, 100),
        bob.withdraw_raw(wid, 100),
        bob.transfer_raw(wid, bobs["id"], 100, wait_s=5),
    ]
    for attempt in attempts:
        response = await attempt
        assert_problem(response, 404, "not_found")
        assert "savings" not in response.text

    own_list = expect(await bob.get("/v1/wallets"), 200)
    assert [w["id"] for w in own_list["items"]] == [bobs["id"]]
    # A user asking for someone else's list gets refused or their own, never alice's wallets.
    response = await bob.get("/v1/wallets", {"user_id": "alice"})
    assert response.status_code in (200, 403), response.text
    assert wid not in response.text

    after = await alice.wallet(wid)
    assert (after["balance"], after["available_balance"]) == ("1000", "1000")
    assert (await bob.wallet(bobs["id"]))["balance"] == "0"
    history = expect(await alice.get(f"/v1/wallets/{wid}/transactions"), 200)
    assert [t["type"] for t in history["items"]] == ["deposit"]


async def test_admin_may_act_on_any_wallet_and_only_admin_manages_status(gw: Gateway) -> None:
    alice, admin = gw.user("alice"), gw.admin()
    wallet = await alice.create_wallet("EUR")
    wid = wallet["id"]

    assert (await admin.wallet(wid))["user_id"] == "alice"
    deposit = await admin.deposit(wid, 700)
    assert (deposit["type"], deposit["amount"], deposit["balance_after"]) == (
        "deposit",
        "700",
        "700",
    )
    withdrawal = expect(await admin.withdraw_raw(wid, 200), 201)
    assert (withdrawal["type"], withdrawal["balance_after"]) == ("withdrawal", "500")
    listing = expect(await admin.get("/v1/wallets", {"user_id": "alice"}), 200)
    assert [w["id"] for w in listing["items"]] == [wid]
    assert (await alice.wallet(wid))["balance"] == "500"

    assert_problem(await alice.post(f"/v1/wallets/{wid}/freeze"), 403, "forbidden")
    assert (await admin.freeze(wid))["status"] == "frozen"
    assert (await alice.wallet(wid))["status"] == "frozen"
    assert_problem(await alice.post(f"/v1/wallets/{wid}/unfreeze"), 403, "forbidden")
    unfrozen = expect(await admin.post(f"/v1/wallets/{wid}/unfreeze"), 200)
    assert unfrozen["status"] == "active"
    assert (await alice.wallet(wid))["status"] == "active"


async def test_shards_and_the_coordinator_refuse_callers_that_are_not_the_gateway(
    gw: Gateway, cluster: WalletCluster
) -> None:
    # What anyone who reaches an internal port could try: no credential, or a user's public
    # token (even an admin's) sent straight there. The gateway's own calls keep working.
    alice = gw.user("alice")
    wallet = await alice.create_wallet("USD")
    admin_token = {"Authorization": f"Bearer {cluster.token('ops', 'admin')}"}
    deposit = {"amount": 100, "reference": None, "metadata": None}
    async with httpx.AsyncClient(timeout=10) as client:
        for name, url in cluster.urls.items():
            if name == "gateway":
                continue
            for headers in ({}, admin_token):
                answer = await client.get(f"{url}/internal/dead-letters", headers=headers)
                assert answer.status_code == 401, (name, answer.text)
                moved = await client.post(
                    f"{url}/internal/wallets/{wallet['id']}/deposits",
                    json=deposit,
                    headers={"Idempotency-Key": "direct", **headers},
                )
                assert moved.status_code == 401, (name, moved.text)
            assert (await client.get(f"{url}/health/ready")).status_code == 200
    assert (await alice.wallet(wallet["id"]))["balance"] == "0"
