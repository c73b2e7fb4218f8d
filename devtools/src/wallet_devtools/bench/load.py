"""The load: benchmark wallets, the requests each phase sends, closed and open loops.

Requests go through aiohttp directly (no httpx layer on top): the client shares the cores with
the system it measures, and every millisecond of CPU it spends per request is one the system
does not get.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from wallet_shared.contracts.routing import ShardMap

from wallet_devtools.bench.config import BenchError
from wallet_devtools.bench.stats import CANCELLED, ERROR_PREFIX, OK, Sample

_FUNDS_PER_WALLET = 10**12  # every request moves 1 cent: no wallet runs dry during a run
_FINAL_WAIT_S = 30  # `Prefer: wait=N`, the most the gateway grants
_POLL_INTERVAL_S = 0.01
_FINAL_TIMEOUT_S = 90.0
_SETUP_ATTEMPTS = 30
_SETUP_IN_FLIGHT = 16

Operation = Callable[[], Awaitable[str]]


@dataclass(frozen=True)
class BenchWallet:
    wallet_id: str
    shard: int


@dataclass
class Recorder:
    """The samples of one stream of requests, and running counts for the progress display."""

    samples: list[Sample] = field(default_factory=list)
    ok: int = 0
    failed: int = 0

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)
        if sample.outcome.startswith(ERROR_PREFIX):
            self.failed += 1
        elif sample.outcome == OK:
            self.ok += 1


class GatewayClient:
    """The public API calls the benchmark makes, each answering an outcome string."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def transfer(self, source: BenchWallet, destination: BenchWallet) -> str:
        """Submit a 1-cent transfer and learn its final status (`Prefer: wait`, then polling
        in the rare case the wait ran out)."""
        body = {
            "source_wallet_id": source.wallet_id,
            "destination_wallet_id": destination.wallet_id,
            "amount": 1,
        }
        headers = {"Idempotency-Key": uuid.uuid4().hex, "Prefer": f"wait={_FINAL_WAIT_S}"}
        try:
            async with self._session.post("/v1/transfers", json=body, headers=headers) as answer:
                if answer.status not in (200, 202):
                    return f"{ERROR_PREFIX}{answer.status}"
                transfer = await answer.json()
            if transfer["status"] not in ("completed", "cancelled"):
                transfer = await self._poll_final(transfer["id"])
        except (aiohttp.ClientError, TimeoutError) as error:
            return f"{ERROR_PREFIX}{type(error).__name__}"
        if transfer is None:
            return f"{ERROR_PREFIX}not_final"
        return OK if transfer["status"] == "completed" else CANCELLED

    async def deposit(self, wallet: BenchWallet) -> str:
        body = {"amount": 1, "reference": "bench"}
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        return await self._status_outcome(
            self._session.post(
                f"/v1/wallets/{wallet.wallet_id}/deposits", json=body, headers=headers
            ),
            201,
        )

    async def read_balance(self, wallet: BenchWallet, *, at: datetime | None = None) -> str:
        """The wallet (its balance snapshot), or its balance as of `at` (from the ledger)."""
        if at is None:
            request = self._session.get(f"/v1/wallets/{wallet.wallet_id}")
        else:
            request = self._session.get(
                f"/v1/wallets/{wallet.wallet_id}/balance", params={"at": at.isoformat()}
            )
        return await self._status_outcome(request, 200)

    async def integrity(self) -> dict[str, Any]:
        async with self._session.get("/v1/admin/integrity") as answer:
            report: dict[str, Any] = await _expect(answer, 200)
            return report

    async def _status_outcome(self, request: Any, expected: int) -> str:
        try:
            async with request as answer:
                await answer.read()
                return OK if answer.status == expected else f"{ERROR_PREFIX}{answer.status}"
        except (aiohttp.ClientError, TimeoutError) as error:
            return f"{ERROR_PREFIX}{type(error).__name__}"

    async def _poll_final(self, transfer_id: str) -> dict[str, Any] | None:
        deadline = time.perf_counter() + _FINAL_TIMEOUT_S
        while time.perf_counter() < deadline:
            async with self._session.get(f"/v1/transfers/{transfer_id}") as answer:
                if answer.status == 200:
                    transfer: dict[str, Any] = await answer.json()
                    if transfer["status"] in ("completed", "cancelled"):
                        return transfer
            await asyncio.sleep(_POLL_INTERVAL_S)
        return None


# --- set-up ----------------------------------------------------------------------------------


