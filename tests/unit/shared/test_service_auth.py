"""Service credentials (wallet_shared.platform.service_auth): what an issuer mints, how long it reuses a
token, and what a verifier accepts — all on clocks the tests move."""

from __future__ import annotations

import os
from typing import Any

import jwt
import pytest
from pydantic import ValidationError
from wallet_shared.platform.service_auth import (
    INTERNAL_AUDIENCE,
    Caller,
    InvalidServiceCredential,
    ServiceTokenIssuer,
    ServiceTokenVerifier,
)
from wallet_shared.platform.settings import ServiceSettings, settings_or_exit

SECRET = "unit-test-internal-secret-of-32-bytes-or-more"
ALICE = Caller(user_id="alice", role="user", owner_scope="alice")
ROOT = Caller(user_id="root", role="admin", owner_scope=None)
T0 = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issuer(clock: Clock) -> ServiceTokenIssuer:
    return ServiceTokenIssuer(secret=SECRET, service="gateway", clock=clock)


@pytest.fixture
def verifier(clock: Clock) -> ServiceTokenVerifier:
    return ServiceTokenVerifier(secret=SECRET, clock=clock)


def forged(claims: dict[str, Any], secret: str = SECRET, **extra: Any) -> str:
    base: dict[str, Any] = {"iss": "gateway", "aud": INTERNAL_AUDIENCE, "sub": "root"}
    base |= {"role": "admin"}
    base |= {"scope": None, "iat": int(T0), "exp": int(T0) + 60}
    return "Bearer " + jwt.encode(base | claims, secret, algorithm="HS256", **extra)


def test_a_credential_names_the_service_and_the_user(
    issuer: ServiceTokenIssuer, verifier: ServiceTokenVerifier
) -> None:
    assert verifier.verify(issuer.authorization(ALICE)) == Caller(
        "alice", "user", "alice", service="gateway"
    )
    assert verifier.verify(issuer.authorization(ROOT)).owner_scope is None


def test_a_user_without_an_owner_scope_is_refused(
    issuer: ServiceTokenIssuer, verifier: ServiceTokenVerifier
) -> None:
    # A user is always limited to their own wallets: no scope would mean every wallet.
    with pytest.raises(InvalidServiceCredential):
        verifier.verify(issuer.authorization(Caller("alice", "user", None)))


def test_claims_are_short_lived_and_for_internal_calls_only(issuer: ServiceTokenIssuer) -> None:
    token = issuer.authorization(ALICE).removeprefix("Bearer ")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_signature": False})
    assert claims == {
        "iss": "gateway",
        "aud": INTERNAL_AUDIENCE,
        "sub": "alice",
        "role": "user",
        "scope": "alice",
        "iat": int(T0),
        "exp": int(T0) + 60,
    }


def test_a_token_is_reused_for_half_its_life_per_user_role_and_scope(
    issuer: ServiceTokenIssuer, clock: Clock
) -> None:
    first = issuer.authorization(ALICE)
    assert issuer.authorization(ROOT) != first
    clock.now += 29.9
    assert issuer.authorization(ALICE) == first
    clock.now += 0.1
    renewed = issuer.authorization(ALICE)
    assert renewed != first
    clock.now -= 10  # a clock set back must not stretch the reuse
    assert issuer.authorization(ALICE) != renewed


def test_the_issued_tokens_kept_are_bounded(clock: Clock) -> None:
    issuer = ServiceTokenIssuer(secret=SECRET, service="gateway", clock=clock, capacity=2)
    users = [Caller(f"u{n}", "user", f"u{n}") for n in range(3)]
    tokens = [issuer.authorization(user) for user in users]
    assert issuer.authorization(users[2]) == tokens[2]
    clock.now += 1  # a new second: a dropped token would be minted anew, differently
    assert issuer.authorization(users[0]) != tokens[0]


