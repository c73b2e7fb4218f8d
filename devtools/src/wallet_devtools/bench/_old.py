"""`wallet bench`: drive transfers through the gateway and print what the system sustains.

Against a running system (`--gateway-url` and an admin `--token`, e.g. what `make run` prints) or
one it starts for itself (`--start`): it opens `--wallets` USD wallets spread over the shards,
funds them, then keeps `--concurrency` transfers in flight (a `--cross-shard` share of them between
shards, the rest within one) until `--duration` seconds passed or `--transfers` were submitted.
It prints the throughput of transfers reaching a final state, submit-to-final latency
percentiles, balance-read latency percentiles, and the integrity report's verdict. It only ever
talks to a gateway on the loopback interface.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import secrets
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from wallet_shared.http_client import pooled_http_client
from wallet_shared.routing import ShardMap

from wallet_devtools.cluster import WalletCluster, start_servers
from wallet_devtools.kafka import install_kafka
from wallet_devtools.paths import KAFKA_LIBS_DIR

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_FINAL = frozenset({"completed", "cancelled"})
_FUNDS_PER_WALLET = 10**12  # transfers move 1 cent: no wallet ever runs dry during a run
_POLL_INTERVAL_S = 0.005
_FINAL_TIMEOUT_S = 60.0
_SETUP_ATTEMPTS = 30


class BenchError(RuntimeError):
    """The benchmark could not run (bad arguments, an unexpected answer from the gateway)."""


@dataclass(frozen=True)
class BenchConfig:
    gateway_url: str
    token: str | None
    start: bool
    shards: int
    wallets: int
    concurrency: int
    duration_s: float
    transfers: int | None
    cross_shard: float
    mode: str
    warmup_s: float
    balance_reads: int


@dataclass(frozen=True)
class BenchWallet:
    wallet_id: str
    shard: int


@dataclass
class TransferStats:
    """What the driven transfers did; latencies in seconds, by kind (`cross`, `same`)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"cross": [], "same": []})
    outcomes: Counter[str] = field(default_factory=Counter)
    submitted: int = 0
    measured_finals: int = 0
    measured_elapsed_s: float = 0.0


