"""Domain objects rendered as the public JSON shapes (API.md), and the public events about them."""

from __future__ import annotations

from typing import Any

from wallet_shared.contracts.messages import EventType, OutgoingMessage, encode_public_event
from wallet_shared.contracts.schemas import Transaction, Wallet
from wallet_shared.contracts.topics import Topics

from wallet_shard.adapters.journal_repository import PostedTransaction
from wallet_shard.domain.journal import JournalTransaction
from wallet_shard.domain.wallet import Wallet as WalletState


def wallet_view(wallet: WalletState) -> Wallet:
    return Wallet(
        id=wallet.id,
        user_id=wallet.user_id,
        currency=wallet.currency,
        label=wallet.label,
        status=wallet.status.value,
        balance=wallet.balance,
        available_balance=wallet.available,
        frozen_balance=wallet.frozen,
        created_at=wallet.created_at,
        updated_at=wallet.updated_at,
    )


def transaction_view(posted: JournalTransaction | PostedTransaction) -> Transaction:
    return Transaction.model_validate(
        {
            "id": posted.id,
            "wallet_id": posted.wallet_id,
            "type": posted.type,
            "amount": posted.amount,
            "balance_after": posted.balance_after,
            "reference": posted.reference,
            "transfer_id": posted.transfer_id,
            "metadata": posted.metadata,
            "created_at": posted.created_at,
        }
    )


def wallet_event(
    event_type: EventType, wallet: WalletState, *, topics: Topics, trace_id: str = ""
) -> OutgoingMessage:
    """`wallet.created` or `wallet.status_changed`, keyed by the wallet id."""
    return encode_public_event(
        event_type,
        _json(wallet_view(wallet)),
        topic=topics.events,
        wallet_id=wallet.id,
        trace_id=trace_id,
        occurred_at=wallet.updated_at,
    )


def transaction_posted(
    posted: JournalTransaction, *, topics: Topics, trace_id: str = ""
) -> OutgoingMessage:
    """`transaction.posted`, keyed by the wallet id."""
    return encode_public_event(
        EventType.TRANSACTION_POSTED,
        _json(transaction_view(posted)),
        topic=topics.events,
        wallet_id=posted.wallet_id,
        trace_id=trace_id,
        occurred_at=posted.created_at,
    )


def _json(model: Wallet | Transaction) -> dict[str, Any]:
    return model.model_dump(mode="json")