@pytest.mark.parametrize(("lifetime", "reuse"), [(0, 0), (301, 10), (60, 60), (60, -1)])
def test_lifetimes_that_would_outlive_their_purpose_are_refused(lifetime: int, reuse: int) -> None:
    with pytest.raises(ValueError, match="lifetime_s"):
        ServiceTokenIssuer(secret=SECRET, service="gateway", lifetime_s=lifetime, reuse_s=reuse)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        ServiceTokenVerifier(secret="short")
    with pytest.raises(ValidationError, match="32 bytes") as refused:
        ServiceSettings(internal_secret="short-secret-value")
    assert "short-secret-value" not in str(refused.value)


def test_expired_is_refused_after_the_leeway(
    issuer: ServiceTokenIssuer, verifier: ServiceTokenVerifier, clock: Clock
) -> None:
    token = issuer.authorization(ALICE)
    clock.now += 64.9
    assert verifier.verify(token).user_id == "alice"
    clock.now += 0.1
    with pytest.raises(InvalidServiceCredential, match="expired"):
        verifier.verify(token)


# Built when the test runs (never at import): a fixed header, or the claims a forger changes.
REFUSED: list[str | dict[str, Any] | None] = [
    None,
    "",
    "Basic cm9vdDpyb290",
    "Bearer",
    "Bearer not.a.jwt",
    {"secret": "another-secret-of-at-least-thirty-two-bytes"},
    {"aud": "wallet-api"},
    {"aud": None},
    {"role": "superuser"},
    {"sub": 7},
    {"scope": ["alice"]},
    {"iat": int(T0) + 60, "exp": int(T0) + 120},  # issued in the future
    {"exp": int(T0) + 3600},  # lives too long
    {"iat": float(T0)},
    {"alg": "HS512"},
    {"alg": "none"},
]


def authorization_of(case: str | dict[str, Any] | None) -> str | None:
    if not isinstance(case, dict):
        return case
    claims = dict(case)
    secret, algorithm = claims.pop("secret", SECRET), claims.pop("alg", "HS256")
    if algorithm == "none":
        return "Bearer " + jwt.encode({"sub": "root", "role": "admin"}, "", algorithm="none")
    return forged(claims, secret, headers={"alg": algorithm})


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the HS512 case
@pytest.mark.parametrize("case", REFUSED)
def test_anything_else_is_refused(
    verifier: ServiceTokenVerifier, case: str | dict[str, Any] | None
) -> None:
    authorization = authorization_of(case)
    with pytest.raises(InvalidServiceCredential) as refused:
        verifier.verify(authorization)
    assert refused.value.code == "unauthorized"
    if authorization:
        assert authorization.removeprefix("Bearer ") not in str(refused.value)


def test_a_public_user_token_is_not_a_service_credential(verifier: ServiceTokenVerifier) -> None:
    public = jwt.encode(
        {"sub": "alice", "role": "admin", "exp": int(T0) + 60},
        "the-public-jwt-secret-of-at-least-32-bytes",
        algorithm="HS256",
    )
    with pytest.raises(InvalidServiceCredential):
        verifier.verify(f"Bearer {public}")


def test_a_remembered_token_still_expires_and_the_memory_is_bounded(
    issuer: ServiceTokenIssuer, clock: Clock
) -> None:
    verifier = ServiceTokenVerifier(secret=SECRET, clock=clock, capacity=1)
    token = issuer.authorization(ALICE)
    assert verifier.verify(token) == verifier.verify(token)
    assert verifier.verify(issuer.authorization(ROOT)).user_id == "root"  # evicts alice's
    assert verifier.verify(token).user_id == "alice"  # checked again, still good
    clock.now += 65
    for _ in range(2):
        with pytest.raises(InvalidServiceCredential, match="expired"):
            verifier.verify(token)


def test_a_service_without_the_internal_secret_exits_saying_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [key for key in os.environ if key.startswith("WALLET_")]:
        monkeypatch.delenv(name)
    with pytest.raises(SystemExit) as exited:
        settings_or_exit(ServiceSettings, service="wallet-shard")
    assert str(exited.value.code) == (
        "wallet-shard: invalid settings (WALLET_* environment): "
        "WALLET_INTERNAL_SECRET: required, not set"
    )
    monkeypatch.setenv("WALLET_INTERNAL_SECRET", SECRET)
    settings = settings_or_exit(ServiceSettings, service="wallet-shard")
    assert settings.internal_secret.get_secret_value() == SECRET
