"""Every /v1 route of API.md is in the gateway's /openapi.json with its request and response
schemas and an example of each.

The routes are read from API.md's route table when the contract sits beside the repository
(`../shared/API.md`, as in development); the list below is what the gateway serves today, and
API.md's routes not built yet are named so that a route can neither vanish nor be forgotten.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

API_MD = Path(__file__).resolve().parents[3].parent / "shared" / "API.md"

BUILT = {
    ("post", "/v1/wallets"),
    ("get", "/v1/wallets"),
    ("get", "/v1/wallets/{}"),
    ("post", "/v1/wallets/{}/deposits"),
    ("post", "/v1/wallets/{}/withdrawals"),
    ("post", "/v1/wallets/{}/purchases"),
    ("post", "/v1/wallets/{}/refunds"),
    ("get", "/v1/wallets/{}/transactions"),
    ("get", "/v1/wallets/{}/balance"),
    ("get", "/v1/wallets/{}/statement"),
    ("post", "/v1/wallets/{}/freeze"),
    ("post", "/v1/wallets/{}/unfreeze"),
    ("post", "/v1/wallets/{}/close"),
    ("post", "/v1/wallets/{}/transactions/{}/reversal"),
    ("post", "/v1/transfers"),
    ("get", "/v1/transfers/{}"),
    ("get", "/v1/transfers"),
    ("get", "/v1/admin/integrity"),
    ("get", "/v1/admin/dead-letters"),
    ("post", "/v1/admin/dead-letters/{}/replay"),
    ("get", "/v1/wallets/{}/limits"),
    ("put", "/v1/wallets/{}/limits"),
    ("get", "/v1/admin/audit-log"),
    ("post", "/v1/admin/webhooks"),
    ("get", "/v1/admin/webhooks"),
    ("delete", "/v1/admin/webhooks/{}"),
    ("get", "/v1/admin/webhooks/{}/deliveries"),
    ("get", "/v1/admin/risk-flags"),
}
NOT_BUILT_YET: set[tuple[str, str]] = set()
_ROUTE = re.compile(r"^(GET|POST|PUT|DELETE|PATCH)(?: (/\S*))?$")


def _normalised(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.split("?", 1)[0])


def api_md_routes(text: str) -> set[tuple[str, str]]:
    """(method, path) of every row of API.md's route table; `{…}` parameters as `{}`.

    A cell lists routes as `` `POST /a/{id}/freeze` · `/unfreeze` `` (same method, sibling
    path) or `` `GET /a/limits` · `PUT` `` (same path, another method).
    """
    routes: set[tuple[str, str]] = set()
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        method, path = "", ""
        for token in re.findall(r"`([^`]*)`", line.split("|")[1]):
            match = _ROUTE.match(token)
            if match:
                method, path = match[1].lower(), match[2] or path
            elif token.startswith("/") and path:
                path = path.rsplit("/", 1)[0] + token
            else:
                continue
            routes.add((method, _normalised(path)))
    return routes


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, _normalised(path)): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def _has_example(document: dict[str, Any], medium: dict[str, Any]) -> bool:
    if "example" in medium or "examples" in medium:
        return True
    ref = medium.get("schema", {}).get("$ref", "")
    component = document["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    return bool(component.get("examples"))


def test_the_route_table_of_api_md_is_read_whole() -> None:
    table = (
        "| `POST /v1/wallets/{id}/freeze` · `/unfreeze` · `/close` | admin | 200 |\n"
        '| `GET /v1/wallets/{id}/limits` · `PUT` `{"daily": amount}` | any | 200 |\n'
        "| `GET /v1/wallets/{id}/balance?at=<timestamp>` | any | 200 |\n"
    )
    assert api_md_routes(table) == {
        ("post", "/v1/wallets/{}/freeze"),
        ("post", "/v1/wallets/{}/unfreeze"),
        ("post", "/v1/wallets/{}/close"),
        ("get", "/v1/wallets/{}/limits"),
        ("put", "/v1/wallets/{}/limits"),
        ("get", "/v1/wallets/{}/balance"),
    }


def test_the_route_list_matches_api_md() -> None:
    if not API_MD.is_file():
        pytest.skip(f"{API_MD} is not beside the repository")
    public = {route for route in api_md_routes(API_MD.read_text()) if route[1].startswith("/v1")}
    assert public == BUILT | NOT_BUILT_YET


def test_every_route_has_schemas_and_examples(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert operations.keys() >= BUILT, BUILT - operations.keys()
    for route in sorted((BUILT | NOT_BUILT_YET) & operations.keys()):
        operation = operations[route]
        body = operation.get("requestBody")
        if body is not None:
            medium = body["content"]["application/json"]
            assert "schema" in medium, route
            assert _has_example(document, medium), (route, "request")
        successes = [r for status, r in operation["responses"].items() if status.startswith("2")]
        assert successes, route
        for response in successes:
            for media_type, medium in response.get("content", {}).items():
                assert "schema" in medium, (route, media_type)
                assert _has_example(document, medium), (route, media_type)


def test_money_routes_take_a_body_and_document_their_rules(document: dict[str, Any]) -> None:
    operations = _operations(document)
    for route in (
        ("post", "/v1/wallets/{}/purchases"),
        ("post", "/v1/wallets/{}/refunds"),
        ("post", "/v1/wallets/{}/transactions/{}/reversal"),
        ("put", "/v1/wallets/{}/limits"),
    ):
        assert "requestBody" in operations[route], route
    refund = operations[("post", "/v1/wallets/{}/refunds")]["description"]
    assert "Frozen wallets receive refunds" in refund
    reversal = operations[("post", "/v1/wallets/{}/transactions/{}/reversal")]["description"]
    assert "transfer_not_reversible" in reversal
    statement = operations[("get", "/v1/wallets/{}/statement")]["responses"]["200"]["content"]
    assert set(statement) == {"application/json", "text/csv"}
