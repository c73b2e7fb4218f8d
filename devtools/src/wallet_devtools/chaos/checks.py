"""After the faults: the system compared with the workload's own record of what it accepted.

From the outside (public API): every accepted transfer final, replays identical to the first
final answer, balances as the record says, the integrity check consistent. From the inside
(SQL on every shard database and the coordinator's): every completed transfer booked exactly
once on each leg and a cancelled one never, no transfer the record does not know, no hold or
pending credit left, every balance equal to its ledger, money per currency unchanged.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from wallet_devtools.chaos.client import Client, GaveUpError
from wallet_devtools.chaos.workload import TokenFor, TransferRecord, Wallet

_REPLAYS_IN_FLIGHT = 16


@dataclass(frozen=True)
class Booking:
    shard: int
    transfer_id: str
    type: str  # transfer_out | transfer_in
    wallet_id: str
    amount: int


def expected_balances(wallets: Sequence[Wallet], records: Sequence[TransferRecord]) -> list[int]:
    """Each wallet's balance by the record: its funds, plus what completed transfers moved."""
    balances = [wallet.plan.funds for wallet in wallets]
    for record in records:
        if record.final is not None and record.final["status"] == "completed":
            balances[record.planned.source] -= record.planned.amount
            balances[record.planned.destination] += record.planned.amount
    return balances


def check_record(records: Sequence[TransferRecord]) -> list[str]:
    """The answers themselves: each accepted transfer final, with the body that was sent."""
    problems = []
    for record in records:
        if record.first is None:
            problems.append(f"transfer {record.key}: never answered")
        elif record.accepted and record.final is None:
            problems.append(f"transfer {record.transfer_id} ({record.key}): not final")
        elif record.final is not None:
            final = record.final
            sent = (record.body["source_wallet_id"], record.body["destination_wallet_id"])
            if (final["source_wallet_id"], final["destination_wallet_id"]) != sent or final[
                "amount"
            ] != str(record.planned.amount):
                problems.append(
                    f"transfer {record.transfer_id}: final {final} is not what was sent"
                )
            if final["status"] == "completed" and final["failure_code"] is not None:
                problems.append(f"transfer {record.transfer_id}: completed with a failure code")
    return problems


async def check_replays(
    client: Client,
    wallets: Sequence[Wallet],
    records: Sequence[TransferRecord],
    token_for: TokenFor,
) -> tuple[int, list[str]]:
    """Send every answered transfer again, same key and body: the answer must be the first
    final answer (200 and the final transfer; the same refusal), marked as a replay."""
    gate = asyncio.Semaphore(_REPLAYS_IN_FLIGHT)
    problems: list[str] = []
    sent = 0

    async def replay(record: TransferRecord) -> None:
        nonlocal sent
        assert record.first is not None
        source = wallets[record.planned.source]
        async with gate:
            try:
                answer = await client.request(
                    "POST",
                    "/v1/transfers",
                    token=token_for(source.owner),
                    json=record.body,
                    headers=record.headers,
                    route="POST /v1/transfers (replay)",
                )
            except GaveUpError as error:
                problems.append(f"replay of {record.key}: {error}")
                return
        sent += 1
        if record.accepted:
            expected = (200, record.final)
        else:
            expected = (record.first.status, record.first.body)
        if (answer.status, answer.body) != expected or not answer.replayed:
            problems.append(
                f"replay of {record.key}: {answer.status} {answer.body} "
                f"(replayed={answer.replayed}), first final answer {expected[0]} {expected[1]}"
            )

    await asyncio.gather(*(replay(r) for r in records if r.first is not None and _final_known(r)))
    return sent, problems


def _final_known(record: TransferRecord) -> bool:
    return not record.accepted or record.final is not None


async def check_wallets_by_api(
    client: Client, wallets: Sequence[Wallet], expected: Sequence[int], token_for: TokenFor
) -> list[str]:
    """Each wallet's balance as the record says, nothing frozen."""
    problems = []
    for wallet, balance in zip(wallets, expected, strict=True):
        answer = await client.request(
            "GET",
            f"/v1/wallets/{wallet.wallet_id}",
            token=token_for(wallet.owner),
            route="GET /v1/wallets/{id}",
        )
        seen = (answer.body.get("balance"), answer.body.get("frozen_balance"))
        if answer.status != 200 or seen != (str(balance), "0"):
            problems.append(
                f"wallet {wallet.plan.index} ({wallet.wallet_id}): balance, frozen {seen}, "
                f"expected ({balance}, 0)"
            )
    return problems


async def check_integrity(
    client: Client, admin_token: str, totals: dict[str, int]
) -> tuple[dict[str, Any], list[str]]:
    """`GET /v1/admin/integrity`: consistent, nothing in flight, the wallets' totals ours."""
    answer = await client.request(
        "GET", "/v1/admin/integrity", token=admin_token, route="GET /v1/admin/integrity"
    )
    if answer.status != 200:
        return {}, [f"integrity check answered {answer.status}: {answer.body}"]
    report: dict[str, Any] = answer.body
    problems = []
    if report.get("consistent") is not True:
        problems.append(f"integrity check inconsistent: {report}")
    for currency, total in totals.items():
        figures = report.get("currencies", {}).get(currency, {})
        seen = (figures.get("wallets_total"), figures.get("in_flight"), figures.get("difference"))
        if seen != (str(total), "0", "0"):
            problems.append(
                f"integrity {currency}: wallets_total, in_flight, difference {seen}, "
                f"expected ({total}, 0, 0)"
            )
    return report, problems


