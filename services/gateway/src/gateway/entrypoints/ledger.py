"""`/v1/wallets/{id}`: purchases, refunds, reversals, spending limits, the balance at an instant
and statements. Parse the request, call the handler, relay the answer."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Path, Query
from starlette.responses import Response
from wallet_shared.contracts.schemas import (
    BalanceAt,
    CreatePurchase,
    CreateRefund,
    CreateReversal,
    SetLimits,
    SpendingLimits,
    Statement,
    Transaction,
)

from gateway.entrypoints.dependencies import Gateway, IdempotencyKeyHeader
from gateway.entrypoints.openapi import problem_responses
from gateway.entrypoints.responses import relay, relay_stream
from gateway.entrypoints.wallets import Timestamp, WalletId
from gateway.service_layer import ledger

router = APIRouter(prefix="/v1/wallets/{wallet_id}", tags=["wallets"])

TransactionId = Annotated[str, Path(description="A transaction id of this wallet (opaque).")]
CSV_MEDIA_TYPE: Final = "text/csv"
_MONEY_PROBLEMS: Final = (400, 403, 404, 409, 413, 422)

_REFUND_DESCRIPTION: Final = (
    "Gives back part or all of a purchase to the wallet that paid it, from the merchant-"
    "settlement account of its currency. Refunds of one purchase never add up to more than it, "
    "also when many arrive at once: beyond what is left, 422 `refund_exceeds_purchase` (a "
    "reversed purchase has nothing left). A purchase that is not this wallet's (or no purchase "
    "at all) is 404.\n\n**Frozen wallets receive refunds**: freezing stops the owner's own "
    "movements, while a refund returns the owner's money by an admin's decision, and the wallet "
    "stays frozen (nothing can be spent until it is unfrozen). A closed wallet refuses refunds "
    "with 422 `wallet_not_active`."
)
_REVERSAL_DESCRIPTION: Final = (
    "Books a new journal transaction of type `reversal`, linked to the original (`reference` "
    "and `metadata.reversal_of` name it, `metadata.reason` says why); the original is never "
    "edited. Deposits, withdrawals, purchases and refunds can be reversed, once: a second "
    "reversal is 409 `already_reversed`. Undoing a credit the wallet has spent since is 422 "
    "`insufficient_funds`; a purchase refunds gave money back for is 409 `purchase_refunded` "
    "(reverse the refunds first); reversing a refund makes its amount refundable again.\n\n"
    "**Transfers are not reversed this way**: 422 `transfer_not_reversible` for either side "
    "(`transfer_in`, `transfer_out`). Each side is half of a movement between two wallets, "
    "possibly on two shards, and undoing one half alone would create or destroy money; a "
    "transfer is undone by a new transfer back. A reversal itself is not reversed either (422 "
    "`reversal_not_reversible`). Frozen wallets can be corrected; closed ones cannot (422 "
    "`wallet_not_active`). Reversals neither use nor give back spending-limit usage."
)
_LIMITS_DESCRIPTION: Final = (
    "Outgoing money (withdrawals, purchases, outgoing transfers when they are tried) per UTC "
    "day and per UTC month. `null` sets the configured default (`*_is_default` tells which "
    "applies; a `null` limit in the answer means no limit). Going over answers 422 "
    "`limit_exceeded`, or cancels the transfer with that `failure_code`; a cancelled transfer "
    "gives its usage back."
)
_STATEMENT_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "The statement: JSON, or CSV with `Accept: text/csv` (RFC 4180, a header "
        "row, then one row per transaction oldest first: `transaction_id, created_at, type, "
        "amount, change, balance_after, currency, reference, transfer_id`; amounts in minor "
        "units, `change` signed). Both are streamed.",
        "content": {
            CSV_MEDIA_TYPE: {
                "schema": {"type": "string"},
                "example": "transaction_id,created_at,type,amount,change,balance_after,currency,"
                "reference,transfer_id\r\ntxn_1a2…,2025-05-01T09:30:00Z,deposit,1500,1500,1500,"
                "USD,,\r\n",
            }
        },
    },
    **problem_responses(404, 422),
}


@router.post(
    "/purchases",
    status_code=201,
    response_model=Transaction,
    summary="Pay an order from the wallet (owner, admin; Idempotency-Key required)",
    description="One journal transaction from the wallet to the merchant-settlement account of "
    "its currency, within the spending limits. `order_id` is unique per wallet: a second "
    "purchase of the same order under another key is 409 `duplicate_order` (a retry with the "
    "same key replays the first answer). The transaction's `reference` is the order id, its "
    "`metadata` `{order_id, merchant}`.",
    responses=problem_responses(*_MONEY_PROBLEMS),
)
async def purchase(
    wallet_id: WalletId,
    command: CreatePurchase,
    gw: Gateway,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    reply = await ledger.purchase(
        gw.backends,
        gw.shards,
        gw.caller,
        wallet_id=wallet_id,
        command=command,
        raw_idempotency_key=idempotency_key,
        max_amount=gw.settings.max_amount,
        origin=gw.origin,
    )
    return relay(reply)


@router.post(
    "/refunds",
    status_code=201,
    response_model=Transaction,
    summary="Refund part or all of a purchase (admin; Idempotency-Key required)",
    description=_REFUND_DESCRIPTION,
    responses=problem_responses(*_MONEY_PROBLEMS),
)
async def refund(
    wallet_id: WalletId,
    command: CreateRefund,
    gw: Gateway,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    reply = await ledger.refund(
        gw.backends,
        gw.shards,
        gw.caller,
        wallet_id=wallet_id,
        command=command,
        raw_idempotency_key=idempotency_key,
        max_amount=gw.settings.max_amount,
        origin=gw.origin,
    )
    return relay(reply)


@router.post(
    "/transactions/{transaction_id}/reversal",
    status_code=201,
    response_model=Transaction,
    summary="Reverse a deposit, withdrawal, purchase or refund (admin; Idempotency-Key required)",
    description=_REVERSAL_DESCRIPTION,
    responses=problem_responses(*_MONEY_PROBLEMS),
)
async def reverse(
    wallet_id: WalletId,
    transaction_id: TransactionId,
    command: CreateReversal,
    gw: Gateway,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    reply = await ledger.reverse(
        gw.backends,
        gw.shards,
        gw.caller,
        wallet_id=wallet_id,
        transaction_id=transaction_id,
        command=command,
        raw_idempotency_key=idempotency_key,
        max_amount=gw.settings.max_amount,
        origin=gw.origin,
    )
    return relay(reply)


@router.get(
    "/limits",
    response_model=SpendingLimits,
    summary="The wallet's spending limits and their use (owner, admin, auditor)",
    description=_LIMITS_DESCRIPTION,
    responses=problem_responses(404),
)
async def get_limits(wallet_id: WalletId, gw: Gateway) -> Response:
    return relay(await ledger.get_limits(gw.backends, gw.shards, gw.caller, wallet_id))


@router.put(
    "/limits",
    response_model=SpendingLimits,
    summary="Set the wallet's spending limits (admin)",
    description=_LIMITS_DESCRIPTION,
    responses=problem_responses(403, 404, 413, 422),
)
async def set_limits(wallet_id: WalletId, command: SetLimits, gw: Gateway) -> Response:
    return relay(
        await ledger.set_limits(gw.backends, gw.shards, gw.caller, wallet_id, command, gw.origin)
    )


@router.get(
    "/balance",
    response_model=BalanceAt,
    summary="The balance as of an instant, from the ledger (owner, admin, auditor)",
    description="The balance after every transaction posted at or before `at` (`0` before the "
    "wallet's first); one index probe however long the history.",
    responses=problem_responses(404, 422),
)
async def balance_at(
    wallet_id: WalletId,
    at: Annotated[Timestamp, Query(description="RFC 3339 with offset")],
    gw: Gateway,
) -> Response:
    return relay(await ledger.balance_at(gw.backends, gw.shards, gw.caller, wallet_id, at))


@router.get(
    "/statement",
    response_model=Statement,
    summary="A statement of a period: opening and closing balances, transactions, totals "
    "(owner, admin, auditor)",
    description="`since` inclusive (absent: from the wallet's first entry), `until` exclusive "
    "(absent: now); `opening_balance` is the balance just before `since`, and `opening_balance` "
    "plus the items' `change`s is `closing_balance`. Items oldest first.",
    responses=_STATEMENT_RESPONSES,
)
async def statement(
    wallet_id: WalletId,
    gw: Gateway,
    since: Annotated[Timestamp | None, Query(description="RFC 3339 with offset")] = None,
    until: Annotated[Timestamp | None, Query(description="RFC 3339 with offset")] = None,
    accept: Annotated[str | None, Header(description="`text/csv` for CSV")] = None,
) -> Response:
    wants_csv = accept is not None and CSV_MEDIA_TYPE in accept.lower()
    opened = ledger.statement(
        gw.backends,
        gw.shards,
        gw.caller,
        wallet_id,
        since=since,
        until=until,
        accept=CSV_MEDIA_TYPE if wants_csv else "application/json",
    )
    return await relay_stream(opened)
