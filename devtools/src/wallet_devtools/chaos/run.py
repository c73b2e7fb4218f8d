"""One chaos run: start the system, fund the wallets, run the workload while the faults strike
one after the other, wait until everything is final, check the books, report."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from wallet_devtools.chaos.checks import (
    check_databases,
    check_integrity,
    check_record,
    check_replays,
    check_wallets_by_api,
    expected_balances,
)
from wallet_devtools.chaos.client import Client, Tally
from wallet_devtools.chaos.config import ChaosConfig
from wallet_devtools.chaos.schedule import (
    Fault,
    FaultKind,
    plan_faults,
    plan_transfers,
    plan_wallets,
)
from wallet_devtools.chaos.system import ChaosSystem, NotRecoveredError, chaos_system
from wallet_devtools.chaos.workload import (
    TransferRecord,
    Wallet,
    Workload,
    open_wallets,
    records_for,
)

Say = Callable[[str], None]
_TOKEN_TTL_S = 24 * 3600  # longer than any run: a token never expires mid-run


@dataclass
class ChaosResult:
    """What a run did and found; `violations` empty means the system passed."""

    seed: int
    figures: dict[str, Any] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.violations


async def run_chaos(config: ChaosConfig, say: Say = print) -> ChaosResult:
    """The whole run; the result says what happened and what is wrong, if anything."""
    result = ChaosResult(seed=config.seed)
    say(
        f"wallet chaos --seed {config.seed}: {config.transfers:,} transfers among "
        f"{config.wallets} wallets on {config.shards} shards, {config.concurrency} in flight, "
        f"{config.faults_per_kind} fault(s) of each kind"
    )
    base = config.state_dir / "system"
    async with chaos_system(base, shard_count=config.shards, say=say) as system:
        await _run_on(system, config, result, say)
    _report(result, say)
    (config.state_dir / "latest.json").write_text(
        json.dumps(
            {"seed": result.seed, **result.figures, "violations": result.violations}, indent=2
        )
    )
    return result


async def _run_on(system: ChaosSystem, config: ChaosConfig, result: ChaosResult, say: Say) -> None:
    cluster = system.cluster
    tokens: dict[str, str] = {}

    def token_for(user: str) -> str:
        if user not in tokens:
            tokens[user] = cluster.token(user, "user", ttl_s=_TOKEN_TTL_S)
        return tokens[user]

    admin_token = cluster.token(f"chaos{config.seed}-admin", "admin", ttl_s=_TOKEN_TTL_S)
    tally = Tally()
    connector = aiohttp.TCPConnector(limit=4 * config.concurrency)
    async with aiohttp.ClientSession(base_url=cluster.gateway_url, connector=connector) as session:
        client = Client(session, tally, patience_s=config.patience_s)
        wallet_plans = plan_wallets(
            wallets=config.wallets, shard_count=config.shards, funds=config.funds
        )
        wallets = await open_wallets(
            client, wallet_plans, shard_count=config.shards, seed=config.seed, token_for=token_for
        )
        plan = plan_transfers(
            config.seed, wallet_plans, count=config.transfers, max_amount=config.max_amount
        )
        records = records_for(config.seed, wallets, plan)
        faults = plan_faults(
            config.seed,
            shard_count=config.shards,
            transfers=config.transfers,
            per_kind=config.faults_per_kind,
            max_down_s=config.max_down_s,
        )
        say(f"{len(wallets)} wallets funded; {len(faults)} faults planned. Workload running...")
        workload = Workload(client, tally, wallets, token_for, final_patience_s=config.patience_s)
        began = time.monotonic()
        work = asyncio.create_task(workload.run(records, concurrency=config.concurrency))
        inject = asyncio.create_task(
            _inject_all(system, faults, workload, config, tally, began, say)
        )
        try:
            # A workload that fails must not leave the faults waiting for progress forever.
            done, _ = await asyncio.wait({work, inject}, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
            await work
            await inject
        except NotRecoveredError as error:
            tally.note(f"the system did not recover: {error}")
            result.violations += tally.violations
            result.figures = _figures(config, system, wallets, records, tally, began, None)
            return
        finally:
            for task in (work, inject):
                task.cancel()
            # Collected, not raised again: what failed was handled above.
            await asyncio.gather(work, inject, return_exceptions=True)
        ended = time.monotonic()
        say(f"Workload done in {ended - began:.0f} s. Checking the books...")
        await system.wait_ready(within_s=config.recover_within_s)
        violations = list(tally.violations)
        violations += check_record(records)
        expected = expected_balances(wallets, records)
        violations += await check_databases(
            system.shard_dsns(), system.coordinator_dsn(), wallets, records, expected
        )
        violations += await check_wallets_by_api(client, wallets, expected, token_for)
        replays, replay_problems = await check_replays(client, wallets, records, token_for)
        violations += replay_problems[:50]
        totals: Counter[str] = Counter()
        for wallet in wallets:
            totals[wallet.plan.currency] += wallet.plan.funds
        _, integrity_problems = await check_integrity(client, admin_token, dict(totals))
        violations += integrity_problems
        result.figures = _figures(config, system, wallets, records, tally, began, ended)
        result.figures["replays"] = replays
        if (late := result.figures.get("final_after_last_fault_s")) is not None and (
            late > config.final_within_s
        ):
            violations.append(
                f"all final {late:.0f} s after the last fault ended, more than "
                f"{config.final_within_s:.0f} s"
            )
        result.violations = violations


async def _inject_all(
    system: ChaosSystem,
    faults: list[Fault],
    workload: Workload,
    config: ChaosConfig,
    tally: Tally,
    began: float,
    say: Say,
) -> None:
    """Each fault once the workload has reached its point, one after the other."""
    for number, fault in enumerate(faults, start=1):
        await workload.progress.reached(fault.after_answered)
        if exited := system.exited_by_themselves():
            tally.note(f"services exited without a fault: {exited}")
            await asyncio.gather(*(system.cluster.restart(name) for name in exited))
        record = await system.inject(fault, recover_within_s=config.recover_within_s)
        say(
            f"[{record.struck_at - began:6.1f} s] fault {number}/{len(faults)} "
            f"{fault.describe()}; ready again after {record.recovered_at - record.struck_at:.1f} s "
            f"({workload.progress.answered:,} transfers answered)"
        )


def _figures(
    config: ChaosConfig,
    system: ChaosSystem,
    wallets: list[Wallet],
    records: list[TransferRecord],
    tally: Tally,
    began: float,
    ended: float | None,
) -> dict[str, Any]:
    by_kind = Counter(str(r.fault.kind) for r in system.injected)
    by_target = Counter(" + ".join(r.fault.targets) for r in system.injected)
    outcomes: Counter[str] = Counter()
    for record in records:
        if record.final is not None:
            code = record.final["failure_code"]
            outcomes[record.final["status"] + (f": {code}" if code else "")] += 1
        elif record.first is not None and not record.accepted:
            outcomes[f"refused: {record.first.code}"] += 1
        else:
            outcomes["not final"] += 1
    final_times = [r.final_at for r in records if r.final_at is not None]
    figures: dict[str, Any] = {
        "transfers": config.transfers,
        "cross_shard": sum(
            1
            for r in records
            if wallets[r.planned.source].plan.shard != wallets[r.planned.destination].plan.shard
        ),
        "accepted": sum(1 for r in records if r.accepted),
        "outcomes": dict(sorted(outcomes.items())),
        "faults": {kind.value: by_kind.get(kind.value, 0) for kind in FaultKind},
        "faults_by_target": dict(sorted(by_target.items())),
        "retries": tally.retries,
        "answers": dict(sorted(tally.answers.items())),
        "negative_balance_reads": tally.negative_reads,
        "workload_s": round((ended or time.monotonic()) - began, 1),
    }
    if system.injected and final_times:
        last = system.injected[-1]
        all_final = max(final_times)
        figures["final_after_last_fault_s"] = round(max(0.0, all_final - last.recovered_at), 1)
        figures["final_after_last_strike_s"] = round(max(0.0, all_final - last.struck_at), 1)
    return figures


def _report(result: ChaosResult, say: Say) -> None:
    figures = result.figures
    if figures:
        faults = ", ".join(f"{kind} {n}" for kind, n in figures["faults"].items())
        say(f"Faults: {faults} (by target: {figures['faults_by_target']})")
        say(
            f"Transfers: {figures['transfers']:,} sent ({figures['cross_shard']:,} cross-shard), "
            f"{figures['accepted']:,} accepted; outcomes {figures['outcomes']}"
        )
        say(f"Retries: {figures['retries']:,}; answers {figures['answers']}")
        if "final_after_last_fault_s" in figures:
            say(
                f"All final {figures['final_after_last_fault_s']} s after the last fault ended "
                f"({figures['final_after_last_strike_s']} s after it struck); workload "
                f"{figures['workload_s']} s; {figures.get('replays', 0):,} replays checked"
            )
    if result.passed:
        say(
            "PASSED: money per currency unchanged, no hold left, every accepted transfer final "
            "and booked once per leg, replays identical, integrity consistent, balances = ledgers"
        )
        return
    say(f"FAILED ({len(result.violations)} violations; replay with --seed {result.seed}):")
    for violation in result.violations[:60]:
        say(f"  - {violation}")
