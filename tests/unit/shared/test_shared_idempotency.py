"""Idempotency fingerprints are canonical; stored answers become the right HTTP responses."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from wallet_shared.platform.idempotency import (
    REPLAYED_HEADER,
    StoredResponse,
    request_fingerprint,
    stored_response_to_http,
)

_json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
_bodies = st.dictionaries(
    st.text(max_size=8),
    st.recursive(
        _json_leaf, lambda inner: st.dictionaries(st.text(max_size=4), inner), max_leaves=10
    ),
    max_size=6,
)


@given(_bodies)
def test_key_order_does_not_change_the_fingerprint(body: dict[str, Any]) -> None:
    reversed_body = dict(reversed(list(body.items())))
    assert request_fingerprint("POST", "/v1/x", body) == request_fingerprint(
        "POST", "/v1/x", reversed_body
    )


def test_nested_key_order_does_not_change_the_fingerprint() -> None:
    first = {"amount": "10", "metadata": {"a": 1, "b": [1, 2]}}
    second = {"metadata": {"b": [1, 2], "a": 1}, "amount": "10"}
    assert request_fingerprint("post", "/p", first) == request_fingerprint("POST", "/p", second)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/v1/wallets/w/deposits", {"amount": "10"}),
        ("POST", "/v1/wallets/v/deposits", {"amount": "10"}),
        ("POST", "/v1/wallets/w/deposits", {"amount": "11"}),
        ("POST", "/v1/wallets/w/deposits", {"amount": 10}),
        ("POST", "/v1/wallets/w/deposits", {"amount": "10", "reference": None}),
    ],
)
def test_anything_else_changes_the_fingerprint(
    method: str, path: str, body: dict[str, Any]
) -> None:
    reference = request_fingerprint("POST", "/v1/wallets/w/deposits", {"amount": "10"})
    fingerprint = request_fingerprint(method, path, body)
    assert fingerprint != reference
    assert len(fingerprint) == 64
    int(fingerprint, 16)


def test_a_first_answer_is_plain_json() -> None:
    body = orjson.dumps({"id": "txn_1"})
    response = stored_response_to_http(StoredResponse(201, body, replayed=False))
    assert response.status_code == 201
    assert response.body == body
    assert response.media_type == "application/json"
    assert REPLAYED_HEADER.lower() not in response.headers


def test_a_replayed_refusal_is_a_problem_marked_replayed() -> None:
    body = orjson.dumps({"code": "insufficient_funds", "status": 422})
    response = stored_response_to_http(StoredResponse(422, body, replayed=True))
    assert response.status_code == 422
    assert response.body == body
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers[REPLAYED_HEADER] == "true"


@pytest.mark.parametrize("odd", [10**40, "\ud800", float("nan")])
def test_any_parsed_json_body_gets_a_fingerprint(odd: Any) -> None:
    assert len(request_fingerprint("POST", "/p", {"amount": odd})) == 64
