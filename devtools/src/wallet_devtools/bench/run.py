"""One benchmark run, from the system under test to the written results."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from wallet_devtools import postgres
from wallet_devtools.bench import procstats
from wallet_devtools.bench.baseline import BaselineResult, baseline_database, run_trials
from wallet_devtools.bench.config import (
    BALANCE_READS,
    BASELINE,
    CROSS_SHARD,
    DEPOSITS,
    HALF_LOAD,
    SAME_SHARD,
    BenchConfig,
)
from wallet_devtools.bench.load import GatewayClient, Workload, open_wallets
from wallet_devtools.bench.phases import OpenStream, PhaseRun, PhaseRunner
from wallet_devtools.bench.report import (
    MeasuredSpan,
    Results,
    summary_tables,
    timeline,
    write_json,
    write_plot,
)
from wallet_devtools.bench.stats import PhaseSummary, summarise
from wallet_devtools.throwaway import throwaway_system

_CONNECTIONS = 1200  # open loops may hold several hundred requests in flight


@dataclass(frozen=True)
class Target:
    """The system under test: where to send requests and where its processes are."""

    gateway_url: str
    token: str
    state_dir: Path
    pg_dsn: str | None


async def bench(config: BenchConfig) -> int:
    """Run the benchmark; 0 when it finished and the books are consistent afterwards."""
    console = Console()
    if not console.is_terminal:  # a log or a pipe: wide enough for the tables
        console = Console(width=132)
    if config.start:
        async with _own_system(config.shards, config.results_dir / "system", console) as target:
            return await _measure(target, config, console)
    assert config.token is not None  # argparse: --token or --start
    port = procstats.postgres_port(config.state_dir)
    discovered = f"postgresql://{postgres.SUPERUSER}@127.0.0.1:{port}/postgres" if port else None
    target = Target(config.gateway_url, config.token, config.state_dir, config.pg_dsn or discovered)
    return await _measure(target, config, console)


@contextlib.asynccontextmanager
async def _own_system(shards: int, base: Path, console: Console) -> AsyncIterator[Target]:
    """A throwaway system under `base` to measure, with an admin token for it."""
    async with throwaway_system(base, shard_count=shards, say=console.print) as system:
        token = system.cluster.token(f"bench-{secrets.token_hex(3)}", "admin")
        yield Target(system.cluster.gateway_url, token, base, system.pg.dsn)


async def _measure(target: Target, config: BenchConfig, console: Console) -> int:
    tracked = procstats.discover(target.state_dir)
    console.print("Measuring the CPU of: " + ", ".join(f"{t.name} ({t.pid})" for t in tracked))
    if not any(t.name == procstats.POSTGRES for t in tracked):
        console.print(f"[yellow]No system processes found under {target.state_dir}[/]")
    meta = _meta(config, target)
    headers = {"Authorization": f"Bearer {target.token}"}
    connector = aiohttp.TCPConnector(limit=_CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(
        base_url=target.gateway_url, headers=headers, connector=connector, timeout=timeout
    ) as session:
        with _progress(console) as progress:
            runner = PhaseRunner(
                progress=progress,
                tracked=tracked,
                warmup_s=config.warmup_s,
                duration_s=config.duration_s,
            )
            run_began = time.perf_counter()
            baseline = await _baseline(target, config, tracked, progress)
            wallets = await _wallets(session, config, progress)
            workload = Workload(GatewayClient(session), wallets, config.shards)
            runs = await _phases(runner, workload, config, progress)
        integrity = await GatewayClient(session).integrity()
    results = _results(baseline, runs, integrity, tracked, run_began, meta)
    config.results_dir.mkdir(parents=True, exist_ok=True)
    write_json(results, config.results_dir / "latest.json")
    measured = {
        run.name: [s for s in run.recorder.samples if run.window.holds(s.began)] for run in runs
    }
    write_plot(results, measured, config.results_dir / "latest.png")
    console.print(summary_tables(results))
    _print_integrity(console, integrity)
    console.print(f"Results: {config.results_dir / 'latest.json'}, plot: latest.png beside it")
    return 0 if results.consistent else 1


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(bar_width=30),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
    )


async def _baseline(
    target: Target,
    config: BenchConfig,
    tracked: Sequence[procstats.TrackedProcess],
    progress: Progress,
) -> tuple[BaselineResult, dict[str, float]] | None:
    if BASELINE not in config.phases:
        return None
    if target.pg_dsn is None:
        progress.console.print("[yellow]No PostgreSQL DSN known (--pg-dsn): no baseline[/]")
        return None
    task = progress.add_task(BASELINE, total=len(config.baseline_concurrencies), status="")
    seen: list[str] = []

    def on_trial(concurrency: int, tps: float) -> None:
        seen.append(f"{concurrency}: {tps:,.0f}/s")
        progress.update(task, advance=1, status="clients " + "  ".join(seen))

    async with baseline_database(target.pg_dsn) as (dsn, settings):
        before = procstats.read_cpu(tracked)
        result = await run_trials(
            dsn,
            concurrencies=config.baseline_concurrencies,
            trial_s=config.baseline_trial_s,
            settings=settings,
            on_trial=on_trial,
        )
        after = procstats.read_cpu(tracked)
    ticks = procstats.ticks_per_second()
    return result, procstats.cpu_ms_per_op(before, after, result.operations, ticks)


async def _wallets(
    session: aiohttp.ClientSession, config: BenchConfig, progress: Progress
) -> list[Any]:
    task = progress.add_task("wallets", total=config.wallets, status="opening and funding")

    def opened() -> None:
        progress.update(task, advance=1)

    wallets = await open_wallets(
        session, shards=config.shards, wallets=config.wallets, on_opened=opened
    )
    progress.update(task, status=f"{len(wallets)} on {config.shards} shards")
    return wallets


async def _phases(
    runner: PhaseRunner, workload: Workload, config: BenchConfig, progress: Progress
) -> list[PhaseRun]:
    runs: list[PhaseRun] = []
    if config.system_warmup_s > 0 and set(config.phases) - {BASELINE}:
        await runner.warm_up(
            workload.mixed, concurrency=config.concurrency, seconds=config.system_warmup_s
        )
    closed = {
        CROSS_SHARD: workload.cross_shard_transfer,
        SAME_SHARD: workload.same_shard_transfer,
        DEPOSITS: workload.deposit,
    }
    for name, operation in closed.items():
        if name in config.phases:
            runs.append(await runner.closed(name, operation, concurrency=config.concurrency))
    if HALF_LOAD in config.phases:
        rate = config.half_rate or _half_of_cross_shard(runs)
        if rate is None:
            progress.console.print("[red]cross_shard moved nothing: no half_load phase[/]")
            return runs
        streams = [
            OpenStream(HALF_LOAD, workload.cross_shard_transfer, rate),
            OpenStream(BALANCE_READS, workload.balance_read, config.read_rate or rate),
        ]
        runs += await runner.open(streams)
    return runs


def _half_of_cross_shard(runs: Sequence[PhaseRun]) -> float | None:
    for run in runs:
        if run.name == CROSS_SHARD:
            ok = summarise(run.name, run.recorder.samples, run.window, None).throughput
            return ok / 2 if ok >= 2 else None
    return None


def _results(
    baseline: tuple[BaselineResult, dict[str, float]] | None,
    runs: Sequence[PhaseRun],
    integrity: dict[str, Any],
    tracked: Sequence[procstats.TrackedProcess],
    run_began: float,
    meta: dict[str, Any],
) -> Results:
    tps = baseline[0].tps if baseline else None
    summaries: list[PhaseSummary] = [
        summarise(run.name, run.recorder.samples, run.window, tps) for run in runs
    ]
    cpu = {BASELINE: baseline[1]} if baseline else {}
    cpu |= {run.name: run.cpu_ms_per_op for run in runs if run.cpu_ms_per_op is not None}
    return Results(
        baseline=asdict(baseline[0]) if baseline else None,
        phases=summaries,
        offered_rates={r.name: r.offered_rate for r in runs if r.offered_rate is not None},
        cpu_ms_per_op=cpu,
        rss_mb=procstats.peak_rss_mib(tracked),
        integrity=integrity,
        timelines={
            run.name: timeline(
                run.recorder.samples, run_began=run_began, began=run.began, ended=run.ended
            )
            for run in runs
        },
        windows={
            run.name: MeasuredSpan(run.window.start - run_began, run.window.end - run_began)
            for run in runs
        },
        meta=meta,
    )


def _meta(config: BenchConfig, target: Target) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
            "python": platform.python_version(),
        },
        "system": "throwaway (--start)" if config.start else target.gateway_url,
        "shards": config.shards,
        "wallets": config.wallets,
        "concurrency": config.concurrency,
        "warmup_s": config.warmup_s,
        "system_warmup_s": config.system_warmup_s,
        "duration_s": config.duration_s,
        "phases": list(config.phases),
    }


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def _print_integrity(console: Console, report: dict[str, Any]) -> None:
    if report.get("consistent") is True:
        console.print("[green]Integrity: consistent[/] (GET /v1/admin/integrity)")
        return
    console.print("[bold red]Integrity: INCONSISTENT[/] (GET /v1/admin/integrity)")
    for shard in report.get("shards", []):
        for problem in shard.get("problems", []):
            console.print(f"  {shard.get('shard')}: {problem}")
    for problem in report.get("coordinator", {}).get("problems", []):
        console.print(f"  coordinator: {problem}")
    for currency, figures in report.get("currencies", {}).items():
        console.print(f"  {currency}: {figures}")
