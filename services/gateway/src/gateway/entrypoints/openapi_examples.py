"""One example per public JSON shape, for the OpenAPI document (request bodies and answers)."""

from __future__ import annotations

from typing import Any, Final

from gateway.entrypoints.openapi_oversight_examples import OVERSIGHT_EXAMPLES

_AT: Final = "2025-05-01T09:30:00Z"
_WALLET_ID: Final = "wlt_1a2b8f0c3e7a41d29b6e0f5c4d3a2b1c0d9"
_TRANSACTION_ID: Final = "txn_1a2b8f0c3e8a41d29b6e0f5c4d3a2b1c0d9"
_TRANSFER_ID: Final = "trf_0196e8f0c3e8a41d29b6e0f5c4d3a2b1"

_WALLET: Final = {
    "id": _WALLET_ID,
    "user_id": "alice",
    "currency": "USD",
    "label": "Groceries",
    "status": "active",
    "balance": "1500",
    "available_balance": "1200",
    "frozen_balance": "300",
    "created_at": _AT,
    "updated_at": _AT,
}
_TRANSACTION: Final = {
    "id": _TRANSACTION_ID,
    "wallet_id": _WALLET_ID,
    "type": "purchase",
    "amount": "2500",
    "balance_after": "7500",
    "reference": "order-1042",
    "transfer_id": None,
    "metadata": {"order_id": "order-1042", "merchant": "Corner Shop"},
    "created_at": _AT,
}
_TRANSFER: Final = {
    "id": _TRANSFER_ID,
    "source_wallet_id": _WALLET_ID,
    "destination_wallet_id": "wlt_3c48f0c3e8a41d29b6e0f5c4d3a2b1c0d9e",
    "amount": "800",
    "currency": "USD",
    "description": "Dinner",
    "status": "completed",
    "failure_code": None,
    "created_at": _AT,
    "updated_at": _AT,
}
_DEAD_LETTER: Final = {
    "id": "dl_shard-0_17",
    "service": "wallet-shard-0",
    "topic": "wallet.shard-0.commands",
    "partition": 1,
    "offset": 4711,
    "key": _WALLET_ID,
    "error": "could not decode the message",
    "attempts": 1,
    "headers": {"message_type": "TryDebit"},
    "value": "{...}",
    "value_encoding": "utf-8",
    "created_at": _AT,
    "replayed_at": None,
}

EXAMPLES: Final[dict[str, Any]] = {
    "CreateWallet": {"currency": "USD", "label": "Groceries"},
    "Wallet": _WALLET,
    "WalletPage": {"items": [_WALLET], "next_cursor": None},
    "Deposit": {"amount": 1500, "reference": "topup-77", "metadata": {"channel": "card"}},
    "Withdrawal": {"amount": "1000", "reference": "payout-12"},
    "Transaction": _TRANSACTION,
    "TransactionPage": {"items": [_TRANSACTION], "next_cursor": "WyIyMDI1LTA1LTAxIiwgMTJd"},
    "CreatePurchase": {"amount": 2500, "order_id": "order-1042", "merchant": "Corner Shop"},
    "CreateRefund": {"purchase_id": _TRANSACTION_ID, "amount": "1000"},
    "CreateReversal": {"reason": "Deposit booked twice by the payment provider"},
    "SetLimits": {"daily": 50000, "monthly": None},
    "SpendingLimits": {
        "wallet_id": _WALLET_ID,
        "daily": "50000",
        "monthly": "1000000",
        "used_today": "2500",
        "used_this_month": "120000",
        "daily_is_default": False,
        "monthly_is_default": True,
    },
    "BalanceAt": {"wallet_id": _WALLET_ID, "balance": "7500", "at": _AT},
    "Statement": {
        "wallet_id": _WALLET_ID,
        "currency": "USD",
        "since": "2025-05-01T00:00:00Z",
        "until": "2025-06-01T00:00:00Z",
        "opening_balance": "10000",
        "items": [{**_TRANSACTION, "change": "-2500"}],
        "closing_balance": "7500",
        "totals": {"count": 1, "money_in": "0", "money_out": "2500", "net": "-2500"},
    },
    "CreateTransfer": {
        "source_wallet_id": _WALLET_ID,
        "destination_wallet_id": _TRANSFER["destination_wallet_id"],
        "amount": 800,
        "description": "Dinner",
    },
    "Transfer": _TRANSFER,
    "TransferPage": {"items": [_TRANSFER], "next_cursor": None},
    "IntegrityReport": {
        "consistent": True,
        "checked_at": _AT,
        "currencies": {
            "USD": {
                "wallets_total": "4800",
                "in_flight": "0",
                "external_net": "4800",
                "difference": "0",
            }
        },
        "shards": [{"shard": "shard-0", "consistent": True, "problems": []}],
        "coordinator": {"consistent": True, "problems": []},
    },
    "DeadLetter": _DEAD_LETTER,
    "DeadLetterPage": {"items": [_DEAD_LETTER], "next_cursor": None},
    **OVERSIGHT_EXAMPLES,
}
"""Example of each component schema, by name."""
