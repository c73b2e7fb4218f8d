"""The OpenAPI document: problem responses as `application/problem+json`, bearer security."""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from wallet_shared.contracts.schemas import ProblemDetail
from wallet_shared.platform.problems import PROBLEM_MEDIA_TYPE

from gateway.entrypoints.guard import GUARDED_PREFIX, RATE_LIMITED_PROBE
from gateway.entrypoints.openapi_examples import EXAMPLES

BEARER_SCHEME: Final = "bearerAuth"
PROBLEM_REF: Final = "#/components/schemas/ProblemDetail"

_DESCRIPTIONS: Final = {
    400: "Bad request (e.g. `idempotency_key_required`)",
    401: "`unauthorized`: missing, malformed, expired or badly signed bearer token",
    403: "`forbidden`: the caller's role may not do this",
    404: "`not_found`: names nothing the caller may see",
    409: "`idempotency_key_in_use` or a conflict with the current state",
    413: "`payload_too_large`: the body is over 64 KiB",
    422: "`validation_error` (with `errors`) or a business refusal such as `insufficient_funds`",
    429: "`rate_limited`: see the `Retry-After` header",
    503: "`service_unavailable`: a backend did not answer; retry",
}
_HEADERS: Final[dict[int, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "description": '`Bearer`, with `error="invalid_token"` for a rejected token',
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Whole seconds until the caller's bucket holds a token again",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}
_ALWAYS: Final = (401, 429, 503)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given problem statuses plus those every /v1 route may give."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, *_ALWAYS}):
        response: dict[str, Any] = {"model": ProblemDetail, "description": _DESCRIPTIONS[status]}
        if status in _HEADERS:
            response["headers"] = _HEADERS[status]
        responses[status] = response
    return responses


def install_openapi(app: FastAPI) -> None:
    """Replace `app.openapi` with the generator of the gateway's document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _document_security(schema)
            _document_validation_problems(schema)
            _document_links(schema)
            _document_body_limit(schema)
            _document_limited_probe(schema)
            _document_problem_media_type(schema)
            _document_examples(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _operations(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (path, operation)
        for path, item in schema.get("paths", {}).items()
        for operation in item.values()
        if isinstance(operation, dict)
    ]


def _document_security(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[BEARER_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "HS256 (shared secret) or RS256 (public key); claims sub, role, exp.",
    }
    for path, operation in _operations(schema):
        if path.startswith(GUARDED_PREFIX):
            operation["security"] = [{BEARER_SCHEME: []}]


def _problem(status: int) -> dict[str, Any]:
    # Filed under application/json like FastAPI's own; `_document_problem_media_type` moves it.
    return {
        "description": _DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": PROBLEM_REF}}},
    }


def _document_validation_problems(schema: dict[str, Any]) -> None:
    # FastAPI documents a 422 of its own (`HTTPValidationError`, `detail` a list) on every route
    # that declares none; the gateway answers every validation error as a problem.
    fastapi_422 = "#/components/schemas/HTTPValidationError"
    for _, operation in _operations(schema):
        response = operation.get("responses", {}).get("422")
        if response is not None and fastapi_422 in _refs(response):
            operation["responses"]["422"] = _problem(422)
    # Its schemas go too, unless something else still uses them.
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        others = [value for key, value in components.items() if key != name]
        if f"#/components/schemas/{name}" not in _refs([schema.get("paths"), others]):
            components.pop(name, None)


def _refs(node: Any) -> set[str]:
    """Every `$ref` in a part of the document."""
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


_WALLET: Final = {"wallet_id": "$response.body#/id"}
_TRANSACTION: Final = {
    "wallet_id": "$response.body#/wallet_id",
    "transaction_id": "$response.body#/id",
}
_TRANSFER_LINKS: Final = {
    "GetTransfer": ("/v1/transfers/{transfer_id}", "get", {"transfer_id": "$response.body#/id"})
}
_MOVEMENT_LINKS: Final = {
    "ReverseTransaction": (
        "/v1/wallets/{wallet_id}/transactions/{transaction_id}/reversal",
        "post",
        _TRANSACTION,
    ),
    "GetWalletTransactions": (
        "/v1/wallets/{wallet_id}/transactions",
        "get",
        {"wallet_id": "$response.body#/wallet_id"},
    ),
}
# What an answer's ids lead to (OpenAPI links): (path, method, status) -> link name ->
# (target path, target method, the target's parameters from the answer).
LINKS: Final[dict[tuple[str, str, str], dict[str, tuple[str, str, dict[str, str]]]]] = {
    ("/v1/wallets", "post", "201"): {
        "GetWallet": ("/v1/wallets/{wallet_id}", "get", _WALLET),
        "GetWalletTransactions": ("/v1/wallets/{wallet_id}/transactions", "get", _WALLET),
        "GetWalletLimits": ("/v1/wallets/{wallet_id}/limits", "get", _WALLET),
        "Deposit": ("/v1/wallets/{wallet_id}/deposits", "post", _WALLET),
        "Withdraw": ("/v1/wallets/{wallet_id}/withdrawals", "post", _WALLET),
    },
    ("/v1/wallets/{wallet_id}/deposits", "post", "201"): _MOVEMENT_LINKS,
    ("/v1/wallets/{wallet_id}/withdrawals", "post", "201"): _MOVEMENT_LINKS,
    ("/v1/wallets/{wallet_id}/purchases", "post", "201"): _MOVEMENT_LINKS,
    ("/v1/transfers", "post", "200"): _TRANSFER_LINKS,
    ("/v1/transfers", "post", "202"): _TRANSFER_LINKS,
    ("/v1/admin/webhooks", "post", "201"): {
        "GetDeliveries": (
            "/v1/admin/webhooks/{webhook_id}/deliveries",
            "get",
            {"webhook_id": "$response.body#/id"},
        ),
        "DeleteWebhook": (
            "/v1/admin/webhooks/{webhook_id}",
            "delete",
            {"webhook_id": "$response.body#/id"},
        ),
    },
}


def _document_links(schema: dict[str, Any]) -> None:
    # A route missing here is a KeyError when the document is built: tests see it at once.
    paths = schema["paths"]
    for (path, method, status), links in LINKS.items():
        response = paths[path][method]["responses"][status]
        for name, (target_path, target_method, parameters) in links.items():
            response.setdefault("links", {})[name] = {
                "operationId": paths[target_path][target_method]["operationId"],
                "parameters": parameters,
            }


def _document_body_limit(schema: dict[str, Any]) -> None:
    # The guard refuses any body over the limit, before the route reads it.
    for path, operation in _operations(schema):
        if path.startswith(GUARDED_PREFIX) and "requestBody" in operation:
            operation.setdefault("responses", {}).setdefault("413", _problem(413))


def _document_limited_probe(schema: dict[str, Any]) -> None:
    # Readiness is open but takes from the caller's address bucket (it asks every backend).
    operation = schema.get("paths", {}).get(RATE_LIMITED_PROBE, {}).get("get")
    if operation is not None:
        operation.setdefault("responses", {})["429"] = {
            "description": _DESCRIPTIONS[429],
            "headers": _HEADERS[429],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
        }


def _document_problem_media_type(schema: dict[str, Any]) -> None:
    # FastAPI files every response model under application/json; problems travel as
    # application/problem+json (a readiness report that is not ready stays JSON).
    for _, operation in _operations(schema):
        for response in operation.get("responses", {}).values():
            content = response.get("content", {})
            if content.get("application/json", {}).get("schema", {}).get("$ref") == PROBLEM_REF:
                content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")


def _document_examples(schema: dict[str, Any]) -> None:
    """An example on every component schema that has one, and on each request body and answer
    that uses it (where API browsers look)."""
    for name, component in schema.get("components", {}).get("schemas", {}).items():
        if name in EXAMPLES:
            component["examples"] = [EXAMPLES[name]]
    for _, operation in _operations(schema):
        media = [*operation.get("requestBody", {}).get("content", {}).values()]
        for response in operation.get("responses", {}).values():
            media += response.get("content", {}).values()
        for medium in media:
            ref = medium.get("schema", {}).get("$ref", "")
            name = ref.rsplit("/", 1)[-1]
            if name in EXAMPLES and "example" not in medium:
                medium["example"] = EXAMPLES[name]
