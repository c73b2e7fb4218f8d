"""The OpenAPI document describes every public route; settings are validated; the process
refuses to start without a way to verify tokens."""

from __future__ import annotations

from typing import Any

import pytest
from gateway.__main__ import _settings_or_exit
from gateway.settings import GatewaySettings
from pydantic import ValidationError

from tests.service_credentials import TEST_INTERNAL_SECRET

ROUTES = {
    ("post", "/v1/wallets"): "201",
    ("get", "/v1/wallets"): "200",
    ("get", "/v1/wallets/{wallet_id}"): "200",
    ("post", "/v1/wallets/{wallet_id}/deposits"): "201",
    ("post", "/v1/wallets/{wallet_id}/withdrawals"): "201",
    ("post", "/v1/wallets/{wallet_id}/freeze"): "200",
    ("post", "/v1/wallets/{wallet_id}/unfreeze"): "200",
    ("post", "/v1/wallets/{wallet_id}/close"): "200",
    ("get", "/v1/wallets/{wallet_id}/transactions"): "200",
    ("post", "/v1/transfers"): "202",
    ("get", "/v1/transfers"): "200",
    ("get", "/v1/transfers/{transfer_id}"): "200",
    ("get", "/v1/admin/integrity"): "200",
}


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def test_every_route_is_documented_with_its_success_model(document: dict[str, Any]) -> None:
    for (method, path), status in ROUTES.items():
        operation = document["paths"][path][method]
        success = operation["responses"][status]["content"]["application/json"]["schema"]
        assert "$ref" in success, (method, path)


def test_problems_are_documented_as_problem_json(document: dict[str, Any]) -> None:
    for method, path in ROUTES:
        responses = document["paths"][path][method]["responses"]
        for status in ("401", "429", "503"):
            content = responses[status]["content"]
            assert list(content) == ["application/problem+json"], (method, path, status)
            assert content["application/problem+json"]["schema"]["$ref"].endswith("/ProblemDetail")


def test_request_bodies_use_the_shared_models(document: dict[str, Any]) -> None:
    def body_ref(method: str, path: str) -> str:
        ref: str = document["paths"][path][method]["requestBody"]["content"]["application/json"][
            "schema"
        ]["$ref"]
        return ref.rsplit("/", 1)[1]

    assert body_ref("post", "/v1/wallets") == "CreateWallet"
    assert body_ref("post", "/v1/wallets/{wallet_id}/deposits") == "Deposit"
    assert body_ref("post", "/v1/transfers") == "CreateTransfer"


def test_headers_are_documented(document: dict[str, Any]) -> None:
    params = document["paths"]["/v1/transfers"]["post"]["parameters"]
    assert {(p["in"], p["name"]) for p in params} >= {
        ("header", "Idempotency-Key"),
        ("header", "Prefer"),
    }


