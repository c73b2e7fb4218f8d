"""The integrity report: per-currency arithmetic across shards, and the problems it names."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from gateway.domain.integrity import (
    ClearingCut,
    ConfirmedLeg,
    CoordinatorIntegrityPart,
    LedgerTotals,
    SagaFacts,
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


TRF_A, TRF_B, TRF_OLD = "trf_" + "a" * 32, "trf_" + "b" * 32, "trf_" + "0" * 32


def saga(status: str = "pending", phase: str = "confirming", amount: int = 100) -> SagaFacts:
    return SagaFacts(status, phase, amount, "USD", source_shard=0, destination_shard=1)


def test_clearing_is_what_completed_transfers_left_plus_the_legs_in_flight() -> None:
    # Shard 0: completed transfers left 200 in its clearing; TRF_A's debit (100) is confirmed
    # and its credit not yet; TRF_B completed after the shards were read, its credit already
    # confirmed on shard 1, its debit on shard 0 seen confirmed too: both in the cut.
    cut = ClearingCut(
        settled={0: {"USD": 200}, 1: {"USD": -200}},
        sagas={TRF_A: saga(), TRF_B: saga("completed", "done", amount=50)},
    )
    parts = [
        ShardIntegrityPart(
            shard=0,
            currencies={"USD": LedgerTotals(wallets_total=-350, clearing=350)},
            clearing_legs=(
                ConfirmedLeg(TRF_A, "debit", 100, "USD"),
                ConfirmedLeg(TRF_B, "debit", 50, "USD"),
            ),
        ),
        ShardIntegrityPart(
            shard=1,
            currencies={"USD": LedgerTotals(wallets_total=250, clearing=-250)},
            clearing_legs=(ConfirmedLeg(TRF_B, "credit", 50, "USD"),),
        ),
    ]
    report = build_report(
        parts, CoordinatorIntegrityPart(pending_transfers=1, cut=cut), checked_at=NOW
    )
    assert [entry.problems for entry in report.shards] == [[], []]
    assert report.consistent
    assert report.currencies["USD"].in_flight == 100


def test_money_in_clearing_that_no_transfer_explains_names_the_shard_and_amount() -> None:
    # Balanced on the shard (clearing against cash-in), so every total adds up.
    cut = ClearingCut(settled={0: {"USD": 300}, 1: {"USD": -300}})
    parts = [
        shard(0, USD=LedgerTotals(wallets_total=-300, clearing=370, cash_in=-70)),
        shard(1, USD=LedgerTotals(wallets_total=300, clearing=-300)),
    ]
    report = build_report(
        parts, CoordinatorIntegrityPart(pending_transfers=0, cut=cut), checked_at=NOW
    )
    assert report.currencies["USD"].difference == 0
    assert report.shards[0].problems == [
        "clearing account holds 370 USD, but the transfers through this shard account for 300 "
        "(300 by those completed before the check, 0 by the confirmed legs of recent and pending "
        "ones): difference 70"
    ]
    assert report.shards[1].consistent
    assert not report.consistent


@pytest.mark.parametrize(
    ("facts", "leg", "flaw"),
    [
        (None, "debit", "the coordinator has no such transfer"),
        (saga("cancelled", "done"), "debit", "the transfer was cancelled"),
        (saga("pending", "trying"), "debit", "the coordinator never decided to confirm it"),
        (saga(amount=99), "debit", "the transfer is of 99 USD"),
        (saga(), "credit", "the transfer's credit wallet is on shard-1"),
    ],
)
def test_a_confirmed_leg_the_coordinator_does_not_back_is_named(
    facts: SagaFacts | None, leg: str, flaw: str
) -> None:
    cut = ClearingCut(sagas={} if facts is None else {TRF_A: facts})
    change = 100 if leg == "debit" else -100
    part = ShardIntegrityPart(
        shard=0,
        currencies={"USD": LedgerTotals(wallets_total=-change, clearing=change)},
        clearing_legs=(ConfirmedLeg(TRF_A, leg, 100, "USD"),),
    )
    report = build_report(
        [part], CoordinatorIntegrityPart(pending_transfers=1, cut=cut), checked_at=NOW
    )
    assert report.shards[0].problems == [
        f"transfer {TRF_A}: {leg} leg of 100 USD confirmed here, but {flaw}"
    ]
    assert not report.consistent


def test_without_a_cut_clearing_is_not_judged() -> None:
    parts = [shard(0, USD=LedgerTotals(wallets_total=700, clearing=300, cash_in=-1000))]
    assert build_report(parts, AT_REST, checked_at=NOW).consistent


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
    # Asked twice: to open the cut (this coordinator opens none), then after the shards.
    assert cluster.coordinator.integrity_requests == [
        {"active_leg_transfer_ids": []},
        {"active_leg_transfer_ids": ["trf_" + "1" * 32, "trf_" + "2" * 32]},
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
        if cluster.coordinator.integrity_requests:  # asked after the shards were read
            cluster.shards[1].integrity = cluster.shards[1].integrity | {
                "pending_credit_transfer_ids": ["trf_" + "1" * 32]
            }
        return answer(request)

    cluster.coordinator.handle = coordinator_after_the_leg_closed  # type: ignore[method-assign]
    report = (await client.get("/v1/admin/integrity", headers=bearer("root", "admin"))).json()
    assert report["shards"][1] == {"shard": "shard-1", "consistent": True, "problems": []}
    assert report["consistent"] is True