async def check_databases(
    shard_dsns: Sequence[str],
    coordinator_dsn: str,
    wallets: Sequence[Wallet],
    records: Sequence[TransferRecord],
    expected: Sequence[int],
) -> list[str]:
    """Straight from the databases: bookings, transfers, holds, balances and ledgers."""
    problems: list[str] = []
    bookings: list[Booking] = []
    local_transfers: dict[str, str] = {}
    ours = {wallet.wallet_id: index for index, wallet in enumerate(wallets)}
    balances: dict[str, tuple[str, int]] = {}
    for shard, dsn in enumerate(shard_dsns):
        connection = await asyncpg.connect(dsn)
        try:
            rows = await connection.fetch(
                "SELECT transfer_id, type, wallet_id, amount FROM journal_transactions "
                "WHERE transfer_id IS NOT NULL"
            )
            bookings += [Booking(shard, r[0], r[1], r[2], r[3]) for r in rows]
            for row in await connection.fetch("SELECT id, status FROM local_transfers"):
                local_transfers[row["id"]] = row["status"]
            for table in ("holds", "pending_credits"):
                left = await connection.fetchval(
                    f"SELECT count(*) FROM {table} WHERE state = 'active'"
                )
                if left:
                    problems.append(f"shard-{shard}: {left} active rows left in {table}")
            for row in await connection.fetch(
                "SELECT w.id, w.currency, w.balance, w.frozen, w.incoming,"
                " (SELECT coalesce(sum(e.amount), 0) FROM journal_entries AS e"
                "  WHERE e.account = w.id) AS ledger "
                "FROM wallets AS w"
            ):
                balances[row["id"]] = (row["currency"], row["balance"])
                if row["balance"] != row["ledger"]:
                    problems.append(
                        f"shard-{shard}: wallet {row['id']} balance {row['balance']} but its "
                        f"ledger sums to {row['ledger']}"
                    )
                if row["frozen"] or row["incoming"]:
                    problems.append(
                        f"shard-{shard}: wallet {row['id']} still frozen {row['frozen']}, "
                        f"incoming {row['incoming']}"
                    )
        finally:
            await connection.close()
    connection = await asyncpg.connect(coordinator_dsn)
    try:
        sagas = {
            r["id"]: r["status"] for r in await connection.fetch("SELECT id, status FROM transfers")
        }
    finally:
        await connection.close()

    problems += _check_transfers(records, sagas, local_transfers)
    problems += _check_bookings(records, wallets, bookings)
    for wallet_id, index in ours.items():
        if balances.get(wallet_id, ("", None))[1] != expected[index]:
            problems.append(
                f"wallet {index} ({wallet_id}): balance {balances.get(wallet_id)} in its "
                f"database, {expected[index]} by the record"
            )
    funded: dict[str, int] = defaultdict(int)
    held: dict[str, int] = defaultdict(int)
    for wallet in wallets:
        funded[wallet.plan.currency] += wallet.plan.funds
    for currency, balance in balances.values():
        held[currency] += balance
    if dict(held) != dict(funded):
        problems.append(f"money per currency {dict(held)}, funded {dict(funded)}")
    return problems


def _check_transfers(
    records: Sequence[TransferRecord], sagas: dict[str, str], local_transfers: dict[str, str]
) -> list[str]:
    """Every accepted transfer exists once, as a saga or as a local transfer, in its final
    state; nothing else exists (a retry never started a second transfer)."""
    problems = []
    both = set(sagas) & set(local_transfers)
    if both:
        problems.append(f"transfers both a saga and local: {sorted(both)[:5]}")
    stored = {**sagas, **local_transfers}
    accepted = {r.transfer_id: r for r in records if r.transfer_id is not None}
    if extra := set(stored) - set(accepted):
        problems.append(f"{len(extra)} transfers nobody was told about: {sorted(extra)[:5]}")
    for transfer_id, record in accepted.items():
        status = stored.get(transfer_id)
        final = record.final["status"] if record.final else None
        if status != final:
            problems.append(f"transfer {transfer_id}: stored {status}, answered {final}")
    return problems


def _check_bookings(
    records: Sequence[TransferRecord], wallets: Sequence[Wallet], bookings: Sequence[Booking]
) -> list[str]:
    """A completed transfer: one transfer_out on the source wallet's shard and one
    transfer_in on the destination's, for its amount. Anything else: none."""
    problems = []
    counted = Counter((b.transfer_id, b.type) for b in bookings)
    by_key = {(b.transfer_id, b.type): b for b in bookings}
    if twice := [key for key, n in counted.items() if n > 1]:
        problems.append(f"legs booked more than once: {twice[:5]}")
    expected: set[tuple[str, str]] = set()
    for record in records:
        if record.final is None or record.final["status"] != "completed":
            continue
        assert record.transfer_id is not None
        legs = {
            "transfer_out": wallets[record.planned.source],
            "transfer_in": wallets[record.planned.destination],
        }
        for leg, wallet in legs.items():
            expected.add((record.transfer_id, leg))
            booking = by_key.get((record.transfer_id, leg))
            if booking is None:
                problems.append(f"transfer {record.transfer_id}: {leg} never booked")
            elif (booking.shard, booking.wallet_id, booking.amount) != (
                wallet.plan.shard,
                wallet.wallet_id,
                record.planned.amount,
            ):
                problems.append(f"transfer {record.transfer_id}: {leg} booked as {booking}")
    if unexpected := set(counted) - expected:
        problems.append(
            f"{len(unexpected)} legs booked for transfers not completed: {sorted(unexpected)[:5]}"
        )
    return problems
