"""Structured logging (structlog, JSON lines) with context variables and secret redaction."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEY = re.compile(
    r"(authorization|token|secret|password|passwd|dsn|database_url|jwt|cookie)", re.I
)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I)


def redact(value: str) -> str:
    """A string with bearer tokens and passwords inside URLs masked."""
    return _BEARER.sub(r"\1[redacted]", _URL_PASSWORD.sub(r"\1[redacted]@", value))


def _redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # Tokens and credentials must never reach a log, even when a caller logs them by mistake.
    for key, value in list(event.items()):
        if _SECRET_KEY.search(key):
            event[key] = "[redacted]"
        elif isinstance(value, str):
            event[key] = redact(value)
    return event


def current_trace_id() -> str:
    """The trace id of the request being served (bound by the HTTP middleware), "" if none."""
    trace_id = structlog.contextvars.get_contextvars().get("trace_id")
    return trace_id if isinstance(trace_id, str) else ""


def configure_logging(*, service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Configure structlog and the standard library logging for a service process."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_secrets,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries (uvicorn, aiokafka, asyncpg) log through the standard library; keep them quiet
    # but visible, in the same stream.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
