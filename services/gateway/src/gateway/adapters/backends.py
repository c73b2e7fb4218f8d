"""HTTP to the wallet shards and the transfer coordinator, over one shared keep-alive pool.

Every call carries the caller as docs/internals.md fixes it: a service credential naming the
user, their role and owner scope (`Authorization`), and `Idempotency-Key`, `X-Trace-Id`; only the
backends' `/health/ready` is asked without one. A backend that does not answer
becomes `ServiceUnavailable` here, once; a backend's own problem response is kept byte for byte so
the client gets it unchanged.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import orjson
import structlog
from pydantic import BaseModel, ValidationError
from wallet_shared.contracts.errors import ServiceUnavailable
from wallet_shared.contracts.internal import KeyClaimRequest, KeyClaimsAnswer, KeyClaimsRequest
from wallet_shared.platform.coalesce import Coalescer
from wallet_shared.platform.http_client import (
    InternalHttpClient,
    InternalRequestError,
    InternalResponse,
    InternalStream,
)
from wallet_shared.platform.logging import current_trace_id
from wallet_shared.platform.problems import PROBLEM_MEDIA_TYPE
from wallet_shared.platform.service_auth import ServiceTokenIssuer

from gateway.domain.principal import Principal
from gateway.domain.routing import shard_name
from gateway.metrics import BACKEND_REQUEST_DURATION, BACKEND_UNAVAILABLE

COORDINATOR: Final = "coordinator"
CLAIMS_PATH: Final = "/internal/idempotency-claims"
GATEWAY_ITSELF: Final = Principal(user_id="gateway", role="admin")
"""The caller named when the gateway speaks for itself (claims of many callers, audit records)."""
READINESS_TIMEOUT_S: Final = 2.0
# Headers of a backend answer that mean something to the client.
_RELAYED_HEADERS: Final = ("idempotent-replayed", "retry-after")

_log = structlog.get_logger(__name__)

JsonObject = dict[str, Any]
"""An internal request body: the JSON of a `wallet_shared.contracts` model (`built_body`, or a
client's validated command)."""
Contract = TypeVar("Contract", bound=BaseModel)
"""The model of a backend's answer in `wallet_shared.contracts`."""


@dataclass(frozen=True, slots=True)
class ClientOrigin:
    """Where a public request came from, passed on for the audit of money movements."""

    address: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """A caller's Idempotency-Key, to be claimed for the fingerprint of one public request."""

    caller: str
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class BackendReply:
    """A backend's answer, kept as received."""

    backend: str
    """Who answered (`shard-<n>`, `coordinator`, or `gateway` for a merged page)."""
    status_code: int
    body: bytes
    media_type: str
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


class BackendProblem(Exception):
    """A backend refused the request with a problem: relay it to the client unchanged."""

    def __init__(self, reply: BackendReply) -> None:
        super().__init__(f"backend answered {reply.status_code}")
        self.reply = reply


class BackendContractError(ServiceUnavailable):
    """A backend answered with something the internal contract does not allow."""


def unavailable() -> ServiceUnavailable:
    """The client's answer when a backend gives no usable reply (no internal names inside)."""
    return ServiceUnavailable(
        "A backend service did not answer, so the request may or may not have taken effect; "
        "retry it (with the same Idempotency-Key when it moves money)."
    )


def path_segment(value: str) -> str:
    """A client's value (an id) as one segment of an internal path, whatever it holds: every
    character that could end the segment or the path (`/`, `?`, `#`, `%`, controls) is
    percent-encoded, and so is a segment of dots only, which URL normalisation would otherwise
    resolve to another route. The backend reads the value back unchanged and answers 404 for an
    id that names nothing."""
    encoded = urllib.parse.quote(value, safe="")
    return encoded.replace(".", "%2E") if set(value) <= {"."} else encoded


def expect_ok(reply: BackendReply) -> BackendReply:
    """The reply itself when it is a success; `BackendProblem` (relayed as is) otherwise."""
    if not reply.ok:
        raise BackendProblem(reply)
    return reply


def expect_json(reply: BackendReply) -> Any:
    """The JSON body of a successful reply; `BackendProblem` for a refusal."""
    expect_ok(reply)
    try:
        return orjson.loads(reply.body)
    except orjson.JSONDecodeError as error:
        _log.error("backend_reply_not_json", backend=reply.backend, status=reply.status_code)
        raise BackendContractError("A backend service answered unexpectedly.") from error


def built_body(body: BaseModel) -> dict[str, Any]:
    """The JSON of a body the gateway built: the fields it set, so that a call leaves out what
    it does not name (the receiver, reading the same model, gives those their defaults)."""
    return body.model_dump(mode="json", exclude_unset=True)


def expect_model(
    reply: BackendReply,
    model: type[Contract],
    *,
    detail: str = "A backend service answered unexpectedly.",
) -> Contract:
    """A successful reply read into the contract's model of it (`BackendProblem` for a refusal);
    an answer off the contract is `BackendContractError` with `detail`, never a 500."""
    body = expect_json(reply)
    try:
        return model.model_validate(body)
    except ValidationError as error:
        # Where the answer is off, not what it holds: a reply may carry users' data.
        fields = sorted({".".join(map(str, issue["loc"])) for issue in error.errors()})
        _log.error(
            "backend_reply_unexpected", backend=reply.backend, model=model.__name__, fields=fields
        )
        raise BackendContractError(detail) from error


class Backends:
    """The shards (index = shard id) and the coordinator, behind one `InternalHttpClient`."""

    def __init__(
        self,
        *,
        client: InternalHttpClient,
        credentials: ServiceTokenIssuer,
        shard_urls: Sequence[str],
        coordinator_url: str,
        timeout_s: float,
        maintenance_timeout_s: float | None = None,
    ) -> None:
        if not shard_urls:
            raise ValueError("at least one shard URL is needed")
        self._client = client
        self._credentials = credentials
        self._shard_urls = tuple(shard_urls)
        self._coordinator_url = coordinator_url
        self._timeout_s = timeout_s
        # Claims of concurrent requests travel to the coordinator together: one HTTP exchange
        # (and one of its transactions) serves many requests under load.
        self._claims: Coalescer[KeyClaim, bool] = Coalescer(self._send_claims)
        self._maintenance_timeout_s = maintenance_timeout_s or timeout_s

    @property
    def maintenance_timeout_s(self) -> float:
        """How long a ledger verification or rebuild page of one shard may take: a whole-ledger
        aggregate, far longer than a request's backend timeout."""
        return self._maintenance_timeout_s

    @property
    def shard_count(self) -> int:
        return len(self._shard_urls)

    async def shard(
        self,
        shard: int,
        method: str,
        path: str,
        *,
        caller: Principal,
        params: Mapping[str, str | int] | None = None,
        json: JsonObject | None = None,
        idempotency_key: str | None = None,
        origin: ClientOrigin | None = None,
        timeout_s: float | None = None,
    ) -> BackendReply:
        """Call one shard's internal route (`origin`: the client, for a money movement;
        `timeout_s`: instead of the backend timeout)."""
        headers = self._caller_headers(caller, idempotency_key)
        if origin is not None:
            headers.update(_origin_headers(origin))
        return await self._send(
            shard_name(shard),
            method,
            self._shard_urls[shard] + path,
            headers=headers,
            params=params,
            json=json,
            timeout_s=self._timeout_s if timeout_s is None else timeout_s,
        )

    @asynccontextmanager
    async def shard_stream(
        self,
        shard: int,
        path: str,
        *,
        caller: Principal,
        params: Mapping[str, str | int] | None = None,
        accept: str | None = None,
    ) -> AsyncIterator[InternalStream]:
        """GET one shard's route whose answer is streamed (a statement); the block reads it."""
        headers = self._caller_headers(caller, None)
        if accept is not None:
            headers["Accept"] = accept
        backend = shard_name(shard)
        try:
            async with self._client.stream(
                "GET",
                self._shard_urls[shard] + path,
                params=params,
                headers=headers,
                read_timeout_s=self._timeout_s,
            ) as answer:
                yield answer
        except InternalRequestError as error:
            BACKEND_UNAVAILABLE.labels(backend).inc()
            _log.warning("backend_unavailable", backend=backend, error=str(error))
            raise unavailable() from error

    async def coordinator(
        self,
        method: str,
        path: str,
        *,
        caller: Principal,
        params: Mapping[str, str | int] | None = None,
        json: JsonObject | None = None,
        idempotency_key: str | None = None,
        fingerprint: str | None = None,
        wait_s: int = 0,
        origin: ClientOrigin | None = None,
    ) -> BackendReply:
        """Call the coordinator's internal route; `wait_s` extends the timeout for `?wait=`;
        `fingerprint` names the public request an Idempotency-Key is claimed for; `origin` is
        the client of an audited action."""
        headers = self._caller_headers(caller, idempotency_key)
        if fingerprint is not None:
            headers["X-Request-Fingerprint"] = fingerprint
        if origin is not None:
            headers.update(_origin_headers(origin))
        return await self._send(
            COORDINATOR,
            method,
            self._coordinator_url + path,
            headers=headers,
            params=params,
            json=json,
            timeout_s=self._timeout_s + wait_s,
        )

    async def claim_key(self, claim: KeyClaim) -> bool:
        """Claim the key in the coordinator; False when it served another request. A refusal
        of the coordinator is `BackendProblem`, an absent one `ServiceUnavailable`."""
        return await self._claims.submit(claim)

    async def _send_claims(self, claims: list[KeyClaim]) -> list[bool]:
        request = KeyClaimsRequest(
            claims=[
                KeyClaimRequest(caller=c.caller, key=c.key, fingerprint=c.fingerprint)
                for c in claims
            ]
        )
        reply = await self.coordinator(
            "POST", CLAIMS_PATH, caller=GATEWAY_ITSELF, json=built_body(request)
        )
        results = expect_model(reply, KeyClaimsAnswer).results
        if len(results) != len(claims):
            _log.error("backend_reply_unexpected", backend=COORDINATOR, path=CLAIMS_PATH)
            raise BackendContractError("A backend service answered unexpectedly.")
        return [result == "claimed" for result in results]

    def readiness_checks(self) -> dict[str, Callable[[], Awaitable[bool]]]:
        """One check per backend: its `/health/ready` answers 200."""
        checks = {
            shard_name(shard): self._ready_check(url) for shard, url in enumerate(self._shard_urls)
        }
        checks[COORDINATOR] = self._ready_check(self._coordinator_url)
        return checks

    def _ready_check(self, base_url: str) -> Callable[[], Awaitable[bool]]:
        async def ready() -> bool:
            try:
                response = await self._client.request(
                    "GET", base_url + "/health/ready", timeout_s=READINESS_TIMEOUT_S
                )
            except InternalRequestError:
                return False
            return response.status_code == 200

        return ready

    def _caller_headers(self, caller: Principal, idempotency_key: str | None) -> dict[str, str]:
        headers = {"Authorization": self._credentials.authorization(caller)}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if trace_id := current_trace_id():
            headers["X-Trace-Id"] = trace_id
        return headers

    async def _send(
        self,
        backend: str,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        params: Mapping[str, str | int] | None,
        json: JsonObject | None,
        timeout_s: float,
    ) -> BackendReply:
        content = None
        if json is not None:
            content = orjson.dumps(json)
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            response = await self._client.request(
                method, url, params=params, content=content, headers=headers, timeout_s=timeout_s
            )
        except InternalRequestError as error:
            BACKEND_UNAVAILABLE.labels(backend).inc()
            _log.warning("backend_unavailable", backend=backend, error=str(error))
            raise unavailable() from error
        BACKEND_REQUEST_DURATION.labels(backend).observe(time.perf_counter() - started)
        return _reply(backend, response)


def _reply(backend: str, response: InternalResponse) -> BackendReply:
    media_type = response.headers.get("content-type", "application/octet-stream")
    if response.status_code >= 500 and not media_type.startswith(PROBLEM_MEDIA_TYPE):
        # A bare 5xx (a proxy, a crashed worker) says nothing the client can use.
        BACKEND_UNAVAILABLE.labels(backend).inc()
        _log.warning("backend_bare_error", backend=backend, status=response.status_code)
        raise unavailable()
    relayed = {
        name: response.headers[name] for name in _RELAYED_HEADERS if name in response.headers
    }
    return BackendReply(
        backend=backend,
        status_code=response.status_code,
        body=response.content,
        media_type=media_type,
        headers=relayed,
    )


def _origin_headers(origin: ClientOrigin) -> dict[str, str]:
    headers = {}
    if origin.address:
        headers["X-Client-Address"] = origin.address
    if origin.user_agent:
        # Header values must stay Latin-1 and on one line on the way on.
        agent = origin.user_agent.encode("latin-1", "replace").decode("latin-1")
        headers["X-Client-User-Agent"] = " ".join(agent.split())[:500]
    return headers
