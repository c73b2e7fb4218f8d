"""Examples of the audit log, webhook and risk-flag shapes, for the OpenAPI document."""

from __future__ import annotations

from typing import Any, Final

_AT: Final = "2025-05-01T09:30:00Z"
_WALLET_ID: Final = "wlt_1a2b8f0c3e7a41d29b6e0f5c4d3a2b1c0d9"
_WEBHOOK: Final = {
    "id": "whk_0196e8f0c3e8a41d29b6e0f5c4d3a2b1",
    "url": "https://hooks.example.com/wallet",
    "event_types": ["transfer.completed", "risk.flagged"],
    "created_at": _AT,
}
_AUDIT_RECORD: Final = {
    "id": "aud_0196e8f0c3e8a41d29b6e0f5c4d3a2b1",
    "at": _AT,
    "actor": "ops-1",
    "role": "admin",
    "action": "wallet.freeze",
    "target": _WALLET_ID,
    "wallet_id": _WALLET_ID,
    "reason": None,
    "trace_id": "5f0c3e8a41d29b6e",
    "client": "203.0.113.7",
    "user_agent": "curl/8.5.0",
}
_DELIVERY: Final = {
    "id": "whd_42",
    "event_id": "0196e8f0c3e8a41d29b6e0f5c4d3a2b1",
    "event_type": "transfer.completed",
    "status": "pending",
    "attempts": 2,
    "last_status_code": 503,
    "next_attempt_at": "2025-05-01T09:30:20Z",
    "created_at": _AT,
}
_FLAG: Final = {
    "id": "rsk_0196e8f0c3e8a41d29b6e0f5c4d3a2b1",
    "wallet_id": _WALLET_ID,
    "rule": "amount_outlier",
    "transaction_id": "txn_1a2b8f0c3e8a41d29b6e0f5c4d3a2b1c0d9",
    "transfer_id": None,
    "detail": {"amount": "600000", "median": "1200", "multiple": 50},
    "created_at": _AT,
}

OVERSIGHT_EXAMPLES: Final[dict[str, Any]] = {
    "AuditRecord": _AUDIT_RECORD,
    "AuditPage": {"items": [_AUDIT_RECORD], "next_cursor": None},
    "CreateWebhook": {"url": _WEBHOOK["url"], "event_types": _WEBHOOK["event_types"]},
    "Webhook": _WEBHOOK,
    "WebhookCreated": {**_WEBHOOK, "secret": "whsec_3q2-7wEXAMPLEonlyNeverReal"},
    "WebhookPage": {"items": [_WEBHOOK], "next_cursor": None},
    "WebhookDelivery": _DELIVERY,
    "WebhookDeliveryPage": {"items": [_DELIVERY], "next_cursor": None},
    "RiskFlag": _FLAG,
    "RiskFlagPage": {"items": [_FLAG], "next_cursor": None},
}
