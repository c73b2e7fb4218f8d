"""Bearer token verification: who is calling, and with which role.

Pure: no HTTP framework here. The algorithm list is pinned to the one the configured key is for,
so `alg: none`, HS/RS confusion and every other algorithm are refused before any claim is read.
Tokens are never logged nor echoed in an error.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.exceptions import InvalidSubjectError
from wallet_shared.contracts.errors import Unauthorized
from wallet_shared.contracts.ids import is_valid_user_id
from wallet_shared.contracts.schemas import Role

from gateway.domain.principal import Principal

ROLES: Final[dict[str, Role]] = {role: role for role in get_args(Role)}

MIN_HS256_SECRET_BYTES: Final = 32
MAX_TOKEN_CHARS: Final = 8192
VERIFIED_TOKENS_CAPACITY: Final = 10_000

_BEARER: Final = re.compile(r"^Bearer[ \t]+(\S+)[ \t]*$", re.IGNORECASE)


class TokenKeyError(ValueError):
    """The configured verification key cannot be used (missing, too short, not an RSA key)."""


class InvalidToken(Unauthorized):
    """The request carries no acceptable bearer token."""

    def __init__(self, detail: str, *, missing: bool = False) -> None:
        super().__init__(detail)
        # RFC 6750 §3: no error code when the client simply sent no credentials.
        self.challenge = "Bearer" if missing else 'Bearer error="invalid_token"'


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    not_before: int
    """The token's `nbf` or `iat`, whichever is later (0 when it has neither)."""
    expires_at: int


class VerifiedTokens:
    """Tokens already verified, with what they proved: a bounded least-recently-used map.

    Callers send the same token with every request, and checking its signature again costs more
    than the rest of the gateway's own work on a request. A remembered token proves its caller
    only within the time window PyJWT would accept it in (`nbf`, `iat` ≤ now < `exp`): past it,
    the token is verified again, and refused. Keys are the tokens themselves: never log them.
    """

    def __init__(
        self, *, capacity: int = VERIFIED_TOKENS_CAPACITY, clock: Callable[[], float] = time.time
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._clock = clock
        self._verified: OrderedDict[str, _Verified] = OrderedDict()

    def __len__(self) -> int:
        return len(self._verified)

    def principal(self, token: str) -> Principal | None:
        """The caller `token` proved, when it was verified and still holds at this instant."""
        verified = self._verified.get(token)
        if verified is None:
            return None
        now = self._clock()
        if not verified.not_before <= now < verified.expires_at:
            del self._verified[token]
            return None
        self._verified.move_to_end(token)
        return verified.principal

    def remember(self, token: str, principal: Principal, claims: dict[str, Any]) -> None:
        """Remember a token that has just passed every check, with its verified `claims`."""
        # PyJWT compares the claims truncated to integers (it has checked that they are numbers).
        not_before = max(int(claims.get("nbf", 0)), int(claims.get("iat", 0)))
        self._verified[token] = _Verified(principal, not_before, int(claims["exp"]))
        self._verified.move_to_end(token)
        if len(self._verified) > self._capacity:
            self._verified.popitem(last=False)


@dataclass(frozen=True, slots=True)
class TokenVerifier:
    """Verifies JWTs against one key, one pinned algorithm, and the configured issuer/audience."""

    key: str | bytes | RSAPublicKey
    algorithm: Literal["HS256", "RS256"]
    issuer: str | None = None
    audience: str | None = None
    verified: VerifiedTokens = field(default_factory=VerifiedTokens, compare=False, repr=False)

    @classmethod
    def create(
        cls,
        *,
        secret: str | None,
        public_key_pem: str | None,
        issuer: str | None = None,
        audience: str | None = None,
    ) -> TokenVerifier:
        """RS256 with the public key when one is given, else HS256 with the secret."""
        if public_key_pem:
            return cls(_rsa_public_key(public_key_pem), "RS256", issuer, audience)
        if secret:
            encoded = secret.encode("utf-8")
            if len(encoded) < MIN_HS256_SECRET_BYTES:
                raise TokenKeyError(
                    f"WALLET_JWT_SECRET must be at least {MIN_HS256_SECRET_BYTES} bytes "
                    "(RFC 7518 §3.2 requires an HS256 key as long as the hash)"
                )
            return cls(encoded, "HS256", issuer, audience)
        raise TokenKeyError(
            "no token key configured: set WALLET_JWT_SECRET (HS256) or "
            "WALLET_JWT_PUBLIC_KEY (RS256, PEM)"
        )

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller named by an `Authorization: Bearer <JWT>` header, or `InvalidToken`."""
        token = _bearer_token(authorization)
        principal = self.verified.principal(token)
        if principal is None:
            claims = self._claims(token)
            principal = self._principal(claims)
            self.verified.remember(token, principal, claims)
        return principal

    def _claims(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(_reason(error)) from None  # `from None`: the token stays out of logs
        return claims

    @staticmethod
    def _principal(claims: dict[str, Any]) -> Principal:
        subject = claims["sub"]
        if not isinstance(subject, str) or not is_valid_user_id(subject):
            raise InvalidToken("The token's subject must be 1-64 characters of [A-Za-z0-9_-].")
        claimed = claims.get("role", "user")
        role = ROLES.get(claimed) if isinstance(claimed, str) else None
        if role is None:
            raise InvalidToken("The token's role must be one of user, admin, auditor.")
        return Principal(user_id=subject, role=role)


def _bearer_token(authorization: str | None) -> str:
    if authorization is None or not authorization.strip():
        raise InvalidToken(
            "Authentication required: send Authorization: Bearer <token>.", missing=True
        )
    match = _BEARER.fullmatch(authorization)
    if match is None:
        raise InvalidToken("The Authorization header must be 'Bearer <token>'.")
    token = match.group(1)
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken("The bearer token is too long.")
    return token


def _reason(error: jwt.PyJWTError) -> str:
    # Fixed sentences per failure kind: the library's messages may quote token content.
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"The token lacks the required claim {error.claim!r}."  # one of our claim names
    reasons: list[tuple[type[jwt.PyJWTError], str]] = [
        (jwt.ExpiredSignatureError, "The token has expired."),
        (jwt.ImmatureSignatureError, "The token is not valid yet."),
        (jwt.InvalidAlgorithmError, "The token is signed with an algorithm that is not accepted."),
        (jwt.InvalidSignatureError, "The token's signature is not valid."),
        (jwt.InvalidIssuerError, "The token's issuer is not accepted."),
        (jwt.InvalidAudienceError, "The token's audience is not accepted."),
        (InvalidSubjectError, "The token's subject must be 1-64 characters of [A-Za-z0-9_-]."),
        (jwt.DecodeError, "The bearer token is malformed."),
    ]
    for kind, sentence in reasons:
        if isinstance(error, kind):
            return sentence
    return "The bearer token is not valid."


def _rsa_public_key(pem: str) -> RSAPublicKey:
    # Environment variables often carry PEM newlines as the two characters "\n".
    text = pem.replace("\\n", "\n").strip()
    try:
        key = load_pem_public_key(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as error:
        raise TokenKeyError("WALLET_JWT_PUBLIC_KEY is not a PEM public key") from error
    if not isinstance(key, RSAPublicKey):
        raise TokenKeyError("WALLET_JWT_PUBLIC_KEY must be an RSA public key (RS256)")
    return key
