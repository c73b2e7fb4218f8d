"""The integrity report: per-currency arithmetic across shards, and the problems it names."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from gateway.domain.integrity import (
    CoordinatorIntegrityPart,
    LedgerTotals,
    ShardIntegrityPart,
    build_report,
)

from .gateway_fakes import FakeCluster, bearer

NOW = datetime(2025, 6, 1, tzinfo=UTC)
AT_REST = CoordinatorIntegrityPart(pending_transfers=0)


def shard(n: int, problems: tuple[str, ...] = (), **currencies: LedgerTotals) -> ShardIntegrityPart:
    return ShardIntegrityPart(shard=n, currencies=currencies, problems=problems)


def test_deposits_withdrawals_and_a_finished_transfer_balance_out() -> None:
    # Shard 0: deposit 1000, withdraw 100, send 300 to shard 1 (clearing +300).
    # Shard 1: deposit 50, receive 300 (clearing -300), purchase 20 (merchant +20).
    report = build_report(
        [
            shard(
                0, USD=LedgerTotals(wallets_total=600, clearing=300, cash_in=-1000, cash_out=100)
            ),
            shard(1, USD=LedgerTotals(wallets_total=330, clearing=-300, cash_in=-50, merchant=20)),
        ],
        AT_REST,
        checked_at=NOW,
    )
    usd = report.currencies["USD"]
    assert (usd.wallets_total, usd.in_flight, usd.external_net, usd.difference) == (930, 0, 930, 0)
    assert report.consistent
    assert [s.shard for s in report.shards] == ["shard-0", "shard-1"]
    assert report.coordinator.consistent


def test_money_in_flight_is_accounted_for() -> None:
    # 300 left shard 0's wallet, shard 1 has not booked it yet.
    pending = CoordinatorIntegrityPart(pending_transfers=1)
    report = build_report(
        [
            shard(0, EUR=LedgerTotals(wallets_total=700, clearing=300, cash_in=-1000)),
            shard(1, EUR=LedgerTotals()),
        ],
        pending,
        checked_at=NOW,
    )
    eur = report.currencies["EUR"]
    assert (eur.wallets_total, eur.in_flight, eur.external_net, eur.difference) == (
        700,
        300,
        1000,
        0,
    )
    assert report.consistent


def test_money_created_from_nothing_shows_as_a_difference() -> None:
    report = build_report(
        [shard(0, USD=LedgerTotals(wallets_total=1001, cash_in=-1000))], AT_REST, checked_at=NOW
    )
    assert report.currencies["USD"].difference == -1
    assert not report.consistent


def test_currencies_are_kept_apart() -> None:
    report = build_report(
        [
            shard(0, USD=LedgerTotals(wallets_total=10, cash_in=-10)),
            shard(1, EUR=LedgerTotals(wallets_total=5, cash_in=-10, cash_out=5)),
        ],
        AT_REST,
        checked_at=NOW,
    )
    assert list(report.currencies) == ["EUR", "USD"]
    assert report.currencies["EUR"].external_net == 5
    assert report.consistent


def test_a_shard_problem_makes_the_report_inconsistent() -> None:
    report = build_report(
        [shard(0, ("wallet wlt_x: balance 5 but entries sum to 4",)), shard(1)],
        AT_REST,
        checked_at=NOW,
    )
    assert not report.consistent
    assert report.shards[0].consistent is False
    assert report.shards[0].problems == ["wallet wlt_x: balance 5 but entries sum to 4"]
    assert report.shards[1].consistent is True


def test_coordinator_problems() -> None:
    coordinator = CoordinatorIntegrityPart(
        pending_transfers=2,
        stuck_transfer_ids=("trf_a",),
        final_with_active_legs=("trf_b",),
    )
    holding = ShardIntegrityPart(
        shard=0, currencies={}, active_hold_transfer_ids=frozenset({"trf_b", "trf_c"})
    )
    report = build_report([holding], coordinator, checked_at=NOW)
    assert report.coordinator.problems == ["transfer trf_a is not final past its deadline"]
    assert report.shards[0].problems == ["transfer trf_b is final but its hold is still open here"]
    assert not report.consistent


def test_clearing_money_without_any_transfer_in_flight_is_a_problem() -> None:
    # Booked on one side only and no saga left to finish it: the totals still balance.
    parts = [shard(0, USD=LedgerTotals(wallets_total=700, clearing=300, cash_in=-1000))]
    at_rest = build_report(parts, AT_REST, checked_at=NOW)
    assert at_rest.currencies["USD"].difference == 0
    assert at_rest.coordinator.problems == [
        "clearing accounts hold 300 USD with no transfer in flight"
    ]
    assert not at_rest.consistent
    busy = build_report(parts, CoordinatorIntegrityPart(pending_transfers=1), checked_at=NOW)
    assert busy.consistent


# Through HTTP, with the fakes' wire shapes.


def put_integrity(cluster: FakeCluster) -> None:
    cluster.shards[0].integrity = {
        "currencies": {
            "USD": {
                "wallets_total": "700",
                "clearing": "300",
                "cash_in": "-1000",
                "cash_out": "0",
                "merchant": "0",
            }
        },
        "problems": [],
        "active_hold_transfer_ids": ["trf_" + "1" * 32],
        "pending_credit_transfer_ids": [],
    }
    cluster.shards[1].integrity = {
        "currencies": {"USD": {"wallets_total": 0, "clearing": 0, "cash_in": 0}},
        "problems": [],
        "active_hold_transfer_ids": [],
        "pending_credit_transfer_ids": ["trf_" + "1" * 32, "trf_" + "2" * 32],
    }
    cluster.coordinator.integrity = {
        "pending": 1,
        "stuck": [],
        "final_with_active_legs": ["trf_" + "2" * 32, "trf_" + "9" * 32],
        "in_flight": {"USD": "300"},
    }


async def test_the_report_aggregates_every_shard_and_asks_the_coordinator(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    put_integrity(cluster)
    response = await client.get("/v1/admin/integrity", headers=bearer("audit", "auditor"))
    assert response.status_code == 200
    report = response.json()
    assert report["currencies"] == {
        "USD": {
            "wallets_total": "700",
            "in_flight": "300",
            "external_net": "1000",
            "difference": "0",
        }
    }
    assert cluster.coordinator.integrity_requests == [
        {"active_leg_transfer_ids": ["trf_" + "1" * 32, "trf_" + "2" * 32]}
    ]
    # trf_2... is final but shard 1 still has its pending credit; trf_9... was not asked about.
    assert report["shards"][-1] == {
        "shard": "shard-1",
        "consistent": False,
        "problems": [f"transfer trf_{'2' * 32} is final but its pending credit is still open here"],
    }
    assert report["coordinator"] == {"consistent": True, "problems": []}
    assert report["consistent"] is False
    assert datetime.fromisoformat(report["checked_at"]).tzinfo is not None


async def test_a_consistent_system_reports_so(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/admin/integrity", headers=bearer("root", "admin"))
    assert response.status_code == 200
    assert response.json()["consistent"] is True
    assert response.json()["currencies"] == {}


async def test_users_may_not_run_the_integrity_check(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/admin/integrity", headers=bearer("alice", "user"))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


async def test_a_shard_that_does_not_answer_is_503(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    cluster.down.add("shard-1.test")
    response = await client.get("/v1/admin/integrity", headers=bearer("root", "admin"))
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"


async def test_a_reply_off_the_contract_is_503_not_500(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    cluster.shards[0].integrity = {"currencies": {"USD": {"wallets_total": 1.5}}}
    response = await client.get("/v1/admin/integrity", headers=bearer("root", "admin"))
    assert response.status_code == 503


async def test_a_leg_that_closed_while_the_check_ran_is_no_problem(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    # The first read of shard 1 sees trf_2's pending credit open; the shard then drops it and
    # the coordinator marks trf_2 final before it is asked: a race, not a stuck leg.
    put_integrity(cluster)
    answer = cluster.coordinator.handle

    def coordinator_after_the_leg_closed(request: httpx.Request) -> httpx.Response:
        cluster.shards[1].integrity = cluster.shards[1].integrity | {
            "pending_credit_transfer_ids": ["trf_" + "1" * 32]
        }
        return answer(request)

    cluster.coordinator.handle = coordinator_after_the_leg_closed  # type: ignore[method-assign]
    report = (await client.get("/v1/admin/integrity", headers=bearer("root", "admin"))).json()
    assert report["shards"][1] == {"shard": "shard-1", "consistent": True, "problems": []}
    assert report["consistent"] is True
