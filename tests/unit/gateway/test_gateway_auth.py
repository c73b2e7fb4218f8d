"""Bearer token verification: every way a token can be wrong is a 401 that says why, never
echoing the token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from gateway.adapters.tokens import InvalidToken, TokenKeyError, TokenVerifier
from gateway.domain.principal import Principal

from .gateway_fakes import SECRET, bearer

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PUBLIC_PEM = (
    RSA_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def claims(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"sub": "alice", "exp": int(time.time()) + 60}
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def hs256(**overrides: Any) -> str:
    return jwt.encode(claims(**overrides), SECRET, algorithm="HS256")


def header(token: str) -> str:
    return f"Bearer {token}"


@pytest.fixture
def verifier() -> TokenVerifier:
    return TokenVerifier.create(secret=SECRET, public_key_pem=None)


def rejection(verifier: TokenVerifier, authorization: str | None) -> InvalidToken:
    with pytest.raises(InvalidToken) as caught:
        verifier.authenticate(authorization)
    return caught.value


def test_a_valid_token_names_the_caller_and_role(verifier: TokenVerifier) -> None:
    assert verifier.authenticate(header(hs256(role="admin"))) == Principal("alice", "admin")


def test_the_role_defaults_to_user(verifier: TokenVerifier) -> None:
    principal = verifier.authenticate(header(hs256()))
    assert principal.role == "user"
    assert principal.owner_scope == "alice"


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_privileged_roles_have_no_owner_scope(verifier: TokenVerifier, role: str) -> None:
    assert verifier.authenticate(header(hs256(role=role))).owner_scope is None


@pytest.mark.parametrize("authorization", [None, "", "   "])
def test_a_missing_header_asks_for_credentials(
    verifier: TokenVerifier, authorization: str | None
) -> None:
    error = rejection(verifier, authorization)
    assert error.challenge == "Bearer"
    assert "Authorization: Bearer" in error.detail


@pytest.mark.parametrize(
    "authorization", ["Basic YWxpY2U6cHc=", "Bearer", "Bearer a b", "Token abc", "bearer"]
)
def test_a_header_that_is_not_one_bearer_token_is_refused(
    verifier: TokenVerifier, authorization: str
) -> None:
    error = rejection(verifier, authorization)
    assert error.challenge == 'Bearer error="invalid_token"'


def test_the_scheme_is_case_insensitive(verifier: TokenVerifier) -> None:
    assert verifier.authenticate(f"bearer {hs256()}").user_id == "alice"


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "x" * 9000])
def test_garbage_is_refused(verifier: TokenVerifier, token: str) -> None:
    rejection(verifier, header(token))


def test_a_token_signed_with_another_secret_is_refused(verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(), "another-secret-another-secret-another", algorithm="HS256")
    assert "signature" in rejection(verifier, header(token)).detail


def test_alg_none_is_refused(verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(), "", algorithm="none")
    assert "algorithm" in rejection(verifier, header(token)).detail


def test_alg_none_crafted_by_hand_is_refused(verifier: TokenVerifier) -> None:
    none_header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    token = f"{none_header}.{b64url(json.dumps(claims(role='admin')).encode())}."
    rejection(verifier, header(token))


def test_hs512_with_the_right_secret_is_refused(verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS512")
    assert "algorithm" in rejection(verifier, header(token)).detail


def test_rs256_is_refused_when_the_gateway_uses_a_secret(verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(), RSA_KEY, algorithm="RS256")
    rejection(verifier, header(token))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_hs256_is_refused_when_the_gateway_uses_a_public_key() -> None:
    verifier = TokenVerifier.create(secret=SECRET, public_key_pem=RSA_PUBLIC_PEM)
    # The classic confusion attack: an HMAC token keyed with the (public) RSA key text.
    header_part = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header_part}.{b64url(json.dumps(claims(role='admin')).encode())}"
    signature = hmac.new(RSA_PUBLIC_PEM.encode(), signing_input.encode(), hashlib.sha256).digest()
    error = rejection(verifier, header(f"{signing_input}.{b64url(signature)}"))
    assert "algorithm" in error.detail
    # With a public key configured the shared secret is not accepted either: RS256 only.
    rejection(verifier, header(hs256()))


def test_rs256_tokens_pass_with_the_public_key() -> None:
    verifier = TokenVerifier.create(secret=None, public_key_pem=RSA_PUBLIC_PEM)
    token = jwt.encode(claims(role="auditor"), RSA_KEY, algorithm="RS256")
    assert verifier.authenticate(header(token)) == Principal("alice", "auditor")


def test_a_public_key_with_escaped_newlines_is_accepted() -> None:
    escaped = RSA_PUBLIC_PEM.replace("\n", "\\n")
    verifier = TokenVerifier.create(secret=None, public_key_pem=escaped)
    token = jwt.encode(claims(), RSA_KEY, algorithm="RS256")
    assert verifier.authenticate(header(token)).user_id == "alice"


def test_an_expired_token_is_refused(verifier: TokenVerifier) -> None:
    error = rejection(verifier, header(hs256(exp=int(time.time()) - 10)))
    assert error.detail == "The token has expired."


def test_a_token_without_exp_is_refused(verifier: TokenVerifier) -> None:
    token = jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256")
    assert "'exp'" in rejection(verifier, header(token)).detail


def test_a_token_without_sub_is_refused(verifier: TokenVerifier) -> None:
    token = jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    assert "'sub'" in rejection(verifier, header(token)).detail


def test_a_token_not_valid_yet_is_refused(verifier: TokenVerifier) -> None:
    rejection(verifier, header(hs256(nbf=int(time.time()) + 600)))


@pytest.mark.parametrize("sub", ["", "a" * 65, "alice bob", "al/ice", "ünï", 42, ["alice"]])
def test_a_bad_subject_is_refused(verifier: TokenVerifier, sub: Any) -> None:
    token = jwt.encode(claims(sub=sub), SECRET, algorithm="HS256")
    assert "subject" in rejection(verifier, header(token)).detail


@pytest.mark.parametrize("role", ["root", "ADMIN", "", 1, ["admin"], {"role": "admin"}])
def test_a_bad_role_is_refused(verifier: TokenVerifier, role: Any) -> None:
    assert "role" in rejection(verifier, header(hs256(role=role))).detail


def test_issuer_and_audience_are_checked_when_configured() -> None:
    verifier = TokenVerifier.create(
        secret=SECRET, public_key_pem=None, issuer="wallet-idp", audience="wallet-api"
    )
    good = hs256(iss="wallet-idp", aud="wallet-api")
    assert verifier.authenticate(header(good)).user_id == "alice"
    assert "issuer" in rejection(verifier, header(hs256(iss="evil", aud="wallet-api"))).detail
    assert "audience" in rejection(verifier, header(hs256(iss="wallet-idp", aud="other"))).detail
    assert "'iss'" in rejection(verifier, header(hs256(aud="wallet-api"))).detail
    assert "'aud'" in rejection(verifier, header(hs256(iss="wallet-idp"))).detail


def test_issuer_and_audience_are_ignored_when_not_configured(verifier: TokenVerifier) -> None:
    assert verifier.authenticate(header(hs256(iss="anyone", aud="anything"))).user_id == "alice"


def test_a_short_secret_is_refused_at_start() -> None:
    with pytest.raises(TokenKeyError, match="32 bytes"):
        TokenVerifier.create(secret="short", public_key_pem=None)


def test_no_key_at_all_is_refused_at_start() -> None:
    with pytest.raises(TokenKeyError, match="WALLET_JWT_SECRET"):
        TokenVerifier.create(secret=None, public_key_pem=None)


def test_a_public_key_that_is_not_rsa_is_refused_at_start() -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(TokenKeyError, match="RSA"):
        TokenVerifier.create(secret=None, public_key_pem=ec_pem)
    with pytest.raises(TokenKeyError, match="PEM"):
        TokenVerifier.create(secret=None, public_key_pem="not a key")


# Through HTTP: the problem, its header, and nothing of the token in the answer.


async def test_a_request_without_token_gets_401_with_a_bearer_challenge(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/wallets")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unauthorized"


async def test_a_bad_token_gets_401_that_never_echoes_it(client: httpx.AsyncClient) -> None:
    token = jwt.encode(claims(exp=int(time.time()) - 5), SECRET, algorithm="HS256")
    response = await client.get("/v1/wallets", headers={"Authorization": header(token)})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert token not in response.text
    assert token.split(".")[1] not in response.text
    assert response.json()["detail"] == "The token has expired."


async def test_authentication_comes_before_body_parsing(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/wallets", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 401


async def test_health_metrics_and_docs_need_no_token(client: httpx.AsyncClient) -> None:
    for path in ("/health/live", "/health/ready", "/metrics", "/openapi.json"):
        assert (await client.get(path)).status_code == 200, path


async def test_valid_tokens_reach_the_routes(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/wallets", headers=bearer("alice"))
    assert response.status_code == 200
