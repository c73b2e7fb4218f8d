"""A seeded random transfer workload among a closed set of wallets, and the books it must leave.

Shared by the workload test and the fault tests: open funded wallets on both shards, submit
transfers among them at a given concurrency, wait until each is final, then check the invariants
of DESIGN.md from the outside (balances, holds, history, transfer lists, integrity report).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tests.e2e.client import (
    Api,
    Gateway,
    Json,
    assert_problem,
    new_key,
    shard_of_wallet,
    user_on_shard,
)

# A dependency that is down (the fault tests kill one) answers one of these, or no answer at all.
UNAVAILABLE = frozenset({502, 503, 504})


@dataclass(frozen=True)
class Account:
    api: Api
    wallet_id: str
    funded: int


@dataclass(frozen=True)
class PlannedTransfer:
    source: int
    destination: int
    amount: int


@dataclass
class Outcome:
    """What became of one planned transfer: its id (when accepted) or the up-front refusal."""

    planned: PlannedTransfer
    key: str
    transfer_id: str | None = None
    refused_code: str | None = None
    final: Json | None = None
    attempts: int = 0
    unavailable_answers: list[int] = field(default_factory=list)


async def open_accounts(gw: Gateway, *, count: int = 8, funds: int = 10_000) -> list[Account]:
    """`count` USD wallets, half on each shard, some users holding two of them."""
    accounts = []
    for n in range(count):
        owner = user_on_shard(n % 2, f"member{n // 4}")  # members 0,1.. own two wallets each
        api = gw.user(owner)
        wallet_id = (await api.create_wallet("USD", label=f"w{n}"))["id"]
        await api.deposit(wallet_id, funds)
        accounts.append(Account(api, wallet_id, funds))
    assert {shard_of_wallet(a.wallet_id) for a in accounts} == {0, 1}
    return accounts


def plan_transfers(
    seed: int, *, accounts: int, count: int, max_amount: int
) -> list[PlannedTransfer]:
    """A reproducible list of transfers between distinct wallets."""
    rng = random.Random(seed)
    plan = []
    for _ in range(count):
        source, destination = rng.sample(range(accounts), 2)
        plan.append(PlannedTransfer(source, destination, rng.randint(1, max_amount)))
    return plan


async def submit_all(
    accounts: list[Account],
    plan: list[PlannedTransfer],
    *,
    concurrency: int,
    outage_budget_s: float = 0.0,
    on_accepted: asyncio.Event | None = None,
    accepted_threshold: int = 0,
) -> list[Outcome]:
    """Submit every planned transfer, at most `concurrency` at a time.

    With an `outage_budget_s`, a submission that meets a dead dependency (connection error or
    502/503/504) is sent again with the same Idempotency-Key until the budget runs out; any
    other answer is taken as final. `on_accepted` is set once `accepted_threshold` transfers
    were accepted (the fault tests kill a process then).
    """
    gate = asyncio.Semaphore(concurrency)
    outcomes = [Outcome(planned=p, key=new_key()) for p in plan]
    accepted = 0

    async def submit(index: int, outcome: Outcome) -> None:
        nonlocal accepted
        async with gate:
            await _submit_one(accounts, outcome, wait=index % 2 == 0, budget_s=outage_budget_s)
        if outcome.transfer_id is not None:
            accepted += 1
            if on_accepted is not None and accepted >= accepted_threshold:
                on_accepted.set()

    await asyncio.gather(*(submit(i, o) for i, o in enumerate(outcomes)))
    return outcomes


async def _submit_one(
    accounts: list[Account], outcome: Outcome, *, wait: bool, budget_s: float
) -> None:
    planned = outcome.planned
    source, destination = accounts[planned.source], accounts[planned.destination]
    amount: int | str = planned.amount if planned.amount % 2 else str(planned.amount)
    deadline = time.monotonic() + budget_s
    while True:
        outcome.attempts += 1
        try:
            response = await source.api.transfer_raw(
                source.wallet_id,
                destination.wallet_id,
                amount,
                key=outcome.key,
                wait_s=10 if wait else None,
            )
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code not in UNAVAILABLE:
            break
        outcome.unavailable_answers.append(0 if response is None else response.status_code)
        assert time.monotonic() < deadline, f"submission kept failing: {outcome}"
        await asyncio.sleep(0.25)
    if response.status_code in (200, 202):
        outcome.transfer_id = response.json()["id"]
    else:  # API.md lets a transfer that cannot be booked be refused up front
        outcome.refused_code = assert_problem(response, 422, "insufficient_funds")["code"]


async def settle(api: Api, outcomes: list[Outcome], *, timeout_s: float = 90.0) -> None:
    """Wait until every accepted transfer is completed or cancelled."""
    for outcome in outcomes:
        if outcome.transfer_id is not None:
            outcome.final = await api.await_final(outcome.transfer_id, timeout_s=timeout_s)


async def check_books(
    gw: Gateway, accounts: list[Account], outcomes: list[Outcome]
) -> Counter[str]:
    """Assert the invariants after the workload; returns how many transfers ended how."""
    endings: Counter[str] = Counter()
    expected = [account.funded for account in accounts]
    outgoing: list[dict[str, str]] = [{} for _ in accounts]
    incoming: list[dict[str, str]] = [{} for _ in accounts]
    for outcome in outcomes:
        if outcome.final is None:
            assert outcome.refused_code is not None, outcome
            endings[f"refused:{outcome.refused_code}"] += 1
            continue
        final, planned = outcome.final, outcome.planned
        assert final["amount"] == str(planned.amount), final
        if final["status"] == "completed":
            assert final["failure_code"] is None, final
            expected[planned.source] -= planned.amount
            expected[planned.destination] += planned.amount
            outgoing[planned.source][final["id"]] = final["amount"]
            incoming[planned.destination][final["id"]] = final["amount"]
            endings["completed"] += 1
        else:
            assert final["status"] == "cancelled", final
            assert final["failure_code"] == "insufficient_funds", final
            endings["cancelled:insufficient_funds"] += 1

    admin = gw.admin()
    for index, account in enumerate(accounts):
        wallet = await account.api.wallet(account.wallet_id)
        assert (wallet["balance"], wallet["available_balance"], wallet["frozen_balance"]) == (
            str(expected[index]),
            str(expected[index]),
            "0",
        ), f"wallet {index}: {wallet}"
        await _check_history(account, outgoing[index], incoming[index])
        await _check_transfer_list(admin, account, outcomes)
    assert sum(expected) == sum(account.funded for account in accounts)
    await check_integrity(admin, wallets_total=sum(expected))
    return endings


async def _check_history(
    account: Account, outgoing: dict[str, str], incoming: dict[str, str]
) -> None:
    """Each completed transfer is booked exactly once on each side, and nothing else is."""
    history = await account.api.all_pages(
        f"/v1/wallets/{account.wallet_id}/transactions", {"limit": 200}
    )
    booked_out = [(t["transfer_id"], t["amount"]) for t in history if t["type"] == "transfer_out"]
    booked_in = [(t["transfer_id"], t["amount"]) for t in history if t["type"] == "transfer_in"]
    assert sorted(booked_out) == sorted(outgoing.items())
    assert sorted(booked_in) == sorted(incoming.items())
    # Invariant 1 from the outside: the balance is the sum of the wallet's movements.
    signed = {"deposit": 1, "transfer_in": 1, "withdrawal": -1, "transfer_out": -1}
    total = sum(signed[t["type"]] * int(t["amount"]) for t in history)
    assert total == int((await account.api.wallet(account.wallet_id))["balance"])


async def _check_transfer_list(admin: Api, account: Account, outcomes: list[Outcome]) -> None:
    """The wallet's transfers are exactly the accepted ones that involve it (no duplicates)."""
    listed = await admin.all_pages("/v1/transfers", {"wallet_id": account.wallet_id, "limit": 200})
    ids = [t["id"] for t in listed]
    assert len(ids) == len(set(ids))
    involved = {
        o.final["id"]
        for o in outcomes
        if o.final is not None
        and account.wallet_id in (o.final["source_wallet_id"], o.final["destination_wallet_id"])
    }
    assert set(ids) == involved
    assert all(t["status"] in ("completed", "cancelled") for t in listed)


async def check_integrity(api: Api, *, wallets_total: int, currency: str = "USD") -> Json:
    """The integrity report says consistent, with nothing in flight and a zero difference."""
    report = await api.integrity()
    assert report["consistent"] is True, report
    figures = {
        name: report["currencies"][currency][name]
        for name in ("wallets_total", "in_flight", "external_net", "difference")
    }
    assert figures == {
        "wallets_total": str(wallets_total),
        "in_flight": "0",
        "external_net": str(wallets_total),
        "difference": "0",
    }, report
    assert all(c["difference"] == "0" for c in report["currencies"].values()), report
    assert [s["shard"] for s in report["shards"]] == ["shard-0", "shard-1"], report
    assert report["coordinator"] == {"consistent": True, "problems": []}, report
    assert all((s["consistent"], s["problems"]) == (True, []) for s in report["shards"]), report
    return report
