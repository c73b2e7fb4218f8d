"""What an Idempotency-Key is bound to, system-wide."""

from __future__ import annotations

from pydantic import BaseModel
from wallet_shared.idempotency import request_fingerprint


def public_fingerprint(path: str, command: BaseModel) -> str:
    """The public route and the validated body: `100` and `"100"` are the same request, a
    deposit to another wallet is not. The coordinator claims each key for one fingerprint."""
    return request_fingerprint("POST", path, command.model_dump(mode="json"))
