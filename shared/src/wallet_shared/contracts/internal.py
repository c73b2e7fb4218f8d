"""The bodies of the internal HTTP routes (docs/internals.md) that have no public twin: what the
gateway sends the shards and the coordinator, and what it reads back from them.

The receiving route declares the model as its body or response type and the gateway builds or
parses the same model, so a field renamed on one side cannot pass unnoticed on the other. Bodies
with a public twin (a new wallet, a deposit, a purchase, spending limits, a webhook, a rebuild)
are the public request models of `schemas`, `admin_schemas` and `ledger_admin`, declared once
there.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    NonNegativeInt,
    PlainSerializer,
    WithJsonSchema,
)

from wallet_shared.contracts.messages import Leg
from wallet_shared.contracts.money import AmountIn, Currency
from wallet_shared.contracts.rules import MAX_KEY_LENGTH
from wallet_shared.contracts.schemas import EntityId, RequestModel, Transfer

MAX_LOOKUP: Final = 10_000
"""Transfers one `POST /internal/transfers/lookup` may name (the gateway asks in chunks of this
size)."""
MAX_CLAIMS: Final = 256
"""Idempotency-Key claims per `POST /internal/idempotency-claims`."""
MAX_AUDIT_BATCH: Final = 1000
"""Audit records per `POST /internal/audit-log`."""

_SIGNED_DIGITS = re.compile(r"^-?[0-9]{1,40}$")


def _signed_amount(raw: Any) -> int:
    # The reader of a ledger total accepts what MoneyOut writes (a string of digits) or a JSON
    # integer, never a float or a boolean: an amount is never guessed.
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and _SIGNED_DIGITS.fullmatch(raw):
        return int(raw)
    raise ValueError("must be a signed integer amount")


SignedAmount = Annotated[
    int,
    BeforeValidator(_signed_amount),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": "^-?[0-9]+$", "description": "Minor units."}),
]
"""A sum of ledger entries (may be negative): written as a string of digits like `MoneyOut`,
read back strictly."""

TransferIdFloor = Annotated[str, Field(pattern=r"^trf_[0-9a-f]{12}$")]
"""The least id of the sagas made from an instant on (`ids.saga_transfer_id_floor`)."""


# Transfers: the same body starts a saga (coordinator) or a local transfer (shard).


class StartTransferRequest(RequestModel):
    """`POST /internal/transfers` of the coordinator and of a shard."""

    source_wallet_id: EntityId
    destination_wallet_id: EntityId
    amount: AmountIn
    currency: Currency
    description: Annotated[str, Field(max_length=500)] | None = None
    initiator: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="Who asked for the transfer; the caller when absent."
    )


class TransferLookup(RequestModel):
    """`POST /internal/transfers/lookup` (coordinator): the transfers among these ids."""

    transfer_ids: list[EntityId] = Field(max_length=MAX_LOOKUP)


class TransferLookupAnswer(BaseModel):
    items: list[Transfer]


# Idempotency-Key claims (coordinator).


class KeyClaimRequest(BaseModel):
    """An Idempotency-Key to claim for a request booked elsewhere."""

    caller: str = Field(min_length=1, max_length=64)
    key: str = Field(min_length=1, max_length=MAX_KEY_LENGTH)
    fingerprint: str = Field(min_length=1, max_length=64)


class KeyClaimsRequest(BaseModel):
    """`POST /internal/idempotency-claims`: claims of concurrent requests, sent together (the
    gateway coalesces them)."""

    claims: list[KeyClaimRequest] = Field(min_length=1, max_length=MAX_CLAIMS)


class KeyClaimsAnswer(BaseModel):
    """Per claim, in order: `claimed` (the key is this request's) or `reused` (it served
    another request)."""

    results: list[Literal["claimed", "reused"]]


# The integrity check (docs/internals.md, "Integrity"): one consistent cut over three reads.


class ShardIntegrityRequest(RequestModel):
    """`POST /internal/integrity` of a shard: list the confirmed legs of the cut's sagas, those
    with ids from `recent_from` on and those named."""

    recent_from: TransferIdFloor | None = None
    transfer_ids: list[EntityId] = Field(default_factory=list)


class CurrencyTotals(BaseModel):
    """Sums of entries per account kind (what each kind gained; may be negative)."""

    wallets_total: SignedAmount = 0
    clearing: SignedAmount = 0
    cash_in: SignedAmount = 0
    cash_out: SignedAmount = 0
    merchant: SignedAmount = 0


class ClearingLeg(BaseModel):
    """A confirmed leg of a saga: a debit put `amount` into this shard's clearing account, a
    credit took it out."""

    transfer_id: str
    leg: Leg
    amount: SignedAmount
    currency: str


class ShardIntegrityReport(BaseModel):
    """A shard's part of the integrity report (`GET` and `POST /internal/integrity`)."""

    shard: int
    consistent: bool
    currencies: dict[str, CurrencyTotals]
    active_hold_transfer_ids: list[str]
    pending_credit_transfer_ids: list[str]
    problems: list[str]
    clearing_legs: list[ClearingLeg] = Field(
        default_factory=list,
        description="Confirmed legs of the sagas the integrity check's cut reads one by one, "
        "from the same snapshot as the totals.",
    )


