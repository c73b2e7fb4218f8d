"""The transfer workload of a chaos run and its record of what the system accepted.

Wallets are opened and funded first (no fault yet), each by its own user. Then `concurrency`
clients work through the planned transfers: each starts one (with or without `Prefer: wait`),
follows it until it is final, reads its source wallet, and takes the next. Every answer is kept:
the checks afterwards compare the system with this record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wallet_shared.contracts.routing import ShardMap

from wallet_devtools.chaos.client import Answer, Client, GaveUpError, Tally
from wallet_devtools.chaos.schedule import PlannedTransfer, WalletPlan

FINAL = frozenset({"completed", "cancelled"})
WAIT_S = 10  # `Prefer: wait=N` of the transfers sent with it
# Refusals up front that API.md allows for a transfer that cannot be booked.
REFUSALS = frozenset({"insufficient_funds", "limit_exceeded", "wallet_not_active"})
_POLL_FIRST_S = 0.1
_POLL_MAX_S = 1.0

TokenFor = Callable[[str], str]


@dataclass(frozen=True)
class Wallet:
    plan: WalletPlan
    owner: str
    wallet_id: str


@dataclass
class TransferRecord:
    """One planned transfer and everything the client learnt about it."""

    planned: PlannedTransfer
    key: str
    body: dict[str, Any]
    headers: dict[str, str]
    first: Answer | None = None  # the first answer that was not worth repeating
    transfer_id: str | None = None
    final: dict[str, Any] | None = None
    final_at: float | None = None  # time.monotonic() when the client saw it final

    @property
    def accepted(self) -> bool:
        return self.transfer_id is not None


@dataclass
class Progress:
    """How many transfers have been answered; faults wait for a count to be reached."""

    answered: int = 0
    _waiters: list[tuple[int, asyncio.Event]] = field(default_factory=list)

    def add(self) -> None:
        self.answered += 1
        for threshold, event in self._waiters:
            if self.answered >= threshold:
                event.set()

    async def reached(self, threshold: int) -> None:
        if self.answered >= threshold:
            return
        event = asyncio.Event()
        self._waiters.append((threshold, event))
        await event.wait()


def owner_on_shard(shard_map: ShardMap, shard: int, name: str) -> str:
    """A user id starting with `name` whose bucket belongs to `shard` (first match, stable)."""
    for suffix in range(100_000):
        user = f"{name}-{suffix}"
        if shard_map.shard_for_user(user) == shard:
            return user
    raise RuntimeError(f"no user id {name}-N on shard {shard}")


async def open_wallets(
    client: Client, plans: list[WalletPlan], *, shard_count: int, seed: int, token_for: TokenFor
) -> list[Wallet]:
    """One wallet per plan, each of its own user on the planned shard, funded by a deposit."""
    shard_map = ShardMap.even(shard_count)

    async def open_one(plan: WalletPlan) -> Wallet:
        owner = owner_on_shard(shard_map, plan.shard, f"chaos{seed}-w{plan.index}")
        token = token_for(owner)
        created = await client.request(
            "POST",
            "/v1/wallets",
            token=token,
            json={"currency": plan.currency, "label": f"chaos {plan.index}"},
            route="POST /v1/wallets",
        )
        if created.status != 201:
            raise RuntimeError(f"opening wallet {plan.index}: {created.status} {created.body}")
        wallet_id = created.body["id"]
        funded = await client.request(
            "POST",
            f"/v1/wallets/{wallet_id}/deposits",
            token=token,
            json={"amount": plan.funds, "reference": "chaos funding"},
            headers={"Idempotency-Key": f"chaos-{seed}-fund-{plan.index}"},
            route="POST /v1/wallets/{id}/deposits",
        )
        if funded.status != 201:
            raise RuntimeError(f"funding wallet {plan.index}: {funded.status} {funded.body}")
        return Wallet(plan, owner, wallet_id)

    return list(await asyncio.gather(*(open_one(plan) for plan in plans)))


def records_for(
    seed: int, wallets: list[Wallet], plan: list[PlannedTransfer]
) -> list[TransferRecord]:
    """The request each planned transfer is sent as (and sent again as, on every retry)."""
    records = []
    for planned in plan:
        source, destination = wallets[planned.source], wallets[planned.destination]
        headers = {"Idempotency-Key": f"chaos-{seed}-transfer-{planned.index}"}
        if planned.wait:
            headers["Prefer"] = f"wait={WAIT_S}"
        body = {
            "source_wallet_id": source.wallet_id,
            "destination_wallet_id": destination.wallet_id,
            "amount": planned.amount,
        }
        records.append(TransferRecord(planned, headers["Idempotency-Key"], body, headers))
    return records


class Workload:
    """`concurrency` clients working through the records, each transfer to its end."""

    def __init__(
        self,
        client: Client,
        tally: Tally,
        wallets: list[Wallet],
        token_for: TokenFor,
        *,
        final_patience_s: float,
    ) -> None:
        self._client = client
        self._tally = tally
        self._wallets = wallets
        self._token_for = token_for
        self._final_patience_s = final_patience_s
        self.progress = Progress()

    async def run(self, records: list[TransferRecord], *, concurrency: int) -> None:
        queue = iter(records)

        async def worker() -> None:
            for record in queue:  # one shared iterator: each record goes to one worker
                await self._one(record)
                self.progress.add()

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def _one(self, record: TransferRecord) -> None:
        source = self._wallets[record.planned.source]
        token = self._token_for(source.owner)
        try:
            answer = await self._client.request(
                "POST",
                "/v1/transfers",
                token=token,
                json=record.body,
                headers=record.headers,
                timeout_s=WAIT_S + 20.0,
                route="POST /v1/transfers",
            )
        except GaveUpError as error:
            self._tally.note(f"transfer {record.key}: {error}")
            return
        record.first = answer
        if answer.status in (200, 202):
            record.transfer_id = answer.body["id"]
            if answer.status == 200 or answer.body["status"] in FINAL:
                self._final(record, answer.body)
            else:
                await self._follow(record, token)
        elif not (answer.status == 422 and answer.code in REFUSALS):
            self._tally.note(f"transfer {record.key}: unexpected {answer.status} {answer.body}")
        await self._read_wallet(source, token)

    def _final(self, record: TransferRecord, transfer: dict[str, Any]) -> None:
        if transfer["status"] not in FINAL:
            self._tally.note(f"transfer {record.transfer_id}: answered 200 while pending")
            return
        record.final = transfer
        record.final_at = time.monotonic()

    async def _follow(self, record: TransferRecord, token: str) -> None:
        """Poll the transfer until it is final, as a client told `202 pending` would."""
        give_up_at = time.monotonic() + self._final_patience_s
        pause = _POLL_FIRST_S
        while time.monotonic() < give_up_at:
            await asyncio.sleep(pause)
            pause = min(pause * 2, _POLL_MAX_S)
            try:
                answer = await self._client.request(
                    "GET",
                    f"/v1/transfers/{record.transfer_id}",
                    token=token,
                    route="GET /v1/transfers/{id}",
                )
            except GaveUpError:
                continue
            if answer.status != 200:
                self._tally.note(f"GET transfer {record.transfer_id}: {answer.status}")
                return
            if answer.body["status"] in FINAL:
                self._final(record, answer.body)
                return
        self._tally.note(
            f"transfer {record.transfer_id} not final {self._final_patience_s:.0f} s after it "
            f"was accepted (seed replays it)"
        )

    async def _read_wallet(self, wallet: Wallet, token: str) -> None:
        """Read the source wallet, as a client checking its balance would: never below zero."""
        try:
            answer = await self._client.request(
                "GET", f"/v1/wallets/{wallet.wallet_id}", token=token, route="GET /v1/wallets/{id}"
            )
        except GaveUpError as error:
            self._tally.note(f"GET wallet {wallet.wallet_id}: {error}")
            return
        if answer.status != 200:
            self._tally.note(f"GET wallet {wallet.wallet_id}: {answer.status} {answer.body}")
            return
        figures = {k: int(answer.body[k]) for k in ("balance", "available_balance")}
        if min(figures.values()) < 0:
            self._tally.negative_reads += 1
            self._tally.note(f"wallet {wallet.wallet_id} read below zero: {figures}")
