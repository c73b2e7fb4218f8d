"""HTTP problem details (RFC 9457, `application/problem+json`) for every service.

One module maps errors to responses, so that no route builds an error body by hand and nothing
ever leaks a stack trace, SQL or another user's data.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from wallet_shared.contracts.errors import (
    RateLimited,
    ServiceUnavailable,
    TransientError,
    WalletError,
)
from wallet_shared.platform.db import DATABASE_FAILURES, is_transient

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"

_STATUS: Final[dict[str, tuple[int, str]]] = {
    "bad_request": (400, "Bad request"),
    "validation_error": (422, "The request is not valid"),
    "unauthorized": (401, "Authentication required"),
    "forbidden": (403, "Not allowed"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "insufficient_funds": (422, "Insufficient funds"),
    "wallet_not_active": (422, "Wallet is not active"),
    "currency_mismatch": (422, "Currency mismatch"),
    "same_wallet": (422, "Source and destination are the same wallet"),
    "limit_exceeded": (422, "Limit exceeded"),
    "conflict": (409, "Conflict with the current state"),
    "duplicate_order": (409, "The order was already paid from this wallet"),
    "refund_exceeds_purchase": (422, "The refund exceeds what is left of the purchase"),
    "already_reversed": (409, "The transaction was already reversed"),
    "transfer_not_reversible": (422, "A transfer is not reversed by a reversal"),
    "reversal_not_reversible": (422, "A reversal is not reversed by a reversal"),
    "purchase_refunded": (409, "Refunds gave back part of the purchase"),
    "idempotency_key_required": (400, "Idempotency-Key header required"),
    "idempotency_key_reused": (422, "Idempotency-Key reused with another request"),
    "idempotency_key_in_use": (409, "A request with this Idempotency-Key is still running"),
    "rate_limited": (429, "Too many requests"),
    "payload_too_large": (413, "Payload too large"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "service_unavailable": (503, "Service unavailable"),
    "internal_error": (500, "Internal error"),
}

_log = structlog.get_logger(__name__)


def status_of(code: str) -> int:
    """The HTTP status of a problem code."""
    return _STATUS.get(code, (400, ""))[0]


def problem_body(
    code: str, detail: str, *, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The JSON body of a problem with a stable `code`."""
    status, title = _STATUS.get(code, (400, "Bad request"))
    body: dict[str, Any] = {
        "type": f"https://wallet.example/problems/{code.replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def problem_response(
    code: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A complete problem response."""
    body = problem_body(code, detail, errors=errors)
    return Response(
        content=orjson.dumps(body),
        status_code=body["status"],
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def body_not_json() -> Response:
    """The refusal of a request body that is not JSON: a `validation_error` of the body as a
    whole (no character offset, which would read as a field name)."""
    return problem_response(
        "validation_error",
        "The request body is not valid JSON.",
        errors=[{"field": "body", "message": "is not valid JSON"}],
    )


def field_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    """pydantic's error list as `{field, message}`, without echoing the rejected input."""
    items = []
    for item in error.errors():
        location = [
            str(part)
            for part in item.get("loc", ())
            if part not in ("body", "query", "path", "header")
        ]
        message = str(item.get("msg", "is not valid")).removeprefix("Value error, ")
        items.append({"field": ".".join(location) or "body", "message": message})
    return items


async def _on_wallet_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, WalletError)
    headers = None
    if isinstance(error, RateLimited):
        headers = {"Retry-After": str(error.retry_after_s)}
    elif isinstance(error, ServiceUnavailable):
        # A dependency away (a backend down, the service starting or stopping): the client is
        # told when to try again, as with every other 503.
        headers = {"Retry-After": "1"}
    return problem_response(error.code, error.detail, errors=error.errors, headers=headers)


async def _on_validation_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    return problem_response(
        "validation_error", "The request is not valid; see errors.", errors=field_errors(error)
    )


_HTTP_CODES: Final = {
    404: "not_found",
    405: "method_not_allowed",
    401: "unauthorized",
    403: "forbidden",
    415: "unsupported_media_type",
    400: "bad_request",
}


async def _on_http_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400 and isinstance(error.__cause__, UnicodeDecodeError):
        # FastAPI decodes a JSON body before parsing it and answers bytes that are not UTF-8
        # with a bare 400; JSON text is UTF-8 (RFC 8259), so such a body is simply not JSON.
        return body_not_json()
    code = _HTTP_CODES.get(error.status_code, "bad_request")
    detail = "No such resource." if code == "not_found" else str(error.detail)
    return problem_response(code, detail, headers=dict(error.headers or {}))


async def _on_transient(request: Request, error: Exception) -> Response:
    # Nothing committed (the transaction that met the failure rolled back): the client may
    # retry, with the same Idempotency-Key for a movement.
    _log.warning("transient_error", path=request.url.path, error=str(error))
    return problem_response(
        "service_unavailable",
        "A dependency failed for a moment; retry the request (with the same Idempotency-Key).",
        headers={"Retry-After": "1"},
    )


async def _on_database_failure(request: Request, error: Exception) -> Response:
    if is_transient(error):
        # A database away, met outside `transaction()` (a read straight from the pool): a
        # dependency that is away is a 503, never a 500.
        return await _on_transient(request, error)
    return await _on_unexpected(request, error)


async def _on_unexpected(request: Request, error: Exception) -> Response:
    # The client gets nothing of the failure's text; the log gets the whole of it.
    _log.error("unhandled_error", path=request.url.path, exc_info=error)
    return problem_response("internal_error", "Something went wrong on our side.")


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of `app` a problem+json response."""
    app.add_exception_handler(WalletError, _on_wallet_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(TransientError, _on_transient)
    for failure in DATABASE_FAILURES:
        app.add_exception_handler(failure, _on_database_failure)
    app.add_exception_handler(Exception, _on_unexpected)
