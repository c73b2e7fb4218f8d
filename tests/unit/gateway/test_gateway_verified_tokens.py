"""Verified tokens are remembered only while PyJWT would still accept them."""

from __future__ import annotations

import dataclasses
import time

import jwt
import pytest
from gateway.adapters.tokens import InvalidToken, TokenVerifier, VerifiedTokens
from gateway.domain.principal import Principal

from .gateway_fakes import SECRET

ALICE = Principal("alice", "user")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_remembered_token_proves_its_caller_until_exp() -> None:
    clock = Clock(1000.0)
    verified = VerifiedTokens(clock=clock)
    verified.remember("t", ALICE, {"sub": "alice", "exp": 1010, "iat": 990})
    assert verified.principal("t") == ALICE
    clock.now = 1009.99
    assert verified.principal("t") == ALICE
    clock.now = 1010.0
    assert verified.principal("t") is None
    assert len(verified) == 0


def test_a_remembered_token_proves_nothing_before_nbf() -> None:
    clock = Clock(1000.0)
    verified = VerifiedTokens(clock=clock)
    verified.remember("t", ALICE, {"sub": "alice", "exp": 2000, "nbf": 1000})
    clock.now = 999.5
    assert verified.principal("t") is None


def test_the_least_recently_used_token_is_forgotten_first() -> None:
    verified = VerifiedTokens(capacity=2, clock=Clock(0.0))
    for token in ("a", "b"):
        verified.remember(token, ALICE, {"exp": 10})
    assert verified.principal("a") == ALICE
    verified.remember("c", ALICE, {"exp": 10})
    assert verified.principal("b") is None
    assert verified.principal("a") == ALICE


def test_an_expired_token_is_refused_even_after_it_was_accepted() -> None:
    expired_at = int(time.time()) - 10
    clock = Clock(expired_at - 5.0)  # the cache's clock: at first, an instant the token held
    verifier = dataclasses.replace(
        TokenVerifier.create(secret=SECRET, public_key_pem=None),
        verified=VerifiedTokens(clock=clock),
    )
    claims = {"sub": "alice", "exp": expired_at}
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    verifier.verified.remember(token, ALICE, claims)  # as when it was verified, in time
    assert verifier.authenticate(f"Bearer {token}") == ALICE
    # Past its exp the remembered proof is gone, and the token itself is refused.
    clock.now = time.time()
    with pytest.raises(InvalidToken, match="expired"):
        verifier.authenticate(f"Bearer {token}")
    assert len(verifier.verified) == 0


def test_a_refused_token_is_not_remembered() -> None:
    verifier = TokenVerifier.create(secret=SECRET, public_key_pem=None)
    token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, "x" * 32, algorithm="HS256")
    with pytest.raises(InvalidToken):
        verifier.authenticate(f"Bearer {token}")
    assert len(verifier.verified) == 0