def test_bearer_security_is_declared(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for method, path in ROUTES:
        assert document["paths"][path][method]["security"] == [{"bearerAuth": []}]
    assert "security" not in document["paths"]["/health/live"]["get"]


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for ref in refs(document):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


# Settings.

BASE: dict[str, Any] = {
    "shard_urls": "http://a:1,http://b:2",
    "coordinator_url": "http://c:3",
    "internal_secret": TEST_INTERNAL_SECRET,
}


def base_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALLET_SHARD_URLS", BASE["shard_urls"])
    monkeypatch.setenv("WALLET_COORDINATOR_URL", BASE["coordinator_url"])
    monkeypatch.setenv("WALLET_INTERNAL_SECRET", TEST_INTERNAL_SECRET)


def test_settings_read_the_documented_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "WALLET_GATEWAY_PORT": "8100",
        "WALLET_SHARD_COUNT": "3",
        "WALLET_SHARD_URLS": "http://s0:1/, http://s1:2 ,http://s2:3",
        "WALLET_COORDINATOR_URL": "http://coord:9/",
        "WALLET_JWT_SECRET": "s" * 32,
        "WALLET_JWT_ISSUER": "idp",
        "WALLET_JWT_AUDIENCE": "api",
        "WALLET_RATE_LIMIT_PER_S": "12.5",
        "WALLET_RATE_LIMIT_BURST": "30",
        "WALLET_INTERNAL_SECRET": "i" * 32,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = GatewaySettings()
    assert settings.gateway_port == 8100
    assert settings.shard_url_list() == ("http://s0:1", "http://s1:2", "http://s2:3")
    assert settings.coordinator_base_url() == "http://coord:9"
    assert settings.jwt_secret is not None
    assert settings.jwt_secret.get_secret_value() == "s" * 32
    assert "s" * 32 not in repr(settings)
    assert (settings.jwt_issuer, settings.jwt_audience) == ("idp", "api")
    assert (settings.rate_limit_per_s, settings.rate_limit_burst) == (12.5, 30)
    assert settings.internal_secret.get_secret_value() == "i" * 32
    assert "i" * 32 not in repr(settings)


def test_one_shard_url_per_shard_is_required() -> None:
    with pytest.raises(ValidationError, match="lists 2 URLs but WALLET_SHARD_COUNT is 3"):
        GatewaySettings(shard_count=3, **BASE)


def test_backend_urls_must_be_http() -> None:
    with pytest.raises(ValidationError, match="http"):
        GatewaySettings(shard_urls="a:1,b:2", coordinator_url="http://c:3")


@pytest.mark.parametrize(("field", "value"), [("rate_limit_per_s", 0), ("rate_limit_burst", 0)])
def test_rate_limits_must_be_positive(field: str, value: int) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(**{**BASE, field: value})


def test_the_gateway_refuses_to_start_without_a_token_key(monkeypatch: pytest.MonkeyPatch) -> None:
    base_environment(monkeypatch)
    monkeypatch.delenv("WALLET_JWT_SECRET", raising=False)
    monkeypatch.delenv("WALLET_JWT_PUBLIC_KEY", raising=False)
    with pytest.raises(SystemExit) as exited:
        _settings_or_exit()
    assert "WALLET_JWT_SECRET" in str(exited.value.code)


def test_invalid_settings_exit_without_echoing_values(monkeypatch: pytest.MonkeyPatch) -> None:
    base_environment(monkeypatch)
    monkeypatch.setenv("WALLET_JWT_SECRET", "top-secret-value-top-secret-value")
    monkeypatch.setenv("WALLET_RATE_LIMIT_BURST", "lots")
    with pytest.raises(SystemExit) as exited:
        _settings_or_exit()
    message = str(exited.value.code)
    assert "WALLET_RATE_LIMIT_BURST" in message
    assert "lots" not in message
    assert "top-secret" not in message


def test_the_gateway_refuses_to_start_without_an_internal_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base_environment(monkeypatch)
    monkeypatch.setenv("WALLET_JWT_SECRET", "j" * 32)
    monkeypatch.delenv("WALLET_INTERNAL_SECRET")
    with pytest.raises(SystemExit) as exited:
        _settings_or_exit()
    assert "WALLET_INTERNAL_SECRET: required, not set" in str(exited.value.code)

    monkeypatch.setenv("WALLET_INTERNAL_SECRET", "short-internal")
    with pytest.raises(SystemExit) as exited:
        _settings_or_exit()
    assert "WALLET_INTERNAL_SECRET: the internal secret must be at least 32 bytes" in str(
        exited.value.code
    )
    assert "short-internal" not in str(exited.value.code)


def test_the_internal_secret_is_not_the_public_one() -> None:
    with pytest.raises(ValidationError, match="must differ from WALLET_JWT_SECRET"):
        GatewaySettings(**{**BASE, "jwt_secret": TEST_INTERNAL_SECRET})


def test_problem_headers_are_documented(document: dict[str, Any]) -> None:
    responses = document["paths"]["/v1/wallets"]["get"]["responses"]
    assert "Retry-After" in responses["429"]["headers"]
    assert "WWW-Authenticate" in responses["401"]["headers"]
