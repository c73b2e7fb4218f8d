"""The public JSON shapes of the audit log, webhooks and risk flags (API.md), shared by the
services that store them and the gateway that documents them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from wallet_shared.contracts.schemas import RequestModel

DeliveryStatus = Literal["pending", "delivered", "failed"]


class AuditRecord(BaseModel):
    """One recorded action: who, what, on what, from where."""

    id: str
    at: datetime
    actor: str | None = Field(description="The caller's user id, when known (null for a 401).")
    role: str | None
    action: str = Field(description="e.g. `wallet.freeze`, `webhook.create`, `request.forbidden`.")
    target: str | None = Field(
        description="The wallet, transaction or webhook id; for a refused request its route."
    )
    wallet_id: str | None = Field(description="The wallet the action concerned, if any.")
    reason: str | None
    trace_id: str | None
    client: str | None = Field(description="The client's address as the gateway saw it.")
    user_agent: str | None


class AuditPage(BaseModel):
    items: list[AuditRecord]
    next_cursor: str | None


class CreateWebhook(RequestModel):
    url: str = Field(min_length=1, max_length=2048, examples=["https://hooks.example.com/wallet"])
    event_types: list[str] = Field(min_length=1, max_length=20, examples=[["transfer.completed"]])


class Webhook(BaseModel):
    id: str
    url: str
    event_types: list[str]
    created_at: datetime


class WebhookCreated(Webhook):
    secret: str = Field(description="Signs every delivery; shown only in this answer.")


class WebhookPage(BaseModel):
    items: list[Webhook]
    next_cursor: str | None


class WebhookDelivery(BaseModel):
    id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None = Field(description="The receiver's last HTTP status, if any.")
    next_attempt_at: datetime | None = Field(description="Null once delivered or failed.")
    created_at: datetime


class WebhookDeliveryPage(BaseModel):
    items: list[WebhookDelivery]
    next_cursor: str | None


class RiskFlag(BaseModel):
    id: str
    wallet_id: str
    rule: str = Field(
        description="`velocity`, `amount_outlier`, `many_destinations`, `deposit_then_transfer`."
    )
    transaction_id: str | None = None
    transfer_id: str | None = None
    detail: dict[str, Any]
    created_at: datetime


class RiskFlagPage(BaseModel):
    items: list[RiskFlag]
    next_cursor: str | None
