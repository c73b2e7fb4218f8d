"""The ledger verification: snapshot differences as the shards found them, and every open leg
against its saga."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.domain.ledger_verification import SagaView, build_verification
from wallet_shared.contracts.ledger_admin import OpenLeg, ShardLedgerVerification, WalletDifference

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def _shard(
    shard: int, legs: list[OpenLeg], differences: list[WalletDifference] | None = None
) -> ShardLedgerVerification:
    return ShardLedgerVerification(
        shard=shard,
        checked_at=NOW,
        wallets_checked=10,
        differences=differences or [],
        differences_truncated=False,
        open_legs=legs,
    )


def _leg(transfer_id: str, leg: str, wallet: str, amount: int = 100) -> OpenLeg:
    return OpenLeg.model_validate(
        {
            "transfer_id": transfer_id,
            "leg": leg,
            "wallet_id": wallet,
            "amount": amount,
            "currency": "USD",
        }
    )


def _saga(transfer_id: str, status: str = "pending", amount: int = 100) -> SagaView:
    return SagaView(transfer_id, "wlt_src", "wlt_dst", amount, "USD", status)


def test_legs_of_pending_sagas_that_match_them_are_no_difference() -> None:
    shards = [
        _shard(0, [_leg("trf_1", "debit", "wlt_src")]),
        _shard(1, [_leg("trf_1", "credit", "wlt_dst")]),
    ]
    report = build_verification(shards, {"trf_1": _saga("trf_1")}, checked_at=NOW)
    assert report.consistent
    assert report.open_transfers == 1
    assert [(s.open_holds, s.open_pending_credits) for s in report.shards] == [(1, 0), (0, 1)]


def test_a_leg_no_pending_saga_accounts_for_is_a_difference() -> None:
    shards = [
        _shard(
            0,
            [
                _leg("trf_unknown", "debit", "wlt_src"),
                _leg("trf_done", "debit", "wlt_src"),
                _leg("trf_other", "debit", "wlt_elsewhere"),
                _leg("trf_more", "credit", "wlt_dst", amount=150),
            ],
        )
    ]
    sagas = {
        "trf_done": _saga("trf_done", status="completed"),
        "trf_other": _saga("trf_other"),
        "trf_more": _saga("trf_more"),
    }
    report = build_verification(shards, sagas, checked_at=NOW)
    assert not report.consistent
    found = [(d.kind, d.transfer_id, d.expected, d.actual) for d in report.differences]
    assert found == [
        ("hold", "trf_unknown", 0, 100),
        ("hold", "trf_done", 0, 100),
        ("hold", "trf_other", 0, 100),
        ("pending_credit", "trf_more", 100, 150),
    ]
    assert "is completed" in report.differences[1].detail


def test_snapshot_differences_are_reported_with_what_they_should_be() -> None:
    drift = WalletDifference(wallet_id="wlt_a", column="balance", snapshot=1700, recomputed=1000)
    report = build_verification([_shard(0, [], [drift])], {}, checked_at=NOW)
    [difference] = report.differences
    assert (difference.shard, difference.kind, difference.expected, difference.actual) == (
        "shard-0",
        "balance",
        1000,
        1700,
    )
    assert difference.detail == "balance is 1700 but its journal entries sum to 1000"
