"""Backend replies relayed to the client, and the gateway's own problem handlers."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response
from wallet_shared.problems import field_errors, problem_response

from gateway.adapters.backends import BackendProblem, BackendReply
from gateway.auth import InvalidToken


def relay(reply: BackendReply, *, headers: Mapping[str, str] | None = None) -> Response:
    """A backend reply as the client's response: same status, body and content type."""
    return Response(
        content=reply.body,
        status_code=reply.status_code,
        media_type=reply.media_type,
        headers={**reply.headers, **(headers or {})},
    )


async def _on_backend_problem(_: Request, error: Exception) -> Response:
    assert isinstance(error, BackendProblem)
    return relay(error.reply)


async def _on_request_invalid(_: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    if any(item.get("type") == "json_invalid" for item in error.errors()):
        # pydantic locates a JSON syntax error by character offset, which reads as a field name.
        return problem_response(
            "validation_error",
            "The request body is not valid JSON.",
            errors=[{"field": "body", "message": "is not valid JSON"}],
        )
    return problem_response(
        "validation_error", "The request is not valid; see errors.", errors=field_errors(error)
    )


def token_problem(error: InvalidToken) -> Response:
    """A 401 problem with its Bearer challenge (RFC 6750)."""
    return problem_response(error.code, error.detail, headers={"WWW-Authenticate": error.challenge})


async def _on_invalid_token(_: Request, error: Exception) -> Response:
    assert isinstance(error, InvalidToken)
    return token_problem(error)


def install_gateway_problem_handlers(app: FastAPI) -> None:
    """Backend problems pass through unchanged; 401s carry their Bearer challenge; a body
    that is not JSON says so."""
    app.add_exception_handler(BackendProblem, _on_backend_problem)
    app.add_exception_handler(InvalidToken, _on_invalid_token)
    app.add_exception_handler(RequestValidationError, _on_request_invalid)
