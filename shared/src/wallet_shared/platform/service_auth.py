"""Service credentials: how one service proves to another who is calling (DESIGN.md, "Trust
between services").

Every internal HTTP call carries `Authorization: Bearer <token>`, an HS256 JWT signed with the
internal secret (`WALLET_INTERNAL_SECRET`, never the public JWT secret) that names the calling
service (`iss`), the end user (`sub`), their role and owner scope, for the internal audience only,
and lives for a minute. A service refuses every other request with 401 before its body is read;
only the probes and the scrape (`/health/live`, `/health/ready`, `/metrics`) stay open.

Tokens and the secret are never logged nor echoed in an error.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol, get_args

import jwt
import structlog
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from wallet_shared.contracts.errors import Unauthorized
from wallet_shared.contracts.schemas import Role
from wallet_shared.platform.problems import problem_response

__all__ = [
    "INTERNAL_AUDIENCE",
    "OPEN_PATHS",
    "Caller",
    "CallerIdentity",
    "InvalidServiceCredential",
    "RequireServiceCredential",
    "ServiceTokenIssuer",
    "ServiceTokenVerifier",
    "caller_of_scope",
]

INTERNAL_AUDIENCE: Final = "wallet-internal"
ALGORITHM: Final = "HS256"
MIN_SECRET_BYTES: Final = 32
"""RFC 7518 §3.2: an HS256 key at least as long as the hash."""
TOKEN_LIFETIME_S: Final = 60
MAX_TOKEN_LIFETIME_S: Final = 300
"""Longer-lived tokens are refused, whoever minted them: a stolen one must not last."""
CLOCK_LEEWAY_S: Final = 5
"""Clock skew tolerated between the issuing and the verifying host."""
ISSUED_TOKENS_CAPACITY: Final = 10_000
"""Tokens an issuer keeps for reuse, and a verifier remembers as proven."""
MAX_TOKEN_CHARS: Final = 4096
OPEN_PATHS: Final = frozenset({"/health/live", "/health/ready", "/metrics"})
"""Probes and scrapers carry no credential, and these routes reveal nothing and move nothing."""
CALLER_STATE_KEY: Final = "service_caller"

_log = structlog.get_logger(__name__)

_ROLES: Final[frozenset[str]] = frozenset(get_args(Role))
_BEARER: Final = re.compile(r"^Bearer[ \t]+(\S+)[ \t]*$", re.IGNORECASE)
_REQUIRED_CLAIMS: Final = ["iss", "aud", "sub", "role", "iat", "exp"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling an internal route, as the calling service's credential names them."""

    user_id: str
    role: Role
    owner_scope: str | None
    """Set for role `user`: only this owner's wallets are visible."""
    service: str | None = None
    """The internal service that made the call (the credential's issuer)."""


class CallerIdentity(Protocol):
    """What a credential says about the end user (the gateway's `Principal`, a `Caller`)."""

    @property
    def user_id(self) -> str: ...

    @property
    def role(self) -> Role: ...

    @property
    def owner_scope(self) -> str | None: ...


class InvalidServiceCredential(Unauthorized):
    """The request carries no acceptable service credential."""


def secret_bytes(secret: SecretStr | str) -> bytes:
    """The HMAC key of an internal secret; `ValueError` when it is too short to be one."""
    text = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    key = text.encode("utf-8")
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"the internal secret must be at least {MIN_SECRET_BYTES} bytes")
    return key


@dataclass(frozen=True, slots=True)
class _Issued:
    authorization: str
    issued_at: int


class ServiceTokenIssuer:
    """Mints the credentials of one calling service, reusing each for part of its lifetime.

    Signing costs more than the rest of a cheap internal call, and the gateway makes one or more
    per public request: a token is reused for the same (user, role, scope) until `reuse_s` after
    it was issued, which leaves the receiver most of its lifetime to accept it.
    """

    def __init__(
        self,
        *,
        secret: SecretStr | str,
        service: str,
        lifetime_s: int = TOKEN_LIFETIME_S,
        reuse_s: float | None = None,
        clock: Callable[[], float] = time.time,
        capacity: int = ISSUED_TOKENS_CAPACITY,
    ) -> None:
        reuse = lifetime_s / 2 if reuse_s is None else reuse_s
        if not 0 < lifetime_s <= MAX_TOKEN_LIFETIME_S or not 0 <= reuse < lifetime_s:
            raise ValueError("need 0 < lifetime_s <= 300 and 0 <= reuse_s < lifetime_s")
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._key = secret_bytes(secret)
        self._service = service
        self._lifetime_s = lifetime_s
        self._reuse_s = reuse
        self._clock = clock
        self._capacity = capacity
        self._issued: OrderedDict[tuple[str, str, str | None], _Issued] = OrderedDict()

    def authorization(self, caller: CallerIdentity) -> str:
        """The `Authorization` header value of a call made on behalf of `caller`."""
        key = (caller.user_id, caller.role, caller.owner_scope)
        now = self._clock()
        issued = self._issued.get(key)
        # `issued_at <= now`: a clock set back must not stretch a token's reuse.
        if issued is None or not issued.issued_at <= now < issued.issued_at + self._reuse_s:
            issued = _Issued(f"Bearer {self._mint(caller, int(now))}", int(now))
            self._issued[key] = issued
            if len(self._issued) > self._capacity:
                self._issued.popitem(last=False)
        self._issued.move_to_end(key)
        return issued.authorization

    def _mint(self, caller: CallerIdentity, now: int) -> str:
        claims = {
            "iss": self._service,
            "aud": INTERNAL_AUDIENCE,
            "sub": caller.user_id,
            "role": caller.role,
            "scope": caller.owner_scope,
            "iat": now,
            "exp": now + self._lifetime_s,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)


