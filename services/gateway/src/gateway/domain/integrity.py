"""The system-wide integrity report out of the shards' ledgers and the coordinator's sagas.

Sign convention (docs/internals.md): an entry's amount is what the account gains, so per currency
`external_net = -(cash_in + cash_out + merchant)` and `wallets_total + in_flight = external_net`,
where `in_flight` is the sum of the clearing accounts of every shard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from wallet_shared.contracts.schemas import (
    ComponentIntegrity,
    CurrencyIntegrity,
    IntegrityReport,
    ShardIntegrity,
)

from gateway.domain.routing import shard_name


@dataclass(frozen=True, slots=True)
class LedgerTotals:
    """One shard's account balances in one currency (sums of journal entries)."""

    wallets_total: int = 0
    clearing: int = 0
    cash_in: int = 0
    cash_out: int = 0
    merchant: int = 0


@dataclass(frozen=True, slots=True)
class ConfirmedLeg:
    """A saga's leg confirmed on a shard: a debit put `amount` into that shard's clearing
    account, a credit took it out."""

    transfer_id: str
    leg: str
    amount: int
    currency: str

    @property
    def clearing_change(self) -> int:
        return self.amount if self.leg == "debit" else -self.amount


@dataclass(frozen=True, slots=True)
class ShardIntegrityPart:
    """What one shard reports about its own ledger; `clearing_legs`, the confirmed legs of the
    cut's sagas, read in the same snapshot as its totals."""

    shard: int
    currencies: Mapping[str, LedgerTotals]
    problems: Sequence[str] = ()
    active_hold_transfer_ids: frozenset[str] = field(default_factory=frozenset)
    pending_credit_transfer_ids: frozenset[str] = field(default_factory=frozenset)
    clearing_legs: Sequence[ConfirmedLeg] = ()

    @property
    def active_leg_transfer_ids(self) -> frozenset[str]:
        """Transfers with a leg still open on this shard."""
        return self.active_hold_transfer_ids | self.pending_credit_transfer_ids


@dataclass(frozen=True, slots=True)
class SagaFacts:
    """The coordinator's record of a saga, as a confirmed leg is judged against it."""

    status: str
    phase: str
    amount: int
    currency: str
    source_shard: int | None
    destination_shard: int | None


@dataclass(frozen=True, slots=True)
class ClearingCut:
    """The coordinator's side of one consistent cut (read after every shard's): per shard and
    currency, what the completed sagas outside the cut left in its clearing account; and the
    cut's sagas that the shards hold confirmed legs of, by id (absent: unknown to it)."""

    settled: Mapping[int, Mapping[str, int]] = field(default_factory=dict)
    sagas: Mapping[str, SagaFacts] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CoordinatorIntegrityPart:
    """What the coordinator reports about its sagas."""

    pending_transfers: int
    stuck_transfer_ids: Sequence[str] = ()
    """Sagas still not final past their deadline plus a grace period."""
    final_with_active_legs: Sequence[str] = ()
    """Of the transfer ids with an open leg on some shard, those already final."""
    cut: ClearingCut | None = None
    """None when the coordinator answered without a cut: clearing is then not judged."""


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

    `shards` lists the wallet shards only (API.md); a final transfer whose leg is still open, and
    a clearing account that the sagas do not account for (`clearing_problems`), are problems of
    the shard that holds them. What only the coordinator can tell (sagas stuck past their
    deadline plus a grace period) goes under `coordinator`.
    """
    currencies = _currency_totals(shards)
    final = frozenset(coordinator.final_with_active_legs)
    shard_entries = [_shard_entry(part, final, coordinator.cut) for part in shards]
    coordinator_problems = [
        f"transfer {transfer_id} is not final past its deadline"
        for transfer_id in coordinator.stuck_transfer_ids
    ]
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


def _shard_entry(
    part: ShardIntegrityPart, final_transfer_ids: frozenset[str], cut: ClearingCut | None
) -> ShardIntegrity:
    problems = list(part.problems)
    if cut is not None:
        problems += clearing_problems(part, cut)
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


def clearing_problems(part: ShardIntegrityPart, cut: ClearingCut) -> list[str]:
    """What one shard's clearing account holds against what the sagas say it must hold.

    Every saga outside the cut was final before any shard was read, so a completed one left its
    amount in its source shard's clearing and took it out of its destination shard's: `settled`.
    The cut's sagas are counted leg by leg, as the shard confirmed them in the snapshot of its
    totals. So, exactly and whatever runs meanwhile: clearing = settled + the cut's legs here.
    Each of those legs must also belong to a saga the coordinator decided to confirm, of the
    same amount and currency, with that wallet on this shard.
    """
    problems: list[str] = []
    in_cut: dict[str, int] = {}
    for leg in part.clearing_legs:
        in_cut[leg.currency] = in_cut.get(leg.currency, 0) + leg.clearing_change
        if flaw := _leg_flaw(leg, part.shard, cut.sagas.get(leg.transfer_id)):
            problems.append(
                f"transfer {leg.transfer_id}: {leg.leg} leg of {leg.amount} {leg.currency} "
                f"confirmed here, but {flaw}"
            )
    settled = cut.settled.get(part.shard, {})
    for currency in sorted({*part.currencies, *settled, *in_cut}):
        totals = part.currencies.get(currency)
        clearing = 0 if totals is None else totals.clearing
        expected = settled.get(currency, 0) + in_cut.get(currency, 0)
        if clearing != expected:
            problems.append(
                f"clearing account holds {clearing} {currency}, but the transfers through this "
                f"shard account for {expected} ({settled.get(currency, 0)} by those completed "
                f"before the check, {in_cut.get(currency, 0)} by the confirmed legs of recent "
                f"and pending ones): difference {clearing - expected}"
            )
    return problems


def _leg_flaw(leg: ConfirmedLeg, shard: int, saga: SagaFacts | None) -> str | None:
    if saga is None:
        return "the coordinator has no such transfer"
    if (saga.amount, saga.currency) != (leg.amount, leg.currency):
        return f"the transfer is of {saga.amount} {saga.currency}"
    owner = saga.source_shard if leg.leg == "debit" else saga.destination_shard
    if owner != shard:
        where = "no shard" if owner is None else shard_name(owner)
        return f"the transfer's {leg.leg} wallet is on {where}"
    if saga.status == "cancelled":
        return "the transfer was cancelled"
    if saga.phase in ("trying", "cancelling"):
        # A shard confirms a leg only once the coordinator has recorded its decision to.
        return "the coordinator never decided to confirm it"
    return None
