"""The public JSON shapes of API.md as pydantic models.

The gateway validates requests and documents responses (OpenAPI) with them; the services that own
the data render responses with them; so the contract lives in one place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from wallet_shared.contracts.money import AmountIn, Currency, MoneyOut

WalletStatus = Literal["active", "frozen", "closed"]
TransactionType = Literal[
    "deposit", "withdrawal", "purchase", "refund", "transfer_out", "transfer_in", "reversal"
]
TransferStatus = Literal["pending", "completed", "cancelled"]
Role = Literal["user", "admin", "auditor"]

MAX_METADATA_BYTES = 4096


def _storable_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and a lone surrogate is not UTF-8: refuse both here
    # rather than let the database refuse them with an error that reads as ours.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError("must be valid Unicode text") from error
    return value


def _storable_json(value: Any) -> None:
    if isinstance(value, str):
        _storable_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable_text(key)
            _storable_json(item)
    elif isinstance(value, list):
        for item in value:
            _storable_json(item)


def _small_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    _storable_json(value)
    try:
        size = len(orjson.dumps(value))
    except orjson.JSONEncodeError as error:  # integers beyond 64 bits, for one
        raise ValueError("must be JSON with integers of at most 64 bits") from error
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes of JSON")
    return value


StorableText = Annotated[str, AfterValidator(_storable_text)]
Metadata = Annotated[dict[str, Any] | None, AfterValidator(_small_metadata)]
UserId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
ShortText = Annotated[StorableText, Field(max_length=255)]
EntityId = Annotated[str, Field(min_length=1, max_length=100)]


class RequestModel(BaseModel):
    """Requests: strict about types, silent about unknown fields (clients may be newer)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class CreateWallet(RequestModel):
    currency: Currency
    label: Annotated[StorableText, Field(max_length=100)] | None = None
    user_id: UserId | None = Field(default=None, description="Admin only: the owner.")


class Deposit(RequestModel):
    amount: AmountIn
    reference: ShortText | None = None
    metadata: Metadata = None


class Withdrawal(Deposit):
    pass


class CreatePurchase(RequestModel):
    amount: AmountIn
    order_id: Annotated[StorableText, Field(min_length=1, max_length=255)] = Field(
        description="The shop's order; a wallet pays an order once."
    )
    merchant: ShortText | None = Field(default=None, description="Who sold it (recorded).")


class CreateRefund(RequestModel):
    purchase_id: EntityId = Field(description="The `id` of the purchase transaction to refund.")
    amount: AmountIn


class CreateReversal(RequestModel):
    reason: Annotated[StorableText, Field(min_length=1, max_length=500)] = Field(
        description="Why the transaction is undone (kept for audit)."
    )


class SetLimits(RequestModel):
    daily: AmountIn | None = Field(
        default=None, description="Outgoing money per UTC day; null: the configured default."
    )
    monthly: AmountIn | None = Field(
        default=None, description="Outgoing money per UTC month; null: the configured default."
    )


class CreateTransfer(RequestModel):
    source_wallet_id: EntityId
    destination_wallet_id: EntityId
    amount: AmountIn
    description: Annotated[StorableText, Field(max_length=500)] | None = None


class Wallet(BaseModel):
    id: str
    user_id: str
    currency: str
    label: str | None
    status: WalletStatus
    balance: MoneyOut
    available_balance: MoneyOut
    frozen_balance: MoneyOut
    created_at: datetime
    updated_at: datetime


class Transaction(BaseModel):
    id: str
    wallet_id: str
    type: TransactionType
    amount: MoneyOut
    balance_after: MoneyOut
    reference: str | None
    transfer_id: str | None
    metadata: dict[str, Any] | None
    created_at: datetime


class SpendingLimits(BaseModel):
    wallet_id: str
    daily: MoneyOut | None = Field(description="The limit in force per UTC day; null: none.")
    monthly: MoneyOut | None = Field(description="The limit in force per UTC month; null: none.")
    used_today: MoneyOut
    used_this_month: MoneyOut
    daily_is_default: bool = Field(description="Whether `daily` is the configured default.")
    monthly_is_default: bool = Field(description="Whether `monthly` is the configured default.")


class BalanceAt(BaseModel):
    wallet_id: str
    balance: MoneyOut
    at: datetime


class StatementItem(Transaction):
    change: MoneyOut = Field(description="What the balance gained (negative: lost).")


class StatementTotals(BaseModel):
    count: int
    money_in: MoneyOut
    money_out: MoneyOut
    net: MoneyOut = Field(description="`closing_balance - opening_balance`.")


class Statement(BaseModel):
    wallet_id: str
    currency: str
    since: datetime | None = Field(description="Inclusive; null: from the wallet's first entry.")
    until: datetime = Field(description="Exclusive.")
    opening_balance: MoneyOut = Field(description="The balance just before `since`.")
    items: list[StatementItem] = Field(description="Oldest first.")
    closing_balance: MoneyOut = Field(description="`opening_balance` + the items' changes.")
    totals: StatementTotals


class Transfer(BaseModel):
    id: str
    source_wallet_id: str
    destination_wallet_id: str
    amount: MoneyOut
    currency: str
    description: str | None
    status: TransferStatus
    failure_code: str | None
    created_at: datetime
    updated_at: datetime


class WalletPage(BaseModel):
    items: list[Wallet]
    next_cursor: str | None


class TransactionPage(BaseModel):
    items: list[Transaction]
    next_cursor: str | None


class TransferPage(BaseModel):
    items: list[Transfer]
    next_cursor: str | None


class CurrencyIntegrity(BaseModel):
    wallets_total: MoneyOut
    in_flight: MoneyOut
    external_net: MoneyOut
    difference: MoneyOut


class ShardIntegrity(BaseModel):
    shard: str
    consistent: bool
    problems: list[str]


class ComponentIntegrity(BaseModel):
    """Checks that belong to no single shard (the coordinator's sagas)."""

    consistent: bool
    problems: list[str]


class IntegrityReport(BaseModel):
    consistent: bool
    checked_at: datetime
    currencies: dict[str, CurrencyIntegrity]
    shards: list[ShardIntegrity]
    coordinator: ComponentIntegrity


class DeadLetterFields(BaseModel):
    """A message a consumer could not handle, as the admin API shows it."""

    service: str = Field(description="The service whose consumer gave up on the message.")
    topic: str = Field(description="Where the message came from.")
    partition: int
    offset: int
    key: str | None = Field(description="The record's key as text (invalid UTF-8 replaced).")
    error: str = Field(description="Why it failed (the last error, cut to 2000 characters).")
    attempts: int = Field(description="How often it was tried (1 for an undecodable message).")
    headers: dict[str, str]
    value: str | None = Field(
        description="The original bytes: UTF-8 text, or base64 when `value_encoding` says so."
    )
    value_encoding: Literal["utf-8", "base64"]
    created_at: datetime
    replayed_at: datetime | None = Field(
        description="When it was published again to its topic; a dead letter is replayed once."
    )


class DeadLetter(DeadLetterFields):
    id: str = Field(description="Opaque; names the service that holds the dead letter.")


class DeadLetterPage(BaseModel):
    items: list[DeadLetter]
    next_cursor: str | None


class InternalDeadLetter(DeadLetterFields):
    """A dead letter as a service's internal API shows it: the id is its own row number."""

    id: int


class ProblemDetail(BaseModel):
    """`application/problem+json` body (documentation of every error response)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, str]] | None = None