async def open_wallets(
    session: aiohttp.ClientSession,
    *,
    shards: int,
    wallets: int,
    on_opened: Callable[[], None] | None = None,
) -> list[BenchWallet]:
    """`wallets` funded USD wallets, as many on each shard (owners chosen by the even map)."""
    shard_map = ShardMap.even(shards)
    run = secrets.token_hex(3)
    per_shard = wallets // shards
    owners: list[tuple[str, int]] = []
    for shard in range(shards):
        users = (f"bench-{run}-{n}" for n in range(wallets * shards * 8))
        owners += [(u, shard) for u in users if shard_map.shard_for_user(u) == shard][:per_shard]
    gate = asyncio.Semaphore(_SETUP_IN_FLIGHT)

    async def open_one(user: str, shard: int) -> BenchWallet:
        async with gate:
            body = {"currency": "USD", "user_id": user, "label": "bench"}
            wallet = await _post_patiently(session, "/v1/wallets", body, 201)
            funding = {"amount": _FUNDS_PER_WALLET, "reference": "bench funding"}
            path = f"/v1/wallets/{wallet['id']}/deposits"
            await _post_patiently(session, path, funding, 201, key=uuid.uuid4().hex)
        if on_opened is not None:
            on_opened()
        return BenchWallet(wallet["id"], shard)

    return list(await asyncio.gather(*(open_one(user, shard) for user, shard in owners)))


async def _post_patiently(
    session: aiohttp.ClientSession,
    path: str,
    body: dict[str, Any],
    status: int,
    *,
    key: str | None = None,
) -> Any:
    """POST, waiting out a 429 as its Retry-After says (set-up only: a refused request did
    nothing, and a deposit carries its Idempotency-Key)."""
    headers = {"Idempotency-Key": key} if key else {}
    for _ in range(_SETUP_ATTEMPTS):
        async with session.post(path, json=body, headers=headers) as answer:
            if answer.status != 429:
                return await _expect(answer, status)
            await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
    raise BenchError(f"POST {path} was still rate-limited after {_SETUP_ATTEMPTS} attempts")


async def _expect(answer: aiohttp.ClientResponse, status: int) -> Any:
    if answer.status != status:
        text = (await answer.text())[:500]
        raise BenchError(f"{answer.method} {answer.url.path} answered {answer.status}: {text}")
    return await answer.json()


# --- what each phase sends -------------------------------------------------------------------


class Workload:
    """Random operations over the benchmark wallets (seeded: runs are repeatable)."""

    def __init__(self, client: GatewayClient, wallets: Sequence[BenchWallet], shards: int) -> None:
        self._client = client
        self._wallets = list(wallets)
        self._by_shard = [[w for w in wallets if w.shard == s] for s in range(shards)]
        self._rng = random.Random(7)

    def cross_shard_transfer(self) -> Awaitable[str]:
        first, second = self._rng.sample(range(len(self._by_shard)), 2)
        source = self._rng.choice(self._by_shard[first])
        return self._client.transfer(source, self._rng.choice(self._by_shard[second]))

    def same_shard_transfer(self) -> Awaitable[str]:
        source, destination = self._rng.sample(self._rng.choice(self._by_shard), 2)
        return self._client.transfer(source, destination)

    def deposit(self) -> Awaitable[str]:
        return self._client.deposit(self._rng.choice(self._wallets))

    def mixed(self) -> Awaitable[str]:
        """Any of the measured kinds of operation, at random (the system's warm-up)."""
        kind = self._rng.choice((self.cross_shard_transfer, self.same_shard_transfer, self.deposit))
        return kind()

    def balance_read(self) -> Awaitable[str]:
        """Half snapshot reads, half point-in-time reads (`balance?at=`, an instant of the last
        minute, answered from the ledger's index)."""
        wallet = self._rng.choice(self._wallets)
        if self._rng.random() < 0.5:
            return self._client.read_balance(wallet)
        at = datetime.now(UTC) - timedelta(seconds=self._rng.uniform(0, 60))
        return self._client.read_balance(wallet, at=at)


# --- loops -----------------------------------------------------------------------------------


async def closed_loop(
    operation: Operation, *, concurrency: int, stop_at: float, recorder: Recorder
) -> None:
    """Keep `concurrency` operations in flight until `stop_at` (perf_counter), then let the
    last ones finish."""

    async def worker() -> None:
        while (began := time.perf_counter()) < stop_at:
            outcome = await operation()
            recorder.add(Sample(began, time.perf_counter(), outcome))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def open_loop(
    operation: Operation, *, schedule: Sequence[float], recorder: Recorder, max_in_flight: int
) -> None:
    """Send one operation at each instant of `schedule` (perf_counter) whatever the answers
    do; latency counts from the scheduled instant, so falling behind shows as latency."""
    gate = asyncio.Semaphore(max_in_flight)
    tasks: set[asyncio.Task[None]] = set()

    async def one(scheduled: float) -> None:
        try:
            outcome = await operation()
            recorder.add(Sample(scheduled, time.perf_counter(), outcome))
        finally:
            gate.release()

    for scheduled in schedule:
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await gate.acquire()
        task = asyncio.create_task(one(scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
