"""The gateway's admin API as the operator commands call it: a URL, a token, problems as errors.

Everything goes through the public gateway with a bearer token, so the commands work against a
remote system exactly as against `make run`'s.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx

DEFAULT_GATEWAY_URL = "http://127.0.0.1:8000"


class AdminApiError(RuntimeError):
    """The gateway refused the request (a problem+json answer) or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class AdminClient:
    """One keep-alive connection to a gateway, authenticated as an admin or auditor."""

    def __init__(
        self,
        gateway_url: str,
        token: str,
        *,
        timeout_s: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not token:
            raise AdminApiError("a token is needed: --token, or WALLET_TOKEN / WALLET_ADMIN_TOKEN")
        self._gateway_url = gateway_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self._gateway_url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "wallet-cli"},
            # Verifying a large ledger takes a while: a shard cancels its verification after
            # 90 s, the gateway waits 100 s for a shard (WALLET_LEDGER_MAINTENANCE_TIMEOUT_S),
            # and this bounds the whole, so the CLI hears the gateway's answer, not a timeout.
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET `path`; its JSON body."""
        return await self._call("GET", path, params=params)

    async def post(self, path: str, body: Any = None) -> Any:
        """POST `path` (with a JSON body when given); its JSON body."""
        return await self._call("POST", path, json=body)

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise AdminApiError(
                f"the gateway at {self._gateway_url} did not answer ({type(error).__name__})"
            ) from error
        if response.is_success:
            return response.json()
        raise _problem(response)


def _problem(response: httpx.Response) -> AdminApiError:
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    code = problem.get("code")
    detail = problem.get("detail") or problem.get("title") or response.reason_phrase
    retry = response.headers.get("retry-after")
    hint = f" (retry after {retry} s)" if retry else ""
    return AdminApiError(
        f"{response.status_code} {code or 'error'}: {detail}{hint}",
        status=response.status_code,
        code=code,
    )
