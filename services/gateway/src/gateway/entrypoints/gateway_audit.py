"""What the gateway audits itself (it has no transaction to write in; recording only queues,
see `AuditShipper`): every /v1 request refused with 401 or 403 — who tried (when the token
told), what (method and route), from where — and actions it runs alone, such as integrity
checks. The refusals are seen by an ASGI middleware outside the guard, so that the guard's own
refusals are caught as well as the routes'."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from wallet_shared.platform.audit import AuditEntry
from wallet_shared.platform.logging import current_trace_id

from gateway.adapters.audit_shipper import AuditShipper
from gateway.domain.principal import Principal
from gateway.entrypoints.guard import GUARDED_PREFIX, PRINCIPAL_STATE_KEY

_REFUSALS: Final = {401: "request.unauthorized", 403: "request.forbidden"}
# The coordinator's audit log keeps at most this much of each (its internal route's limits).
MAX_TARGET: Final = 500
MAX_USER_AGENT: Final = 500
MAX_CLIENT: Final = 100


class RefusalAudit:
    """Records refused /v1 requests through the shipper in `app.state.audit_shipper`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(GUARDED_PREFIX):
            await self.app(scope, receive, send)
            return

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in _REFUSALS:
                _record(scope, _REFUSALS[message["status"]])
            await send(message)

        await self.app(scope, receive, observe)


def refusal_entry(scope: Scope, action: str) -> AuditEntry:
    """The audit record of a request: its caller when authenticated, its route, its client."""
    principal = scope.get("state", {}).get(PRINCIPAL_STATE_KEY)
    known = principal if isinstance(principal, Principal) else None
    headers = Headers(scope=scope)
    client = scope.get("client")
    return AuditEntry(
        action=action,
        actor=known.user_id if known else None,
        role=known.role if known else None,
        target=_bounded(f"{scope['method']} {scope['path']}", MAX_TARGET),
        trace_id=current_trace_id() or None,
        client_address=_bounded(client[0], MAX_CLIENT) if client else None,
        user_agent=_bounded(headers.get("user-agent"), MAX_USER_AGENT),
    )


def _bounded(text: str | None, limit: int) -> str | None:
    # What a client sends (path, user agent) is kept as far as the audit log stores it: a longer
    # or NUL-bearing value must never make the record, and the batch it ships in, refused.
    return None if text is None else text.replace("\x00", "")[:limit] or None


def record_gateway_action(scope: Scope, action: str, *, target: str) -> None:
    """Audit an action the gateway ran by itself for the authenticated caller."""
    entry = refusal_entry(scope, action)
    _ship(scope, replace(entry, target=target))


def _record(scope: Scope, action: str) -> None:
    _ship(scope, refusal_entry(scope, action))


def _ship(scope: Scope, entry: AuditEntry) -> None:
    shipper = getattr(scope["app"].state, "audit_shipper", None)
    if isinstance(shipper, AuditShipper):
        shipper.record(entry)
