"""Purchases, refunds and reversals through the gateway: every rule of API.md, the frozen-wallet
decision, idempotency, events, audit-friendly links, and concurrent refunds and reversals."""

from __future__ import annotations

import asyncio
from typing import Any

from wallet_devtools.cluster import WalletCluster

from tests.e2e.client import (
    Api,
    Gateway,
    Json,
    assert_problem,
    assert_validation_problem,
    expect,
    new_key,
    user_on_shard,
)
from tests.e2e.events import posted_transactions

UNKNOWN_TRANSACTION = "txn_" + "0" * 35


async def _purchase(
    api: Api, wallet_id: str, amount: Any, order_id: str, *, key: str | None = None
) -> Json:
    body = {"amount": amount, "order_id": order_id, "merchant": "Corner Shop"}
    response = await api.post_money(f"/v1/wallets/{wallet_id}/purchases", body, key=key)
    transaction: Json = expect(response, 201)
    return transaction


async def _refund_raw(api: Api, wallet_id: str, purchase_id: str, amount: Any) -> Any:
    body = {"purchase_id": purchase_id, "amount": amount}
    return await api.post_money(f"/v1/wallets/{wallet_id}/refunds", body)


async def _reverse_raw(
    api: Api, wallet_id: str, transaction_id: str, *, key: str | None = None
) -> Any:
    path = f"/v1/wallets/{wallet_id}/transactions/{transaction_id}/reversal"
    return await api.post_money(path, {"reason": "booked by mistake"}, key=key)


async def _balance(api: Api, wallet_id: str) -> str:
    balance: str = (await api.wallet(wallet_id))["balance"]
    return balance


