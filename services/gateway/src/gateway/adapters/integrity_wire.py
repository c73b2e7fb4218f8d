"""The internal JSON of the integrity check (shards' `GET /internal/integrity`, coordinator's
`POST /internal/integrity`), read into the gateway's domain values.

Shard: `{"currencies": {"USD": {"wallets_total", "clearing", "cash_in", "cash_out", "merchant"}},
"problems": [str], "active_hold_transfer_ids": [str], "pending_credit_transfer_ids": [str]}`,
amounts as signed digit strings (or JSON integers).
Coordinator, asked with `{"active_leg_transfer_ids": [...]}` (every transfer with an open leg):
`{"pending": int, "stuck": [str], "final_with_active_legs": [str], "in_flight": {ccy: amount}}`
where `final_with_active_legs` are those of the asked ids whose transfer is already final.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, NonNegativeInt, ValidationError

from gateway.adapters.backends import BackendContractError
from gateway.domain.integrity import CoordinatorIntegrityPart, LedgerTotals, ShardIntegrityPart

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


class _ShardIntegrityWire(_Wire):
    currencies: dict[str, _LedgerTotalsWire]
    problems: list[str] = Field(default_factory=list)
    active_hold_transfer_ids: list[str] = Field(default_factory=list)
    pending_credit_transfer_ids: list[str] = Field(default_factory=list)


class _CoordinatorIntegrityWire(_Wire):
    pending: NonNegativeInt
    stuck: list[str] = Field(default_factory=list)
    final_with_active_legs: list[str] = Field(default_factory=list)


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
    )


def coordinator_request(transfer_ids: list[str]) -> dict[str, list[str]]:
    """The coordinator's integrity request: the transfers with an open leg somewhere."""
    return {"active_leg_transfer_ids": transfer_ids}


def coordinator_part(body: Any, *, asked: frozenset[str]) -> CoordinatorIntegrityPart:
    """The coordinator's integrity reply as a domain value (final ids limited to those asked)."""
    try:
        wire = _CoordinatorIntegrityWire.model_validate(body)
    except ValidationError as error:
        raise BackendContractError(
            "The coordinator answered the integrity check unexpectedly."
        ) from error
    return CoordinatorIntegrityPart(
        pending_transfers=wire.pending,
        stuck_transfer_ids=tuple(wire.stuck),
        final_with_active_legs=tuple(i for i in wire.final_with_active_legs if i in asked),
    )
