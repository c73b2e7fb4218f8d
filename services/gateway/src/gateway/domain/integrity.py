"""The system-wide integrity report out of the shards' ledgers and the coordinator's sagas.

Sign convention (docs/internals.md): an entry's amount is what the account gains, so per currency
`external_net = -(cash_in + cash_out + merchant)` and `wallets_total + in_flight = external_net`,
where `in_flight` is the sum of the clearing accounts of every shard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from wallet_shared.schemas import (
    ComponentIntegrity,
    CurrencyIntegrity,
    IntegrityReport,
    ShardIntegrity,
)

from gateway.routing import shard_name


@dataclass(frozen=True, slots=True)
class LedgerTotals:
    """One shard's account balances in one currency (sums of journal entries)."""

    wallets_total: int = 0
    clearing: int = 0
    cash_in: int = 0
    cash_out: int = 0
    merchant: int = 0


@dataclass(frozen=True, slots=True)
class ShardIntegrityPart:
    """What one shard reports about its own ledger."""

    shard: int
    currencies: Mapping[str, LedgerTotals]
    problems: Sequence[str] = ()
    active_hold_transfer_ids: frozenset[str] = field(default_factory=frozenset)
    pending_credit_transfer_ids: frozenset[str] = field(default_factory=frozenset)

    @property
    def active_leg_transfer_ids(self) -> frozenset[str]:
        """Transfers with a leg still open on this shard."""
        return self.active_hold_transfer_ids | self.pending_credit_transfer_ids


@dataclass(frozen=True, slots=True)
class CoordinatorIntegrityPart:
    """What the coordinator reports about its sagas."""

    pending_transfers: int
    stuck_transfer_ids: Sequence[str] = ()
    """Sagas still not final past their deadline."""
    final_with_active_legs: Sequence[str] = ()
    """Of the transfer ids with an open leg on some shard, those already final."""


def transfers_with_active_legs(shards: Sequence[ShardIntegrityPart]) -> list[str]:
    """Every transfer with an open hold or pending credit on any shard, sorted."""
    ids: set[str] = set()
    for part in shards:
        ids |= part.active_leg_transfer_ids
    return sorted(ids)


def build_report(
    shards: Sequence[ShardIntegrityPart],
    coordinator: CoordinatorIntegrityPart,
    *,
    checked_at: datetime,
) -> IntegrityReport:
    """Per-currency totals, per-shard problems and the coordinator's, and one verdict.

    `shards` lists the wallet shards only (API.md); a final transfer whose leg is still open is
    a problem of the shard that holds the leg. What only the coordinator can tell (sagas stuck
    past their deadline, money in clearing while nothing is in flight) goes under `coordinator`.
    """
    currencies = _currency_totals(shards)
    final = frozenset(coordinator.final_with_active_legs)
    shard_entries = [_shard_entry(part, final) for part in shards]
    coordinator_problems = _coordinator_problems(coordinator, currencies)
    consistent = (
        all(c.difference == 0 for c in currencies.values())
        and all(entry.consistent for entry in shard_entries)
        and not coordinator_problems
    )
    return IntegrityReport(
        consistent=consistent,
        checked_at=checked_at,
        currencies=currencies,
        shards=shard_entries,
        coordinator=ComponentIntegrity(
            consistent=not coordinator_problems, problems=coordinator_problems
        ),
    )


def _shard_entry(part: ShardIntegrityPart, final_transfer_ids: frozenset[str]) -> ShardIntegrity:
    problems = list(part.problems)
    problems += [
        f"transfer {transfer_id} is final but its {kind} is still open here"
        for kind, open_ids in (
            ("hold", part.active_hold_transfer_ids),
            ("pending credit", part.pending_credit_transfer_ids),
        )
        for transfer_id in sorted(open_ids & final_transfer_ids)
    ]
    return ShardIntegrity(shard=shard_name(part.shard), consistent=not problems, problems=problems)


def _currency_totals(shards: Sequence[ShardIntegrityPart]) -> dict[str, CurrencyIntegrity]:
    sums: dict[str, LedgerTotals] = {}
    for part in shards:
        for currency, totals in part.currencies.items():
            seen = sums.get(currency, LedgerTotals())
            sums[currency] = LedgerTotals(
                wallets_total=seen.wallets_total + totals.wallets_total,
                clearing=seen.clearing + totals.clearing,
                cash_in=seen.cash_in + totals.cash_in,
                cash_out=seen.cash_out + totals.cash_out,
                merchant=seen.merchant + totals.merchant,
            )
    return {currency: _currency_line(sums[currency]) for currency in sorted(sums)}


def _currency_line(totals: LedgerTotals) -> CurrencyIntegrity:
    external_net = -(totals.cash_in + totals.cash_out + totals.merchant)
    return CurrencyIntegrity(
        wallets_total=totals.wallets_total,
        in_flight=totals.clearing,
        external_net=external_net,
        difference=external_net - totals.wallets_total - totals.clearing,
    )


def _coordinator_problems(
    coordinator: CoordinatorIntegrityPart, currencies: Mapping[str, CurrencyIntegrity]
) -> list[str]:
    problems = [
        f"transfer {transfer_id} is not final past its deadline"
        for transfer_id in coordinator.stuck_transfer_ids
    ]
    if coordinator.pending_transfers == 0:
        # With no saga in flight, money can only sit in clearing if a transfer was booked on
        # one side only.
        problems += [
            f"clearing accounts hold {line.in_flight} {currency} with no transfer in flight"
            for currency, line in currencies.items()
            if line.in_flight != 0
        ]
    return problems
