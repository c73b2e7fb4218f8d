"""The results of a run: the JSON document, the summary tables, the plot."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table

from wallet_devtools.bench.config import BALANCE_READS, HALF_LOAD
from wallet_devtools.bench.stats import ERROR_PREFIX, OK, PhaseSummary, Sample, per_second

_PHASE_FIELDS = (
    "throughput",
    "ratio",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "errors",
    "cancelled",
    "count",
    "duration_s",
)


@dataclass(frozen=True)
class Timeline:
    """A phase's successful operations per second, from `offset_s` after the run began."""

    offset_s: float
    per_second: list[int]


@dataclass(frozen=True)
class MeasuredSpan:
    """A phase's measured window, in seconds after the run began."""

    start_s: float
    end_s: float


@dataclass(frozen=True)
class Results:
    """Everything a run measured, in the form the report is written from."""

    baseline: Mapping[str, Any] | None  # tps, concurrency, by_concurrency, settings...
    phases: Sequence[PhaseSummary]
    offered_rates: Mapping[str, float]  # arrivals per second of the open-loop phases
    cpu_ms_per_op: Mapping[str, Mapping[str, float]]
    rss_mb: Mapping[str, float]
    integrity: Mapping[str, Any] | None
    timelines: Mapping[str, Timeline]
    windows: Mapping[str, MeasuredSpan]
    meta: Mapping[str, Any]

    @property
    def consistent(self) -> bool:
        return self.integrity is not None and self.integrity.get("consistent") is True


def timeline(
    samples: Sequence[Sample], *, run_began: float, began: float, ended: float
) -> Timeline:
    """Per-second successes of one phase, placed on the run's clock."""
    finishes = [s.finished for s in samples if s.outcome == OK]
    return Timeline(round(began - run_began, 3), per_second(finishes, began, ended))


def document(results: Results) -> dict[str, Any]:
    """The JSON shape of `.local/bench/latest.json`."""
    phases = {}
    for phase in results.phases:
        figures = {name: _rounded(getattr(phase, name)) for name in _PHASE_FIELDS}
        figures["error_kinds"] = dict(phase.error_kinds)
        if phase.name in results.offered_rates:
            figures["offered_rate"] = _rounded(results.offered_rates[phase.name])
        phases[phase.name] = figures
    return {
        "baseline": {k: _rounded(v) for k, v in (results.baseline or {"tps": None}).items()},
        "phases": phases,
        "integrity_consistent": results.consistent,
        "rss_mb": {name: _rounded(mib) for name, mib in results.rss_mb.items()},
        "cpu_ms_per_op": {
            phase: {name: _rounded(ms) for name, ms in figures.items()}
            for phase, figures in results.cpu_ms_per_op.items()
        },
        "integrity": results.integrity,
        "timelines": {
            name: {"offset_s": line.offset_s, "per_second": line.per_second}
            for name, line in results.timelines.items()
        },
        "meta": dict(results.meta),
    }


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _rounded(v) for k, v in value.items()}
    return value


def write_json(results: Results, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document(results), indent=2) + "\n")


# --- tables ----------------------------------------------------------------------------------


def summary_tables(results: Results) -> Group:
    """The phases, CPU per operation of every process, peak RSS: for the terminal."""
    return Group(_phase_table(results), _cpu_table(results), _rss_table(results))


def _phase_table(results: Results) -> Table:
    tps = results.baseline["tps"] if results.baseline else None
    title = f"baseline (PostgreSQL alone): {tps:,.0f} transfers/s" if tps else "no baseline"
    if results.baseline:
        title += f" at {results.baseline['concurrency']} clients"
    table = Table(title=title, title_justify="left")
    table.add_column("phase")
    for header in ("ops/s", "offered/s", "ratio", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(header, justify="right")
    for header in ("errors", "cancelled", "count"):
        table.add_column(header, justify="right")
    for phase in results.phases:
        offered = results.offered_rates.get(phase.name)
        table.add_row(
            phase.name,
            f"{phase.throughput:,.1f}",
            f"{offered:,.1f}" if offered else "-",
            f"{phase.ratio:.3f}x" if phase.ratio is not None else "-",
            *(_ms(v) for v in (phase.p50_ms, phase.p95_ms, phase.p99_ms, phase.max_ms)),
            str(phase.errors),
            str(phase.cancelled),
            str(phase.count),
        )
    return table


def _cpu_table(results: Results) -> Table:
    table = Table(title="CPU ms per operation (= CPU s per 1,000 operations)", title_justify="left")
    phases = list(results.cpu_ms_per_op)
    table.add_column("process")
    for phase in phases:
        header = f"{phase} (+reads)" if phase == HALF_LOAD else phase
        table.add_column(header, justify="right")
    processes: list[str] = []
    for figures in results.cpu_ms_per_op.values():
        processes += [name for name in figures if name not in processes]
    for process in processes:
        table.add_row(
            process,
            *(_ms(results.cpu_ms_per_op[p].get(process)) for p in phases),
            style="bold" if process == "total" else None,
        )
    return table


def _rss_table(results: Results) -> Table:
    table = Table(title="peak RSS (VmHWM), MiB", title_justify="left")
    for name in results.rss_mb:
        table.add_column(name, justify="right")
    table.add_row(*(f"{mib:,.0f}" for mib in results.rss_mb.values()))
    return table


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if value < 10 else f"{value:,.1f}"


# --- plot ------------------------------------------------------------------------------------


def write_plot(results: Results, samples: Mapping[str, Sequence[Sample]], path: Path) -> None:
    """Throughput over time (every phase on the run's clock) and the latency distribution of
    each phase's measured `samples`, as a PNG."""
    import matplotlib  # a second of import time: only when a plot is written

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (rates, latencies) = pyplot.subplots(2, 1, figsize=(11, 9))
    for name, line in results.timelines.items():
        seconds = [line.offset_s + n + 0.5 for n in range(len(line.per_second))]
        rates.plot(seconds, line.per_second, label=name, linewidth=1.2)
    for start, end in {(w.start_s, w.end_s) for w in results.windows.values()}:
        rates.axvspan(start, end, color="grey", alpha=0.08, linewidth=0)
    if results.baseline:
        rates.axhline(results.baseline["tps"], color="grey", linestyle="--", label="baseline")
    rates.set(
        title="Successful operations per second (shaded: measured windows)",
        xlabel="seconds into the run",
    )
    rates.set_ylabel("operations/s")
    rates.legend(loc="upper right", fontsize="small")
    rates.grid(alpha=0.3)
    for name, phase_samples in samples.items():
        ordered = sorted(
            s.latency_s * 1000 for s in phase_samples if not s.outcome.startswith(ERROR_PREFIX)
        )
        if ordered:
            shares = [(n + 1) / len(ordered) for n in range(len(ordered))]
            latencies.plot(ordered, shares, label=name, linewidth=1.2)
    latencies.set_xscale("log")
    latencies.set(title="Latency distribution (cumulative)", xlabel="ms (log scale)")
    latencies.set_ylabel("share of operations at most this slow")
    latencies.legend(loc="lower right", fontsize="small")
    latencies.grid(alpha=0.3, which="both")
    figure.suptitle(_plot_title(results), fontsize="medium")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def _plot_title(results: Results) -> str:
    parts = [f"{p.name} {p.throughput:,.0f}/s" for p in results.phases if p.name != BALANCE_READS]
    return f"wallet bench {results.meta.get('date', '')}: " + ", ".join(parts)