@dataclass(frozen=True, slots=True)
class _Proven:
    caller: Caller
    issued_at: int
    expires_at: int


class ServiceTokenVerifier:
    """Checks service credentials against the internal secret, at the injected clock's time.

    A signature once checked is remembered for its token (at most `capacity` of them, least
    recently used dropped): the gateway sends the same token for many calls, and checking it again
    would cost more than a cheap route. Its times are checked on every call all the same.
    """

    def __init__(
        self,
        *,
        secret: SecretStr | str,
        clock: Callable[[], float] = time.time,
        leeway_s: int = CLOCK_LEEWAY_S,
        capacity: int = ISSUED_TOKENS_CAPACITY,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._key = secret_bytes(secret)
        self._clock = clock
        self._leeway_s = leeway_s
        self._capacity = capacity
        self._proven: OrderedDict[str, _Proven] = OrderedDict()

    def verify(self, authorization: str | None) -> Caller:
        """The caller an `Authorization: Bearer <token>` header proves; otherwise
        `InvalidServiceCredential` (a fixed sentence: nothing of the token is echoed)."""
        token = _bearer_token(authorization)
        proven = self._proven.get(token) or self._prove(token)
        try:
            self._check_times(proven)
        except InvalidServiceCredential:
            self._proven.pop(token, None)
            raise
        self._proven[token] = proven
        self._proven.move_to_end(token)
        if len(self._proven) > self._capacity:
            self._proven.popitem(last=False)
        return proven.caller

    def _prove(self, token: str) -> _Proven:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=INTERNAL_AUDIENCE,
                # Times are checked against the injected clock, not PyJWT's.
                options={
                    "require": _REQUIRED_CLAIMS,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            # `from None`: the library's message and the token stay out of tracebacks and logs.
            raise InvalidServiceCredential("The service credential is not valid.") from None
        issued_at, expires_at = claims["iat"], claims["exp"]
        if type(issued_at) is not int or type(expires_at) is not int:
            raise InvalidServiceCredential("The service credential is not valid.")
        return _Proven(_caller(claims), issued_at, expires_at)

    def _check_times(self, proven: _Proven) -> None:
        now = self._clock()
        if now >= proven.expires_at + self._leeway_s:
            raise InvalidServiceCredential("The service credential has expired.")
        too_long = proven.expires_at - proven.issued_at > MAX_TOKEN_LIFETIME_S
        if proven.issued_at > now + self._leeway_s or too_long:
            raise InvalidServiceCredential("The service credential is not valid.")


def _caller(claims: dict[str, Any]) -> Caller:
    user_id, role, scope, service = (claims.get(k) for k in ("sub", "role", "scope", "iss"))
    if not isinstance(user_id, str) or role not in _ROLES or not isinstance(service, str):
        raise InvalidServiceCredential("The service credential is not valid.")
    if scope is not None and not isinstance(scope, str):
        raise InvalidServiceCredential("The service credential is not valid.")
    if role == "user" and scope is None:  # a user is always limited to their own wallets
        raise InvalidServiceCredential("The service credential is not valid.")
    return Caller(user_id=user_id, role=role, owner_scope=scope, service=service)


def _bearer_token(authorization: str | None) -> str:
    if authorization is None or not authorization.strip():
        raise InvalidServiceCredential("This service needs a service credential.")
    match = _BEARER.fullmatch(authorization)
    if match is None or len(match.group(1)) > MAX_TOKEN_CHARS:
        raise InvalidServiceCredential("The service credential is not valid.")
    return match.group(1)


class RequireServiceCredential:
    """ASGI middleware: every request but `open_paths` proves its caller, or is refused with 401
    before the route, its dependencies or its body are touched.

    A middleware rather than a dependency, so that no route can forget it: the routes of the
    dead letters, the integrity check and whatever is added later are all behind it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: ServiceTokenVerifier,
        open_paths: frozenset[str] = OPEN_PATHS,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or (
            scope["type"] == "http" and scope["path"] in self.open_paths
        ):
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websocket or other protocol is served
            await send({"type": "websocket.close", "code": 1008})
            return
        try:
            caller = self.verifier.verify(Headers(scope=scope).get("authorization"))
        except InvalidServiceCredential as error:
            _log.warning("service_credential_refused", path=scope["path"], reason=error.detail)
            response = problem_response(
                error.code, error.detail, headers={"WWW-Authenticate": "Bearer"}
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[CALLER_STATE_KEY] = caller
        await self.app(scope, receive, send)


def caller_of_scope(scope: Scope) -> Caller:
    """The caller `RequireServiceCredential` proved for this request; 401 when none was (an app
    without the middleware fails closed)."""
    caller = scope.get("state", {}).get(CALLER_STATE_KEY)
    if not isinstance(caller, Caller):
        raise InvalidServiceCredential("This service needs a service credential.")
    return caller
