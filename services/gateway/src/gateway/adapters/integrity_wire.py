"""The internal JSON of the integrity check (shards' and coordinator's
`POST /internal/integrity`), read into the gateway's domain values.

Shard, asked with `{"recent_from": "trf_<12 hex>", "transfer_ids": [...]}` (the cut):
`{"currencies": {"USD": {"wallets_total", "clearing", "cash_in", "cash_out", "merchant"}},
"problems": [str], "active_hold_transfer_ids": [str], "pending_credit_transfer_ids": [str],
"clearing_legs": [{"transfer_id", "leg": "debit"|"credit", "amount", "currency"}]}`,
amounts as signed digit strings (or JSON integers).
Coordinator, asked with `{"active_leg_transfer_ids": [...]}` (every transfer with an open leg),
and on the second call also `{"cut": {...}, "transfer_ids": [...]}`:
`{"pending": int, "stuck": [str], "final_with_active_legs": [str], "in_flight": {ccy: amount},
"cut": {"recent_from", "pending_before": [str]}, "settled": {shard: {ccy: amount}},
"sagas": [{"id", "status", "phase", "amount", "currency", "source_shard",
"destination_shard"}], "late_pending": [str]}` where `final_with_active_legs` are those of the
asked ids whose transfer is already final."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, NonNegativeInt, ValidationError

from gateway.adapters.backends import BackendContractError
from gateway.domain.integrity import (
    ClearingCut,
    ConfirmedLeg,
    CoordinatorIntegrityPart,
    LedgerTotals,
    SagaFacts,
    ShardIntegrityPart,
)

_SIGNED_DIGITS = re.compile(r"^-?[0-9]{1,40}$")


def _signed_amount(raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and _SIGNED_DIGITS.fullmatch(raw):
        return int(raw)
    raise ValueError("must be a signed integer amount")


SignedAmount = Annotated[int, BeforeValidator(_signed_amount)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _LedgerTotalsWire(_Wire):
    wallets_total: SignedAmount = 0
    clearing: SignedAmount = 0
    cash_in: SignedAmount = 0
    cash_out: SignedAmount = 0
    merchant: SignedAmount = 0


class _ClearingLegWire(_Wire):
    transfer_id: str
    leg: Literal["debit", "credit"]
    amount: SignedAmount
    currency: str


class _ShardIntegrityWire(_Wire):
    currencies: dict[str, _LedgerTotalsWire]
    problems: list[str] = Field(default_factory=list)
    active_hold_transfer_ids: list[str] = Field(default_factory=list)
    pending_credit_transfer_ids: list[str] = Field(default_factory=list)
    clearing_legs: list[_ClearingLegWire] = Field(default_factory=list)


class _CutWire(_Wire):
    recent_from: str
    pending_before: list[str] = Field(default_factory=list)


class _SagaFactsWire(_Wire):
    id: str
    status: str
    phase: str
    amount: SignedAmount
    currency: str
    source_shard: int | None = None
    destination_shard: int | None = None


class _CoordinatorIntegrityWire(_Wire):
    pending: NonNegativeInt
    stuck: list[str] = Field(default_factory=list)
    final_with_active_legs: list[str] = Field(default_factory=list)
    cut: _CutWire | None = None
    settled: dict[int, dict[str, SignedAmount]] = Field(default_factory=dict)
    sagas: list[_SagaFactsWire] = Field(default_factory=list)
    late_pending: list[str] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Cut:
    """The cut the coordinator opened: what the shards are asked to list legs for."""

    recent_from: str
    pending_before: tuple[str, ...]


def shard_part(shard: int, body: Any) -> ShardIntegrityPart:
    """One shard's integrity reply as a domain value."""
    try:
        wire = _ShardIntegrityWire.model_validate(body)
    except ValidationError as error:
        raise BackendContractError("A shard answered the integrity check unexpectedly.") from error
    return ShardIntegrityPart(
        shard=shard,
        currencies={
            currency: LedgerTotals(**totals.model_dump())
            for currency, totals in wire.currencies.items()
        },
        problems=tuple(wire.problems),
        active_hold_transfer_ids=frozenset(wire.active_hold_transfer_ids),
        pending_credit_transfer_ids=frozenset(wire.pending_credit_transfer_ids),
        clearing_legs=tuple(
            ConfirmedLeg(leg.transfer_id, leg.leg, leg.amount, leg.currency)
            for leg in wire.clearing_legs
        ),
    )


def shard_request(cut: Cut | None, transfer_ids: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A shard's integrity request: list the confirmed legs of the cut's sagas."""
    if cut is None:
        return {"transfer_ids": sorted(transfer_ids)}
    return {
        "recent_from": cut.recent_from,
        "transfer_ids": sorted({*cut.pending_before, *transfer_ids}),
    }


def coordinator_request(
    transfer_ids: list[str], cut: Cut | None = None, leg_transfer_ids: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The coordinator's integrity request: the transfers with an open leg somewhere; with the
    cut, the sagas the shards hold confirmed legs of."""
    request: dict[str, Any] = {"active_leg_transfer_ids": transfer_ids}
    if cut is not None:
        request["cut"] = {
            "recent_from": cut.recent_from,
            "pending_before": list(cut.pending_before),
        }
        request["transfer_ids"] = sorted(leg_transfer_ids)
    return request


def _coordinator_wire(body: Any) -> _CoordinatorIntegrityWire:
    try:
        return _CoordinatorIntegrityWire.model_validate(body)
    except ValidationError as error:
        raise BackendContractError(
            "The coordinator answered the integrity check unexpectedly."
        ) from error


def opened_cut(body: Any) -> Cut | None:
    """The cut in the coordinator's first answer (None from a coordinator that opens none)."""
    wire = _coordinator_wire(body)
    if wire.cut is None:
        return None
    return Cut(wire.cut.recent_from, tuple(wire.cut.pending_before))


def late_pending(body: Any) -> list[str]:
    """Pending sagas that the cut should have listed and did not: the cut cannot be judged."""
    return list(_coordinator_wire(body).late_pending)


def coordinator_part(
    body: Any, *, asked: frozenset[str], with_cut: bool = False
) -> CoordinatorIntegrityPart:
    """The coordinator's integrity reply as a domain value (final ids limited to those asked);
    `with_cut` when it answered a request that carried the cut."""
    wire = _coordinator_wire(body)
    cut = None
    if with_cut and wire.cut is not None:
        cut = ClearingCut(
            settled=wire.settled,
            sagas={
                saga.id: SagaFacts(
                    status=saga.status,
                    phase=saga.phase,
                    amount=saga.amount,
                    currency=saga.currency,
                    source_shard=saga.source_shard,
                    destination_shard=saga.destination_shard,
                )
                for saga in wire.sagas
            },
        )
    return CoordinatorIntegrityPart(
        pending_transfers=wire.pending,
        stuck_transfer_ids=tuple(wire.stuck),
        final_with_active_legs=tuple(i for i in wire.final_with_active_legs if i in asked),
        cut=cut,
    )
