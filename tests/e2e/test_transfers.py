"""Transfers within a shard and across shards: completed, cancelled for each reason, access."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from wallet_shared.contracts.ids import new_wallet_id

from tests.e2e.client import (
    SHARDS,
    Api,
    Gateway,
    Json,
    assert_problem,
    expect,
    shard_of_wallet,
    user_on_shard,
)

TRANSFER_FIELDS = {
    "id",
    "source_wallet_id",
    "destination_wallet_id",
    "amount",
    "currency",
    "description",
    "status",
    "failure_code",
    "created_at",
    "updated_at",
}


@dataclass
class Party:
    api: Api
    wallet_id: str

    async def balances(self) -> tuple[str, str, str]:
        wallet = await self.api.wallet(self.wallet_id)
        return wallet["balance"], wallet["available_balance"], wallet["frozen_balance"]

    async def history(self) -> list[tuple[str, str, str, str | None]]:
        items = await self.api.all_pages(f"/v1/wallets/{self.wallet_id}/transactions")
        return [(t["type"], t["amount"], t["balance_after"], t["transfer_id"]) for t in items]


async def _party(gw: Gateway, user: str, *, currency: str = "USD", funds: int = 0) -> Party:
    api = gw.user(user)
    wallet_id = (await api.create_wallet(currency))["id"]
    if funds:
        await api.deposit(wallet_id, funds)
    return Party(api, wallet_id)


async def _completed(source: Party, destination: Party, amount: int) -> Json:
    response = await source.api.transfer_raw(
        source.wallet_id, destination.wallet_id, amount, wait_s=10
    )
    transfer: Json = expect(response, 200)
    assert set(transfer) >= TRANSFER_FIELDS
    assert (transfer["status"], transfer["failure_code"]) == ("completed", None), transfer
    assert (transfer["source_wallet_id"], transfer["destination_wallet_id"]) == (
        source.wallet_id,
        destination.wallet_id,
    )
    assert (transfer["amount"], transfer["currency"]) == (str(amount), "USD")
    return transfer


async def _refused_or_cancelled(response: httpx.Response, api: Api, code: str) -> None:
    """API.md: a transfer that cannot be booked ends cancelled with the code as failure_code,
    or is refused up front with the same code."""
    if response.status_code in (200, 202):
        transfer = await api.await_final(response.json()["id"])
        assert (transfer["status"], transfer["failure_code"]) == ("cancelled", code), transfer
    else:
        status = 404 if code == "not_found" else 422
        assert_problem(response, status, code)


async def test_cross_shard_transfer_completes(gw: Gateway) -> None:
    alice = await _party(gw, user_on_shard(0, "alice"), funds=1000)
    bob = await _party(gw, user_on_shard(1, "bob"))
    assert (shard_of_wallet(alice.wallet_id), shard_of_wallet(bob.wallet_id)) == (0, 1)

    transfer = await _completed(alice, bob, 300)

    assert await alice.balances() == ("700", "700", "0")
    assert await bob.balances() == ("300", "300", "0")
    assert (await alice.history())[0] == ("transfer_out", "300", "700", transfer["id"])
    assert await bob.history() == [("transfer_in", "300", "300", transfer["id"])]
    assert await alice.api.transfer(transfer["id"]) == transfer


async def test_same_shard_transfers_complete(gw: Gateway) -> None:
    alice = await _party(gw, user_on_shard(0, "alice"), funds=1000)
    dave = await _party(gw, user_on_shard(0, "dave"))
    savings = Party(alice.api, (await alice.api.create_wallet("USD"))["id"])

    to_dave = await _completed(alice, dave, 250)
    to_savings = await _completed(alice, savings, 150)

    assert await alice.balances() == ("600", "600", "0")
    assert await dave.balances() == ("250", "250", "0")
    assert await savings.balances() == ("150", "150", "0")
    assert (await alice.history())[:2] == [
        ("transfer_out", "150", "600", to_savings["id"]),
        ("transfer_out", "250", "750", to_dave["id"]),
    ]
    assert await dave.history() == [("transfer_in", "250", "250", to_dave["id"])]
    assert await savings.history() == [("transfer_in", "150", "150", to_savings["id"])]


async def test_transfer_without_waiting_is_accepted_then_completes(gw: Gateway) -> None:
    alice = await _party(gw, user_on_shard(0, "alice"), funds=500)
    bob = await _party(gw, user_on_shard(1, "bob"))

    response = await alice.api.transfer_raw(alice.wallet_id, bob.wallet_id, "500")
    accepted = expect(response, 202)
    assert accepted["status"] in ("pending", "completed"), accepted
    final = await alice.api.await_final(accepted["id"])
    assert (final["status"], final["failure_code"], final["amount"]) == ("completed", None, "500")
    assert await alice.balances() == ("0", "0", "0")
    assert await bob.balances() == ("500", "500", "0")


async def test_transfer_cancelled_for_insufficient_funds_holds_nothing(gw: Gateway) -> None:
    alice = await _party(gw, user_on_shard(0, "alice"), funds=1000)
    bob = await _party(gw, user_on_shard(1, "bob"))
    dave = await _party(gw, user_on_shard(0, "dave"))

    for destination in (bob, dave):  # across shards, then within one
        response = await alice.api.transfer_raw(
            alice.wallet_id, destination.wallet_id, 1001, wait_s=10
        )
        await _refused_or_cancelled(response, alice.api, "insufficient_funds")
        assert await destination.balances() == ("0", "0", "0")
    assert await alice.balances() == ("1000", "1000", "0")
    assert [entry[0] for entry in await alice.history()] == ["deposit"]


async def test_transfer_cancelled_when_a_wallet_is_not_active(gw: Gateway) -> None:
    admin = gw.admin()
    alice = await _party(gw, user_on_shard(0, "alice"), funds=1000)
    bob = await _party(gw, user_on_shard(1, "bob"), funds=1000)

    await admin.freeze(bob.wallet_id)  # frozen destination
    response = await alice.api.transfer_raw(alice.wallet_id, bob.wallet_id, 100, wait_s=10)
    await _refused_or_cancelled(response, alice.api, "wallet_not_active")
    assert await alice.balances() == ("1000", "1000", "0")
    assert await bob.balances() == ("1000", "1000", "0")

    await admin.freeze(alice.wallet_id)  # frozen source
    expect(await admin.post(f"/v1/wallets/{bob.wallet_id}/unfreeze"), 200)
    response = await alice.api.transfer_raw(alice.wallet_id, bob.wallet_id, 100, wait_s=10)
    await _refused_or_cancelled(response, alice.api, "wallet_not_active")
    assert await alice.balances() == ("1000", "1000", "0")
    assert await bob.balances() == ("1000", "1000", "0")

    expect(await admin.post(f"/v1/wallets/{alice.wallet_id}/unfreeze"), 200)
    await _completed(alice, bob, 100)
    assert await alice.balances() == ("900", "900", "0")
    assert await bob.balances() == ("1100", "1100", "0")


async def test_transfer_cancelled_for_currency_mismatch(gw: Gateway) -> None:
    alice = await _party(gw, user_on_shard(0, "alice"), funds=1000)
    bob_eur = await _party(gw, user_on_shard(1, "bob"), currency="EUR")
    alice_eur = Party(alice.api, (await alice.api.create_wallet("EUR"))["id"])

    for destination in (bob_eur, alice_eur):
        response = await alice.api.transfer_raw(
            alice.wallet_id, destination.wallet_id, 100, wait_s=10
        )
        await _refused_or_cancelled(response, alice.api, "currency_mismatch")
        assert await destination.balances() == ("0", "0", "0")
    assert await alice.balances() == ("1000", "1000", "0")


async def test_transfer_to_an_unknown_or_the_same_wallet(gw: Gateway) -> None:
    alice = await _party(gw, user_on_shard(0, "alice"), funds=1000)
    response = await alice.api.transfer_raw(alice.wallet_id, alice.wallet_id, 100, wait_s=10)
    assert_problem(response, 422, "same_wallet")
    listed = expect(await alice.api.get("/v1/transfers", {"wallet_id": alice.wallet_id}), 200)
    assert listed["items"] == []

    other_shard_bucket = SHARDS.buckets_of(1)[0]
    same_shard_bucket = SHARDS.buckets_of(0)[0]
    for bucket in (other_shard_bucket, same_shard_bucket):
        ghost = new_wallet_id(bucket)  # well formed, names nothing
        response = await alice.api.transfer_raw(alice.wallet_id, ghost, 100, wait_s=10)
        await _refused_or_cancelled(response, alice.api, "not_found")
    for malformed in ("nope", "wlt_123", alice.wallet_id + "0"):
        response = await alice.api.transfer_raw(alice.wallet_id, malformed, 100, wait_s=10)
        assert_problem(response, 404, "not_found")
    assert await alice.balances() == ("1000", "1000", "0")
    assert [entry[0] for entry in await alice.history()] == ["deposit"]


async def test_transfer_access_rules_and_lists(gw: Gateway) -> None:
    alice = await _party(gw, user_on_shard(0, "alice"), funds=1000)
    bob = await _party(gw, user_on_shard(1, "bob"), funds=50)
    carol = await _party(gw, user_on_shard(1, "carol"))

    # Someone else's source wallet names nothing for the caller.
    stolen = await bob.api.transfer_raw(alice.wallet_id, bob.wallet_id, 100, wait_s=10)
    assert_problem(stolen, 404, "not_found")
    assert await alice.balances() == ("1000", "1000", "0")

    first = await _completed(alice, bob, 100)
    second = await _completed(alice, carol, 200)
    back = await _completed(bob, alice, 30)

    assert await bob.api.transfer(first["id"]) == first  # the destination's owner sees it
    assert await gw.admin().transfer(first["id"]) == first
    assert await gw.auditor().transfer(first["id"]) == first
    for api in (carol.api, gw.user("mallory")):
        response = await api.get(f"/v1/transfers/{first['id']}")
        assert_problem(response, 404, "not_found")
        assert alice.wallet_id not in response.text

    def ids(items: list[Json]) -> list[str]:
        return [t["id"] for t in items]

    alices = await alice.api.all_pages("/v1/transfers", {"wallet_id": alice.wallet_id, "limit": 1})
    assert ids(alices) == [back["id"], second["id"], first["id"]]
    bobs = await bob.api.all_pages("/v1/transfers", {"wallet_id": bob.wallet_id})
    assert ids(bobs) == [back["id"], first["id"]]
    audited = await gw.auditor().all_pages("/v1/transfers", {"wallet_id": carol.wallet_id})
    assert ids(audited) == [second["id"]]
    foreign = await carol.api.get("/v1/transfers", {"wallet_id": alice.wallet_id})
    assert_problem(foreign, 404, "not_found")
    assert await alice.balances() == ("730", "730", "0")

    # An admin may move money out of anyone's wallet.
    response = await gw.admin().transfer_raw(alice.wallet_id, bob.wallet_id, 40, wait_s=10)
    assert expect(response, 200)["status"] == "completed"
    assert await alice.balances() == ("690", "690", "0")
    assert await bob.balances() == ("160", "160", "0")  # 50 + 100 - 30 + 40
