"""Deposits, withdrawals and the transaction history, with exact balances."""

from __future__ import annotations

from tests.e2e.client import (
    Gateway,
    Json,
    assert_problem,
    assert_validation_problem,
    expect,
)

TRANSACTION_FIELDS = {
    "id",
    "wallet_id",
    "type",
    "amount",
    "balance_after",
    "reference",
    "transfer_id",
    "metadata",
    "created_at",
}


def _balances(wallet: Json) -> tuple[str, str, str]:
    return wallet["balance"], wallet["available_balance"], wallet["frozen_balance"]


async def test_deposits_and_withdrawals_give_exact_balances(gw: Gateway) -> None:
    alice = gw.user("alice")
    wid = (await alice.create_wallet("USD"))["id"]

    first = await alice.deposit(wid, 1500)
    assert set(first) >= TRANSACTION_FIELDS
    assert (first["wallet_id"], first["type"], first["amount"], first["balance_after"]) == (
        wid,
        "deposit",
        "1500",
        "1500",
    )
    assert (first["transfer_id"], first["reference"]) == (None, None)

    body = {"amount": "2500", "reference": "order-77", "metadata": {"channel": "card", "n": 3}}
    second = expect(await alice.post_money(f"/v1/wallets/{wid}/deposits", body), 201)
    assert (second["amount"], second["balance_after"]) == ("2500", "4000")
    assert (second["reference"], second["metadata"]) == ("order-77", {"channel": "card", "n": 3})

    withdrawal = expect(await alice.withdraw_raw(wid, 1000), 201)
    assert (withdrawal["type"], withdrawal["amount"], withdrawal["balance_after"]) == (
        "withdrawal",
        "1000",
        "3000",
    )
    assert _balances(await alice.wallet(wid)) == ("3000", "3000", "0")

    assert_problem(await alice.withdraw_raw(wid, 3001), 422, "insufficient_funds")
    assert _balances(await alice.wallet(wid)) == ("3000", "3000", "0")

    emptied = expect(await alice.withdraw_raw(wid, "3000"), 201)
    assert emptied["balance_after"] == "0"
    assert_problem(await alice.withdraw_raw(wid, 1), 422, "insufficient_funds")
    assert _balances(await alice.wallet(wid)) == ("0", "0", "0")

    history = expect(await alice.get(f"/v1/wallets/{wid}/transactions"), 200)
    assert [(t["type"], t["amount"], t["balance_after"]) for t in history["items"]] == [
        ("withdrawal", "3000", "0"),
        ("withdrawal", "1000", "3000"),
        ("deposit", "2500", "4000"),
        ("deposit", "1500", "1500"),
    ]


async def test_balances_beyond_float_precision_stay_exact(gw: Gateway) -> None:
    alice = gw.user("alice")
    wid = (await alice.create_wallet("JPY"))["id"]
    max_amount = 10**15
    for _ in range(9):
        await alice.deposit(wid, max_amount)
    last = await alice.deposit(wid, "7199254740993")
    # 2**53 + 1: a JSON number would have lost the last digit on the way.
    assert last["balance_after"] == "9007199254740993"
    assert (await alice.wallet(wid))["balance"] == "9007199254740993"
    too_much = await alice.deposit_raw(wid, max_amount + 1)
    assert_validation_problem(too_much, "amount")
    withdrawal = expect(await alice.withdraw_raw(wid, max_amount), 201)
    assert withdrawal["balance_after"] == "8007199254740993"


async def test_transaction_history_pages_newest_first_without_gaps(gw: Gateway) -> None:
    alice = gw.user("alice")
    wid = (await alice.create_wallet("USD"))["id"]
    for amount in range(1, 7):
        await alice.deposit(wid, amount)
    path = f"/v1/wallets/{wid}/transactions"

    walked: list[Json] = []
    cursor: str | None = None
    while True:
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = expect(await alice.get(path, params), 200)
        assert len(page["items"]) == 1, page
        walked += page["items"]
        if len(walked) == 2:
            # New transactions arrive in the middle of the walk: they must not shift it.
            await alice.deposit(wid, 100)
            expect(await alice.withdraw_raw(wid, 50), 201)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [t["amount"] for t in walked] == ["6", "5", "4", "3", "2", "1"]
    assert [t["balance_after"] for t in walked] == ["21", "15", "10", "6", "3", "1"]
    assert len({t["id"] for t in walked}) == 6

    everything = await alice.all_pages(path, {"limit": 2})
    assert [t["amount"] for t in everything] == ["50", "100", "6", "5", "4", "3", "2", "1"]
    assert {t["wallet_id"] for t in everything} == {wid}


async def test_transaction_history_filters_by_type(gw: Gateway) -> None:
    alice = gw.user("alice")
    wid = (await alice.create_wallet("USD"))["id"]
    await alice.deposit(wid, 300)
    expect(await alice.withdraw_raw(wid, 100), 201)
    await alice.deposit(wid, 200)
    expect(await alice.withdraw_raw(wid, 50), 201)
    path = f"/v1/wallets/{wid}/transactions"

    deposits = expect(await alice.get(path, {"type": "deposit"}), 200)
    assert [(t["type"], t["amount"]) for t in deposits["items"]] == [
        ("deposit", "200"),
        ("deposit", "300"),
    ]
    withdrawals = await alice.all_pages(path, {"type": "withdrawal", "limit": 1})
    assert [(t["type"], t["amount"]) for t in withdrawals] == [
        ("withdrawal", "50"),
        ("withdrawal", "100"),
    ]
    transfers = expect(await alice.get(path, {"type": "transfer_in"}), 200)
    assert transfers == {"items": [], "next_cursor": None}
    assert_validation_problem(await alice.get(path, {"type": "gift"}), "type")
