"""The integrity report: its shape (API.md), its figures, and who may read it."""

from __future__ import annotations

from datetime import datetime

from tests.e2e.client import Gateway, assert_problem, expect, user_on_shard


async def test_integrity_report_shape_figures_and_access(gw: Gateway) -> None:
    empty = expect(await gw.admin().get("/v1/admin/integrity"), 200)
    assert empty["consistent"] is True, empty
    assert all(figures["difference"] == "0" for figures in empty["currencies"].values())

    alice, bob = gw.user(user_on_shard(0, "alice")), gw.user(user_on_shard(1, "bob"))
    alice_usd = (await alice.create_wallet("USD"))["id"]
    alice_eur = (await alice.create_wallet("EUR"))["id"]
    bob_usd = (await bob.create_wallet("USD"))["id"]
    await alice.deposit(alice_usd, 5000)
    await alice.deposit(alice_eur, 700)
    await bob.deposit(bob_usd, 1000)
    expect(await alice.withdraw_raw(alice_usd, 1200), 201)
    transfer = expect(await alice.transfer_raw(alice_usd, bob_usd, 800, wait_s=10), 200)
    assert transfer["status"] == "completed"

    report = expect(await gw.admin().get("/v1/admin/integrity"), 200)
    assert set(report) >= {"consistent", "checked_at", "currencies", "shards"}
    assert report["consistent"] is True, report
    assert datetime.fromisoformat(report["checked_at"]).tzinfo is not None
    assert report["currencies"]["USD"] == {
        "wallets_total": "4800",
        "in_flight": "0",
        "external_net": "4800",
        "difference": "0",
    }
    assert report["currencies"]["EUR"] == {
        "wallets_total": "700",
        "in_flight": "0",
        "external_net": "700",
        "difference": "0",
    }
    assert [s["shard"] for s in report["shards"]] == ["shard-0", "shard-1"]
    assert report["coordinator"] == {"consistent": True, "problems": []}
    for shard in report["shards"]:
        assert set(shard) >= {"shard", "consistent", "problems"}
        assert (shard["consistent"], shard["problems"]) == (True, [])

    audited = expect(await gw.auditor().get("/v1/admin/integrity"), 200)
    assert (audited["consistent"], audited["currencies"]) == (True, report["currencies"])
    assert_problem(await alice.get("/v1/admin/integrity"), 403, "forbidden")
    assert_problem(await gw.with_token(None).get("/v1/admin/integrity"), 401, "unauthorized")