# --- arguments -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wallet bench", description="Benchmark transfers and balance reads end to end."
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--token", help="admin JWT of the running system (with --gateway-url)")
    target.add_argument("--start", action="store_true", help="start a throwaway system to measure")
    parser.add_argument("--gateway-url", default="http://127.0.0.1:8000")
    parser.add_argument(
        "--shards", type=int, default=2, help="shard count of the system (even map)"
    )
    parser.add_argument("--wallets", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=64, help="transfers kept in flight")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of measured load")
    parser.add_argument("--transfers", type=int, default=None, help="stop after this many")
    parser.add_argument("--cross-shard", type=float, default=0.5, help="share of cross-shard (0-1)")
    parser.add_argument(
        "--mode",
        choices=("wait", "poll"),
        default="wait",
        help="learn the final state with `Prefer: wait` or by polling GET /v1/transfers/{id}",
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--balance-reads", type=int, default=2000)
    return parser


def _config(argv: Sequence[str] | None) -> BenchConfig:
    args = _parser().parse_args(argv)
    if urlsplit(args.gateway_url).hostname not in _LOOPBACK:
        raise BenchError("the benchmark only talks to a gateway on 127.0.0.1")
    if args.shards < 1 or args.wallets < 2 * args.shards or args.concurrency < 1:
        raise BenchError("need --shards >= 1, --wallets >= 2 per shard, --concurrency >= 1")
    if not 0.0 <= args.cross_shard <= 1.0 or (args.cross_shard > 0 and args.shards < 2):
        raise BenchError("--cross-shard is a share between 0 and 1 and needs two shards")
    if args.duration <= 0 or args.warmup < 0 or (args.transfers is not None and args.transfers < 1):
        raise BenchError("--duration must be positive, --warmup and --transfers not negative")
    return BenchConfig(
        gateway_url=args.gateway_url.rstrip("/"),
        token=args.token,
        start=args.start,
        shards=args.shards,
        wallets=args.wallets,
        concurrency=args.concurrency,
        duration_s=args.duration,
        transfers=args.transfers,
        cross_shard=args.cross_shard,
        mode=args.mode,
        warmup_s=args.warmup,
        balance_reads=args.balance_reads,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of `wallet bench`; 0 when the run finished and the books are consistent."""
    try:
        config = _config(argv)
        return asyncio.run(_bench(config))
    except BenchError as error:
        print(f"wallet bench: {error}", file=sys.stderr)
        return 2


# --- the system under test -------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _own_system(shards: int) -> AsyncIterator[tuple[str, str]]:
    """PostgreSQL, Kafka and every service in a temporary folder; yields (gateway URL, token)."""
    print("Starting a throwaway system (PostgreSQL, Kafka, services)...", flush=True)
    await asyncio.to_thread(install_kafka, libs_dir=KAFKA_LIBS_DIR)
    with tempfile.TemporaryDirectory(prefix="wallet-bench-") as folder:
        base = Path(folder)
        async with contextlib.AsyncExitStack() as stack:
            pg, kafka = await start_servers(stack, base)
            cluster = WalletCluster(
                admin_dsn=pg.dsn,
                kafka_bootstrap=kafka.bootstrap,
                log_dir=base / "logs",
                shard_count=shards,
                throwaway=True,
                log_level="WARNING",
                # The default per-caller limit would measure the rate limiter, not the system.
                extra_env={
                    "WALLET_RATE_LIMIT_PER_S": "1000000",
                    "WALLET_RATE_LIMIT_BURST": "1000000",
                },
            )
            await stack.enter_async_context(cluster)
            yield cluster.gateway_url, cluster.token(f"bench-{secrets.token_hex(3)}", "admin")


async def _bench(config: BenchConfig) -> int:
    if config.start:
        async with _own_system(config.shards) as (url, token):
            return await _measure(url, token, config)
    assert config.token is not None  # argparse: --token or --start
    return await _measure(config.gateway_url, config.token, config)


async def _measure(url: str, token: str, config: BenchConfig) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with pooled_http_client(
        base_url=url, headers=headers, max_connections=config.concurrency + 16, timeout_s=60.0
    ) as client:
        print(f"Opening and funding {config.wallets} wallets on {config.shards} shards...")
        wallets = await _open_wallets(client, config)
        print(f"Driving transfers for {config.duration_s}s (+{config.warmup_s}s warm-up)...")
        stats = await _drive_transfers(client, wallets, config)
        reads = await _balance_reads(client, wallets, config.balance_reads)
        report = await _expect(await client.get("/v1/admin/integrity"), 200)
    print(_format(config, stats, reads, report))
    return 0 if report.get("consistent") is True else 1


# --- set-up ----------------------------------------------------------------------------------


async def _expect(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise BenchError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:500]}"
        )
    return response.json()


async def _open_wallets(client: httpx.AsyncClient, config: BenchConfig) -> list[BenchWallet]:
    shard_map = ShardMap.even(config.shards)
    run = secrets.token_hex(3)
    users = [f"bench-{run}-{n}" for n in range(config.wallets * 4)]
    per_shard = config.wallets // config.shards
    chosen = [
        (user, shard)
        for shard in range(config.shards)
        for user in [u for u in users if shard_map.shard_for_user(u) == shard][:per_shard]
    ]
    gate = asyncio.Semaphore(16)

    async def open_one(user: str, shard: int) -> BenchWallet:
        async with gate:
            body = {"currency": "USD", "user_id": user, "label": "bench"}
            wallet = await _expect(await _post_patiently(client, "/v1/wallets", body), 201)
            deposit = {"amount": _FUNDS_PER_WALLET, "reference": "bench funding"}
            path = f"/v1/wallets/{wallet['id']}/deposits"
            key = uuid.uuid4().hex
            await _expect(await _post_patiently(client, path, deposit, key=key), 201)
            return BenchWallet(wallet["id"], shard)

    return list(await asyncio.gather(*(open_one(user, shard) for user, shard in chosen)))


async def _post_patiently(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], *, key: str | None = None
) -> httpx.Response:
    """POST, waiting out a 429 as its Retry-After says (set-up only; a refused request did
    nothing, and a deposit carries its Idempotency-Key)."""
    headers = {"Idempotency-Key": key} if key else {}
    for _ in range(_SETUP_ATTEMPTS):
        response = await client.post(path, json=body, headers=headers)
        if response.status_code != 429:
            return response
        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
    return response


# --- load ------------------------------------------------------------------------------------


def _pick_pair(
    rng: random.Random, by_shard: list[list[BenchWallet]], cross_share: float
) -> tuple[str, BenchWallet, BenchWallet]:
    if rng.random() < cross_share:
        first, second = rng.sample(range(len(by_shard)), 2)
        return "cross", rng.choice(by_shard[first]), rng.choice(by_shard[second])
    shard = rng.choice(by_shard)
    source, destination = rng.sample(shard, 2)
    return "same", source, destination


async def _drive_transfers(
    client: httpx.AsyncClient, wallets: list[BenchWallet], config: BenchConfig
) -> TransferStats:
    by_shard = [[w for w in wallets if w.shard == s] for s in range(config.shards)]
    stats = TransferStats()
    rng = random.Random(7)
    started = time.perf_counter()
    measure_from = started + config.warmup_s
    stop_at = measure_from + config.duration_s
    budget = config.transfers

    async def worker() -> None:
        while time.perf_counter() < stop_at and (budget is None or stats.submitted < budget):
            stats.submitted += 1
            kind, source, destination = _pick_pair(rng, by_shard, config.cross_shard)
            began = time.perf_counter()
            outcome = await _one_transfer(client, source, destination, config.mode)
            finished = time.perf_counter()
            if began >= measure_from:
                stats.outcomes[outcome] += 1
                if outcome in ("completed", "cancelled"):
                    stats.latencies[kind].append(finished - began)
                    stats.measured_finals += 1

    await asyncio.gather(*(worker() for _ in range(config.concurrency)))
    stats.measured_elapsed_s = max(time.perf_counter() - measure_from, 1e-9)
    return stats


async def _one_transfer(
    client: httpx.AsyncClient, source: BenchWallet, destination: BenchWallet, mode: str
) -> str:
    """Submit one transfer and learn its final state: `completed`, `cancelled` or an error."""
    body = {
        "source_wallet_id": source.wallet_id,
        "destination_wallet_id": destination.wallet_id,
        "amount": 1,
    }
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    if mode == "wait":
        headers["Prefer"] = "wait=30"
    try:
        response = await client.post("/v1/transfers", json=body, headers=headers)
    except httpx.HTTPError as error:
        return f"error:{type(error).__name__}"
    if response.status_code not in (200, 202):
        return f"error:{response.status_code}"
    transfer = response.json()
    if transfer["status"] not in _FINAL:
        transfer = await _poll_final(client, transfer["id"])
    return str(transfer["status"]) if transfer else "error:not_final"


async def _poll_final(client: httpx.AsyncClient, transfer_id: str) -> dict[str, Any] | None:
    deadline = time.perf_counter() + _FINAL_TIMEOUT_S
    while time.perf_counter() < deadline:
        response = await client.get(f"/v1/transfers/{transfer_id}")
        if response.status_code == 200 and response.json()["status"] in _FINAL:
            transfer: dict[str, Any] = response.json()
            return transfer
        await asyncio.sleep(_POLL_INTERVAL_S)
    return None


async def _balance_reads(
    client: httpx.AsyncClient, wallets: list[BenchWallet], count: int
) -> list[float]:
    """Latency of `count` wallet reads, 16 at a time, on an otherwise idle system."""
    rng = random.Random(11)
    gate = asyncio.Semaphore(16)
    samples: list[float] = []

    async def read(wallet: BenchWallet) -> None:
        async with gate:
            began = time.perf_counter()
            response = await client.get(f"/v1/wallets/{wallet.wallet_id}")
            samples.append(time.perf_counter() - began)
            await _expect(response, 200)

    await asyncio.gather(*(read(rng.choice(wallets)) for _ in range(count)))
    return samples


# --- report ----------------------------------------------------------------------------------


def percentile(samples: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (`share` in 0..1) of a non-empty sample."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _latency_line(name: str, samples: Sequence[float], shares: Sequence[float]) -> str:
    if not samples:
        return f"  {name:<24} no samples"
    figures = "  ".join(
        f"p{round(s * 100)} {percentile(samples, s) * 1000:7.1f} ms" for s in shares
    )
    return f"  {name:<24} {figures}   (n={len(samples)})"


def _format(
    config: BenchConfig, stats: TransferStats, reads: list[float], report: dict[str, Any]
) -> str:
    elapsed = stats.measured_elapsed_s
    cross, same = stats.latencies["cross"], stats.latencies["same"]
    outcomes = ", ".join(f"{name} {count}" for name, count in sorted(stats.outcomes.items()))
    lines = [
        "",
        f"wallet bench: {config.wallets} wallets, {config.shards} shards, "
        f"concurrency {config.concurrency}, cross-shard share {config.cross_shard:.0%}, "
        f"mode {config.mode}",
        f"  measured for {elapsed:.1f} s after {config.warmup_s:.0f} s warm-up; outcomes: {outcomes}",
        f"  throughput (final)       {stats.measured_finals / elapsed:8.1f} transfers/s   "
        f"(cross-shard {len(cross) / elapsed:.1f}/s, same-shard {len(same) / elapsed:.1f}/s)",
        "submit-to-final latency",
        _latency_line("cross-shard", cross, (0.5, 0.95, 0.99)),
        _latency_line("same-shard", same, (0.5, 0.95, 0.99)),
        _latency_line("all", cross + same, (0.5, 0.95, 0.99)),
        "balance reads (GET /v1/wallets/{id}, 16 in flight)",
        _latency_line("read", reads, (0.5, 0.99)),
        f"integrity: {'consistent' if report.get('consistent') is True else 'INCONSISTENT'}",
    ]
    if stats.outcomes["error:429"]:
        lines.append(
            "note: the gateway rate-limited the benchmark's caller; start the system with a "
            "higher WALLET_RATE_LIMIT_PER_S / WALLET_RATE_LIMIT_BURST to measure the system"
        )
    return "\n".join(lines)
