"""What fuzzing the API found (tests/e2e/test_api_fuzz.py), each pinned by a request that
showed it:
- a request body that is not UTF-8 was a bare 400 `bad_request`, undocumented: it is not JSON,
  so it is a 422 `validation_error`, like any other body that is not JSON;
- an opaque id holding `#`, `?`, `%`, a control character or only dots was pasted into the
  internal URL as is: `#` cut the path (the coordinator answered a 307 to an internal address,
  relayed to the client), a control character made the gateway fail; each id is now one
  percent-encoded segment and names nothing (404);
- the OpenAPI document described FastAPI's own 422 (`detail` a list) on routes that declared
  none, `/metrics` as JSON, and no 413 on a route with a body.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from gateway.adapters.backends import path_segment
from wallet_shared.contracts.money import ISO_4217

from tests.unit.gateway.gateway_fakes import FakeCluster, bearer

PROBLEM = "application/problem+json"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/wallets", b"\x80{}"),
        ("/v1/admin/webhooks", b'{"url": "\xe9"}'),
    ],
)
async def test_a_body_that_is_not_utf8_is_not_json(
    client: httpx.AsyncClient, path: str, body: bytes
) -> None:
    response = await client.post(
        path,
        content=body,
        headers={**bearer("ops", "admin"), "Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert problem["errors"] == [{"field": "body", "message": "is not valid JSON"}]


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("whk_0196e8f0", "whk_0196e8f0"),
        ("a#b", "a%23b"),
        ("a?wait=30", "a%3Fwait%3D30"),
        ("a/../b", "a%2F..%2Fb"),
        ("100%", "100%25"),
        ("\x16N\x18", "%16N%18"),
        ("é", "%C3%A9"),
        ("..", "%2E%2E"),
        (".", "%2E"),
    ],
)
def test_an_id_is_one_path_segment(value: str, segment: str) -> None:
    assert path_segment(value) == segment


@pytest.mark.parametrize("webhook_id", ["#", "a?b=1", "..", "\x16x", "a%2Fb"])
async def test_an_odd_webhook_id_names_nothing(
    client: httpx.AsyncClient, cluster: FakeCluster, webhook_id: str
) -> None:
    # The client sends the id percent-encoded, as any HTTP client must.
    raw = f"/v1/admin/webhooks/{path_segment(webhook_id)}/deliveries/{path_segment('#')}/retry"

    response = await client.post(raw, headers=bearer("ops", "admin"))

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    [sent] = cluster.requests_to("coordinator")
    expected = f"/internal/webhooks/{path_segment(webhook_id)}/deliveries/%23/retry"
    assert sent.url.raw_path.decode() == expected


async def test_an_odd_transaction_id_stays_in_its_segment(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    wallet = cluster.add_wallet("ops")

    response = await client.post(
        f"/v1/wallets/{wallet['id']}/transactions/x%23y/reversal",
        json={"reason": "fuzz"},
        headers={**bearer("ops", "admin"), "Idempotency-Key": "k-1"},
    )

    assert response.status_code == 404
    sent = [r for r in cluster.requests_to("shard") if r.url.path.endswith("/reversal")]
    assert [r.url.raw_path.decode() for r in sent] == [
        f"/internal/wallets/{wallet['id']}/transactions/x%23y/reversal"
    ]


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_client_error_is_documented_as_a_problem(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                schema = response["content"][PROBLEM]["schema"]
                assert schema == {"$ref": "#/components/schemas/ProblemDetail"}, (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_every_body_may_be_refused_as_too_large(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        if path.startswith("/v1/") and "requestBody" in operation:
            assert "413" in operation["responses"], (method, path)


def test_metrics_are_documented_as_text(document: dict[str, Any]) -> None:
    content = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["text/plain"]


def test_a_currency_is_one_of_the_codes_accepted(document: dict[str, Any]) -> None:
    currency = document["components"]["schemas"]["CreateWallet"]["properties"]["currency"]
    assert currency["enum"] == sorted(ISO_4217)


def test_links_lead_from_an_answer_to_the_operations_that_take_its_ids(
    document: dict[str, Any],
) -> None:
    by_id = {operation["operationId"]: operation for _, _, operation in _operations(document)}
    schemas = document["components"]["schemas"]
    linked = 0
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            for name, link in response.get("links", {}).items():
                target = by_id[link["operationId"]]
                taken = {parameter["name"] for parameter in target.get("parameters", [])}
                answered = response["content"]["application/json"]["schema"]["$ref"]
                members = schemas[answered.rsplit("/", 1)[-1]]["properties"]
                for parameter, expression in link["parameters"].items():
                    assert parameter in taken, (method, path, status, name)
                    assert expression.removeprefix("$response.body#/") in members, expression
                linked += 1
    # A wallet leads to its reads and movements, a movement to its reversal, a transfer to
    # itself, a webhook to its deliveries.
    assert linked >= 12
