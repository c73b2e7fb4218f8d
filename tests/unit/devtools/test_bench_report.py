"""The shape of `.local/bench/latest.json`."""

from __future__ import annotations

import json

from wallet_devtools.bench.report import MeasuredSpan, Results, Timeline, document, timeline
from wallet_devtools.bench.stats import OK, Sample, Window, summarise

_PHASES = ("cross_shard", "same_shard", "deposits", "half_load", "balance_reads")


def _results(*, consistent: bool = True) -> Results:
    samples = [Sample(1.0 + n / 10, 1.05 + n / 10, OK) for n in range(50)]
    phases = [summarise(name, samples, Window(1.0, 6.0), baseline_tps=100.0) for name in _PHASES]
    return Results(
        baseline={"tps": 100.0, "concurrency": 16, "by_concurrency": {8: 90.0, 16: 100.0}},
        phases=phases,
        offered_rates={"half_load": 5.0, "balance_reads": 5.0},
        cpu_ms_per_op={"cross_shard": {"gateway": 1.23456, "postgres": float("nan")}},
        rss_mb={"gateway": 80.5, "shard-0": 70.25},
        integrity={"consistent": consistent, "shards": []},
        timelines={"cross_shard": Timeline(0.0, [10, 10])},
        windows={"cross_shard": MeasuredSpan(1.0, 6.0)},
        meta={"date": "2026-01-01T00:00:00+00:00"},
    )


def test_the_document_has_the_agreed_shape() -> None:
    shaped = document(_results())
    assert shaped["baseline"]["tps"] == 100.0
    assert set(shaped["phases"]) == set(_PHASES)
    for figures in shaped["phases"].values():
        for key in ("throughput", "ratio", "p50_ms", "p95_ms", "p99_ms", "max_ms", "errors"):
            assert key in figures
        assert {"cancelled", "count", "duration_s"} <= set(figures)
    assert shaped["phases"]["cross_shard"]["ratio"] == 0.1  # 10/s against 100/s
    assert shaped["phases"]["half_load"]["offered_rate"] == 5.0
    assert "offered_rate" not in shaped["phases"]["deposits"]
    assert shaped["integrity_consistent"] is True
    assert shaped["rss_mb"] == {"gateway": 80.5, "shard-0": 70.25}
    assert shaped["cpu_ms_per_op"]["cross_shard"]["gateway"] == 1.235


def test_the_document_is_valid_json_without_nan() -> None:
    text = json.dumps(document(_results()), allow_nan=False)
    assert json.loads(text)["cpu_ms_per_op"]["cross_shard"]["postgres"] is None


def test_an_inconsistent_or_missing_integrity_report_reads_as_not_consistent() -> None:
    assert document(_results(consistent=False))["integrity_consistent"] is False
    assert document(_results())["baseline"]["by_concurrency"] == {"8": 90.0, "16": 100.0}


def test_a_timeline_counts_successes_per_second_on_the_run_s_clock() -> None:
    samples = [Sample(10.0, 10.2, OK), Sample(10.0, 10.7, OK), Sample(10, 11.5, "error:500")]
    line = timeline(samples, run_began=4.0, began=10.0, ended=12.0)
    assert line == Timeline(offset_s=6.0, per_second=[2, 0])