async def test_purchases_and_refunds_follow_every_rule(gw: Gateway, cluster: WalletCluster) -> None:
    alice, admin = gw.user(user_on_shard(0, "alice")), gw.admin()
    bob = gw.user(user_on_shard(1, "bob"))
    wid = (await alice.create_wallet("USD"))["id"]
    await alice.deposit(wid, 10_000)

    key = new_key()
    bought = await _purchase(alice, wid, "2500", "ord-1", key=key)
    assert (bought["type"], bought["amount"], bought["balance_after"]) == (
        "purchase",
        "2500",
        "7500",
    )
    assert bought["reference"] == "ord-1"
    assert bought["metadata"] == {"order_id": "ord-1", "merchant": "Corner Shop"}
    replay = await alice.post_money(
        f"/v1/wallets/{wid}/purchases",
        {"amount": 2500, "order_id": "ord-1", "merchant": "Corner Shop"},
        key=key,
    )
    assert (replay.status_code, replay.headers.get("Idempotent-Replayed")) == (201, "true")
    assert replay.json() == bought
    again = await alice.post_money(
        f"/v1/wallets/{wid}/purchases", {"amount": 2500, "order_id": "ord-1"}
    )
    assert_problem(again, 409, "duplicate_order")
    assert await _balance(alice, wid) == "7500"

    purchases = f"/v1/wallets/{wid}/purchases"
    assert_validation_problem(await alice.post_money(purchases, {"amount": 5}), "order_id")
    assert_problem(
        await alice.post(purchases, {"amount": 5, "order_id": "x"}), 400, "idempotency_key_required"
    )
    assert_problem(
        await gw.auditor().post_money(purchases, {"amount": 5, "order_id": "x"}), 403, "forbidden"
    )
    assert_problem(
        await bob.post_money(purchases, {"amount": 5, "order_id": "x"}), 404, "not_found"
    )
    assert_problem(
        await alice.post_money(purchases, {"amount": 7501, "order_id": "big"}),
        422,
        "insufficient_funds",
    )

    # Refunds: admins only, partial and repeated, never beyond the purchase.
    assert_problem(await _refund_raw(alice, wid, bought["id"], 100), 403, "forbidden")
    first = expect(await _refund_raw(admin, wid, bought["id"], 1000), 201)
    assert (first["type"], first["amount"], first["balance_after"]) == ("refund", "1000", "8500")
    assert (first["reference"], first["metadata"]) == (bought["id"], {"purchase_id": bought["id"]})
    expect(await _refund_raw(admin, wid, bought["id"], "1000"), 201)
    over = assert_problem(
        await _refund_raw(admin, wid, bought["id"], 501), 422, "refund_exceeds_purchase"
    )
    assert "500" in over["detail"]
    last = expect(await _refund_raw(admin, wid, bought["id"], 500), 201)
    assert last["balance_after"] == "10000"
    assert_problem(await _refund_raw(admin, wid, bought["id"], 1), 422, "refund_exceeds_purchase")

    # Unknown purchases, and transactions that are not purchases of this wallet, are 404.
    bob_wid = (await bob.create_wallet("USD"))["id"]
    await bob.deposit(bob_wid, 300)
    bobs = await _purchase(bob, bob_wid, 300, "ord-1")
    deposit_id = (await alice.deposit(wid, 1))["id"]
    for purchase_id in (UNKNOWN_TRANSACTION, "nonsense", deposit_id, bobs["id"]):
        assert_problem(await _refund_raw(admin, wid, purchase_id, 1), 404, "not_found")

    # A frozen wallet receives refunds (and stays frozen); a closed one refuses them.
    second = await _purchase(alice, wid, 2000, "ord-2")
    await admin.freeze(wid)
    assert_problem(
        await alice.post_money(purchases, {"amount": 1, "order_id": "ord-3"}),
        422,
        "wallet_not_active",
    )
    while_frozen = expect(await _refund_raw(admin, wid, second["id"], 500), 201)
    assert while_frozen["balance_after"] == "8501"
    assert (await alice.wallet(wid))["status"] == "frozen"
    expect(await admin.post(f"/v1/wallets/{bob_wid}/close"), 200)
    assert_problem(await _refund_raw(admin, bob_wid, bobs["id"], 1), 422, "wallet_not_active")

    kinds = expect(await alice.get(f"/v1/wallets/{wid}/transactions", {"type": "purchase"}), 200)
    assert [t["reference"] for t in kinds["items"]] == ["ord-2", "ord-1"]
    posted = await posted_transactions(cluster, [bought["id"], first["id"], while_frozen["id"]])
    assert posted[bought["id"]]["transaction"] == bought
    assert posted[first["id"]]["transaction"]["type"] == "refund"
    report = await admin.integrity()
    assert report["consistent"] is True, report
    # In 10,001 + 300; out: purchases 2,500 + 2,000 + 300 less refunds 2,500 + 500.
    assert report["currencies"]["USD"]["external_net"] == str(10_001 + 300 - 4_800 + 3_000)


