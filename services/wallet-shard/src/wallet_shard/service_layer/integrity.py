"""This shard's part of the integrity report: totals per currency and what does not add up."""

from __future__ import annotations

from wallet_shared.contracts.internal import ClearingLeg, CurrencyTotals, ShardIntegrityReport
from wallet_shared.contracts.messages import Leg

from wallet_shard.adapters.integrity_queries import IntegrityQueries
from wallet_shard.domain.journal import SystemAccount
from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.unit_of_work import UnitOfWork


async def shard_integrity(
    uow: UnitOfWork,
    shard: ShardContext,
    *,
    recent_from: str | None = None,
    transfer_ids: list[str] | None = None,
) -> ShardIntegrityReport:
    """Run every check on one snapshot of the ledger; with a cut (`recent_from`, the sagas it
    names), also list the confirmed legs of its sagas, in the same snapshot."""
    async with uow.snapshot() as checks:
        totals = await checks.totals()
        problems = await _problems(checks)
        holds = await checks.active_transfer_ids(Leg.DEBIT)
        credits = await checks.active_transfer_ids(Leg.CREDIT)
        legs = (
            await checks.clearing_legs(recent_from, transfer_ids or [])
            if recent_from is not None or transfer_ids
            else []
        )
    problems += [
        f"{currency}: entries of all accounts sum to {sum(kinds.values())}, not 0"
        for currency, kinds in sorted(totals.items())
        if sum(kinds.values()) != 0
    ]
    return ShardIntegrityReport(
        shard=shard.shard_id,
        consistent=not problems,
        currencies={currency: _currency_totals(kinds) for currency, kinds in totals.items()},
        active_hold_transfer_ids=holds,
        pending_credit_transfer_ids=credits,
        problems=problems,
        clearing_legs=[
            ClearingLeg(transfer_id=transfer_id, leg=leg, amount=amount, currency=currency)
            for transfer_id, leg, amount, currency in legs
        ],
    )


def _currency_totals(kinds: dict[str, int]) -> CurrencyTotals:
    return CurrencyTotals(
        wallets_total=kinds.get("wallet", 0),
        clearing=kinds.get(SystemAccount.CLEARING.value, 0),
        cash_in=kinds.get(SystemAccount.CASH_IN.value, 0),
        cash_out=kinds.get(SystemAccount.CASH_OUT.value, 0),
        merchant=kinds.get(SystemAccount.MERCHANT.value, 0),
    )


async def _problems(checks: IntegrityQueries) -> list[str]:
    problems: list[str] = []
    for wallet in await checks.wallet_mismatches():
        if wallet.balance != wallet.entries_total:
            problems.append(
                f"wallet {wallet.wallet_id}: balance {wallet.balance} but its entries sum to "
                f"{wallet.entries_total}"
            )
        if wallet.frozen != wallet.holds_total:
            problems.append(
                f"wallet {wallet.wallet_id}: frozen {wallet.frozen} but its active holds sum to "
                f"{wallet.holds_total}"
            )
        if wallet.incoming != wallet.pending_credits_total:
            problems.append(
                f"wallet {wallet.wallet_id}: incoming {wallet.incoming} but its pending credits "
                f"sum to {wallet.pending_credits_total}"
            )
        if wallet.balance < wallet.frozen:
            problems.append(
                f"wallet {wallet.wallet_id}: available balance "
                f"{wallet.balance - wallet.frozen} is negative"
            )
    for account, currency in await checks.stray_entries():
        problems.append(f"entries in {currency} on {account}: no such account in that currency")
    for bad in await checks.bad_transactions():
        reason = "entries do not sum to zero" if bad.unbalanced else f"{bad.entries} entries"
        problems.append(f"journal transaction {bad.transaction_id}: {reason}")
    problems += await _history_problems(checks)
    for transfer_id, kind, times in await checks.transfers_booked_twice():
        problems.append(f"transfer {transfer_id} booked {times} times as {kind}")
    for currency, clearing, legs in await checks.clearing_mismatches():
        problems.append(
            f"clearing account holds {clearing} {currency} but its confirmed transfer legs "
            f"account for {legs} (difference {clearing - legs})"
        )
    for leg in (Leg.DEBIT, Leg.CREDIT):
        for transfer_id, leg_confirmed in await checks.unmatched_bookings(leg):
            problems.append(
                f"transfer {transfer_id}: {leg.value} leg confirmed but never booked"
                if leg_confirmed
                else f"transfer {transfer_id}: booked without a confirmed {leg.value} leg"
            )
    return problems


async def _history_problems(checks: IntegrityQueries) -> list[str]:
    """Purchases whose row disagrees with their refunds and reversal, and running balances
    (`balance_after`, which balance?at= and statements read) that disagree with the entries."""
    problems = [
        f"purchase {purchase_id} of {amount}: refunded {refunded} on its row, refunds "
        f"{refunds} in the journal (or its reversal disagrees)"
        for purchase_id, amount, refunded, refunds in await checks.purchase_mismatches()
    ]
    problems += [
        f"transaction {transaction_id}: balance_after {balance_after} but the entries up to it "
        f"sum to {running}"
        for transaction_id, balance_after, running in await checks.running_balance_mismatches()
    ]
    return problems
