"""The internal bodies of the integrity check (shards' and coordinator's
`POST /internal/integrity`, shaped by `wallet_shared.contracts.internal`) to and from the
gateway's domain values.

A shard is asked for the confirmed legs of the cut's sagas (`ShardIntegrityRequest`) and answers
its totals, open legs and problems (`ShardIntegrityReport`). The coordinator is asked first with
every transfer that has an open leg somewhere (it opens the cut), then with the cut and the sagas
the shards hold confirmed legs of (`CoordinatorIntegrityRequest`); it answers
`CoordinatorIntegrityReport`, whose `final_with_active_legs` are those of the asked ids whose
transfer is already final.
"""

from __future__ import annotations

from wallet_shared.contracts.internal import (
    CoordinatorIntegrityReport,
    CoordinatorIntegrityRequest,
    IntegrityCut,
    ShardIntegrityReport,
    ShardIntegrityRequest,
)

from gateway.domain.integrity import (
    ClearingCut,
    ConfirmedLeg,
    CoordinatorIntegrityPart,
    LedgerTotals,
    SagaFacts,
    ShardIntegrityPart,
)

SHARD_REPLY_UNEXPECTED = "A shard answered the integrity check unexpectedly."
COORDINATOR_REPLY_UNEXPECTED = "The coordinator answered the integrity check unexpectedly."


def shard_part(shard: int, report: ShardIntegrityReport) -> ShardIntegrityPart:
    """One shard's integrity reply as a domain value."""
    return ShardIntegrityPart(
        shard=shard,
        currencies={
            currency: LedgerTotals(**totals.model_dump())
            for currency, totals in report.currencies.items()
        },
        problems=tuple(report.problems),
        active_hold_transfer_ids=frozenset(report.active_hold_transfer_ids),
        pending_credit_transfer_ids=frozenset(report.pending_credit_transfer_ids),
        clearing_legs=tuple(
            ConfirmedLeg(leg.transfer_id, leg.leg, leg.amount, leg.currency)
            for leg in report.clearing_legs
        ),
    )


def shard_request(
    cut: IntegrityCut | None, transfer_ids: frozenset[str] = frozenset()
) -> ShardIntegrityRequest:
    """A shard's integrity request: list the confirmed legs of the cut's sagas."""
    if cut is None:
        return ShardIntegrityRequest(transfer_ids=sorted(transfer_ids))
    return ShardIntegrityRequest(
        recent_from=cut.recent_from,
        transfer_ids=sorted({*cut.pending_before, *transfer_ids}),
    )


def coordinator_request(
    transfer_ids: list[str],
    cut: IntegrityCut | None = None,
    leg_transfer_ids: frozenset[str] = frozenset(),
) -> CoordinatorIntegrityRequest:
    """The coordinator's integrity request: the transfers with an open leg somewhere; with the
    cut, the sagas the shards hold confirmed legs of."""
    if cut is None:
        return CoordinatorIntegrityRequest(active_leg_transfer_ids=transfer_ids)
    return CoordinatorIntegrityRequest(
        active_leg_transfer_ids=transfer_ids, cut=cut, transfer_ids=sorted(leg_transfer_ids)
    )


def coordinator_part(
    report: CoordinatorIntegrityReport, *, asked: frozenset[str], with_cut: bool = False
) -> CoordinatorIntegrityPart:
    """The coordinator's integrity reply as a domain value (final ids limited to those asked);
    `with_cut` when it answered a request that carried the cut."""
    cut = None
    if with_cut and report.cut is not None:
        cut = ClearingCut(
            settled=report.settled,
            sagas={
                saga.id: SagaFacts(
                    status=saga.status,
                    phase=saga.phase,
                    amount=saga.amount,
                    currency=saga.currency,
                    source_shard=saga.source_shard,
                    destination_shard=saga.destination_shard,
                )
                for saga in report.sagas
            },
        )
    return CoordinatorIntegrityPart(
        pending_transfers=report.pending,
        stuck_transfer_ids=tuple(report.stuck),
        final_with_active_legs=tuple(i for i in report.final_with_active_legs if i in asked),
        cut=cut,
    )