async def test_reversals_undo_once_and_never_a_transfer(
    gw: Gateway, cluster: WalletCluster
) -> None:
    alice, admin = gw.user(user_on_shard(0, "alice")), gw.admin()
    bob = gw.user(user_on_shard(1, "bob"))
    wid = (await alice.create_wallet("USD"))["id"]
    bob_wid = (await bob.create_wallet("USD"))["id"]

    mistaken = await alice.deposit(wid, 1000)
    key = new_key()
    undone = expect(await _reverse_raw(admin, wid, mistaken["id"], key=key), 201)
    assert (undone["type"], undone["amount"], undone["balance_after"]) == ("reversal", "1000", "0")
    assert undone["reference"] == mistaken["id"]
    assert undone["metadata"] == {
        "reversal_of": mistaken["id"],
        "reversed_type": "deposit",
        "reason": "booked by mistake",
    }
    replay = await _reverse_raw(admin, wid, mistaken["id"], key=key)
    assert (replay.status_code, replay.json()) == (201, undone)
    assert_problem(await _reverse_raw(admin, wid, mistaken["id"]), 409, "already_reversed")
    assert_problem(await _reverse_raw(alice, wid, mistaken["id"]), 403, "forbidden")
    path = f"/v1/wallets/{wid}/transactions/{mistaken['id']}/reversal"
    assert_validation_problem(await admin.post_money(path, {}), "reason")
    history = await alice.all_pages(f"/v1/wallets/{wid}/transactions")
    assert history[-1] == mistaken  # the original is never edited

    # Undoing a credit that was spent since would overdraw: refused until money is back.
    credit = await alice.deposit(wid, 500)
    spent = expect(await alice.withdraw_raw(wid, 500), 201)
    assert_problem(await _reverse_raw(admin, wid, credit["id"]), 422, "insufficient_funds")
    assert expect(await _reverse_raw(admin, wid, spent["id"]), 201)["balance_after"] == "500"
    expect(await _reverse_raw(admin, wid, credit["id"]), 201)

    # Transfers are undone by a new transfer, never by a reversal of one side.
    await alice.deposit(wid, 400)
    transfer = expect(await alice.transfer_raw(wid, bob_wid, 400, wait_s=20), 200)
    assert transfer["status"] == "completed", transfer
    out = expect(await alice.get(f"/v1/wallets/{wid}/transactions", {"type": "transfer_out"}), 200)[
        "items"
    ][0]
    into = expect(await bob.get(f"/v1/wallets/{bob_wid}/transactions"), 200)["items"][0]
    refused = assert_problem(
        await _reverse_raw(admin, wid, out["id"]), 422, "transfer_not_reversible"
    )
    assert "new transfer" in refused["detail"]
    assert_problem(await _reverse_raw(admin, bob_wid, into["id"]), 422, "transfer_not_reversible")
    assert_problem(await _reverse_raw(admin, wid, undone["id"]), 422, "reversal_not_reversible")
    for transaction_id in (UNKNOWN_TRANSACTION, into["id"], "nonsense"):
        assert_problem(await _reverse_raw(admin, wid, transaction_id), 404, "not_found")

    # A refunded purchase is reversed only once its refunds are; then nothing is refundable.
    await alice.deposit(wid, 300)
    bought = await _purchase(alice, wid, 300, "ord-9")
    refund = expect(await _refund_raw(admin, wid, bought["id"], 100), 201)
    assert_problem(await _reverse_raw(admin, wid, bought["id"]), 409, "purchase_refunded")
    expect(await _reverse_raw(admin, wid, refund["id"]), 201)
    assert expect(await _reverse_raw(admin, wid, bought["id"]), 201)["balance_after"] == "300"
    assert_problem(await _refund_raw(admin, wid, bought["id"], 1), 422, "refund_exceeds_purchase")
    assert await _balance(alice, wid) == "300"
    posted = await posted_transactions(cluster, [undone["id"]])
    assert posted[undone["id"]]["transaction"] == undone
    report = await admin.integrity()
    assert report["consistent"] is True, report


async def test_concurrent_refunds_and_reversals_never_overshoot(gw: Gateway) -> None:
    alice, admin = gw.user("alice"), gw.admin()
    wid = (await alice.create_wallet("EUR"))["id"]
    await alice.deposit(wid, 1000)
    bought = await _purchase(alice, wid, 1000, "ord-1")

    refunds = await asyncio.gather(*(_refund_raw(admin, wid, bought["id"], 100) for _ in range(25)))
    succeeded = [r for r in refunds if r.status_code == 201]
    assert len(succeeded) == 10, [r.text for r in refunds]
    for response in refunds:
        if response.status_code != 201:
            assert_problem(response, 422, "refund_exceeds_purchase")
    assert sorted(int(r.json()["balance_after"]) for r in succeeded) == list(range(100, 1001, 100))

    deposit = await alice.deposit(wid, 50)
    reversals = await asyncio.gather(*(_reverse_raw(admin, wid, deposit["id"]) for _ in range(8)))
    assert sorted(r.status_code for r in reversals) == [201] + [409] * 7, [
        r.text for r in reversals
    ]
    assert await _balance(alice, wid) == "1000"
    report = await admin.integrity()
    assert report["consistent"] is True, report