class IntegrityCut(RequestModel):
    recent_from: TransferIdFloor = Field(
        description="Sagas with ids from this one on are read one by one."
    )
    pending_before: list[EntityId] = Field(
        default_factory=list, description="Older sagas pending when the cut was opened."
    )


class CoordinatorIntegrityRequest(RequestModel):
    """`POST /internal/integrity` of the coordinator."""

    active_leg_transfer_ids: list[EntityId] = Field(
        default_factory=list,
        description="Transfers for which shards still hold a hold or a pending credit.",
    )
    cut: IntegrityCut | None = Field(
        default=None,
        description="The cut opened by a first call (absent: open one). With it, the answer "
        "has what completed sagas left in each shard's clearing (`settled`) and the states "
        "of the sagas named in `transfer_ids` and of the cut's pending ones (`sagas`).",
    )
    transfer_ids: list[EntityId] = Field(
        default_factory=list, description="Sagas the shards hold confirmed legs of, in the cut."
    )


class SagaFacts(BaseModel):
    """What the integrity check compares a shard's confirmed leg with."""

    id: str
    status: str
    phase: str
    amount: SignedAmount
    currency: str
    source_shard: int | None
    destination_shard: int | None


class CoordinatorIntegrityReport(BaseModel):
    """The coordinator's part of the integrity report (`GET` and `POST /internal/integrity`)."""

    pending: NonNegativeInt
    stuck: list[str]
    final_with_active_legs: list[str]
    in_flight: dict[str, SignedAmount]
    cut: IntegrityCut | None = Field(
        default=None, description="The cut this answer was read in (absent: none was opened)."
    )
    settled: dict[int, dict[str, SignedAmount]] = Field(
        default_factory=dict,
        description="Per shard (its number) and currency, what the completed sagas outside "
        "the cut left in its clearing account.",
    )
    sagas: list[SagaFacts] = Field(default_factory=list)
    late_pending: list[str] = Field(
        default_factory=list,
        description="Pending sagas the cut should have listed but did not (its margin was too "
        "short for them): the check cannot judge this cut.",
    )


# Audit records of the gateway (coordinator).


class GatewayAuditRecord(BaseModel):
    """An action the gateway saw with no transaction of its own to record it in."""

    action: str = Field(max_length=100)
    actor: str | None = Field(default=None, max_length=200)
    role: str | None = Field(default=None, max_length=20)
    target: str | None = Field(default=None, max_length=500)
    trace_id: str | None = Field(default=None, max_length=200)
    client_address: str | None = Field(default=None, max_length=100)
    user_agent: str | None = Field(default=None, max_length=500)


class GatewayAuditBatch(BaseModel):
    """`POST /internal/audit-log`."""

    records: list[GatewayAuditRecord] = Field(max_length=MAX_AUDIT_BATCH)
