"""Backend replies relayed to the client, and the gateway's own problem handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse
from wallet_shared.platform.http_client import InternalStream
from wallet_shared.platform.problems import body_not_json, field_errors, problem_response

from gateway.adapters.backends import BackendProblem, BackendReply, unavailable
from gateway.adapters.tokens import InvalidToken


def relay(reply: BackendReply, *, headers: Mapping[str, str] | None = None) -> Response:
    """A backend reply as the client's response: same status, body and content type."""
    return Response(
        content=reply.body,
        status_code=reply.status_code,
        media_type=reply.media_type,
        headers={**reply.headers, **(headers or {})},
    )


_STREAMED_HEADERS: Final = ("content-disposition",)


async def relay_stream(opened: AbstractAsyncContextManager[InternalStream]) -> Response:
    """A backend's streamed answer as the client's response, chunk by chunk (constant memory);
    a refusal is relayed whole, like any other."""
    stack = AsyncExitStack()
    answer = await stack.enter_async_context(opened)
    media_type = answer.headers.get("content-type", "application/octet-stream")
    if answer.status_code >= 300:
        try:
            body = b"".join([chunk async for chunk in answer.chunks])
        finally:
            await stack.aclose()
        if answer.status_code >= 500 and "problem" not in media_type:
            raise unavailable()
        raise BackendProblem(BackendReply("shard", answer.status_code, body, media_type))

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for chunk in answer.chunks:
                yield chunk
        finally:
            await stack.aclose()

    headers = {name: answer.headers[name] for name in _STREAMED_HEADERS if name in answer.headers}
    return StreamingResponse(
        chunks(),
        status_code=answer.status_code,
        media_type=media_type,
        headers=headers,
        # Closes the backend's answer even when the client left before the body was read.
        background=BackgroundTask(stack.aclose),
    )


async def _on_backend_problem(_: Request, error: Exception) -> Response:
    assert isinstance(error, BackendProblem)
    return relay(error.reply)


async def _on_request_invalid(_: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    if any(item.get("type") == "json_invalid" for item in error.errors()):
        return body_not_json()
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
