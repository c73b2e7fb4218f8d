"""A thin client of the gateway's public API for the end-to-end tests.

It only saves typing: every call is one plain HTTP request, and every helper that claims success
asserts the exact status first, showing the whole response when it differs. Nothing here retries,
waits or interprets an answer, except `await_final`, which polls a transfer until it is final
and fails when it is not within its deadline.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from wallet_shared.contracts.routing import ShardMap
from wallet_shared.contracts.schemas import Role
from wallet_shared.platform.http_client import pooled_http_client

Json = dict[str, Any]
TokenMinter = Callable[[str, Role], str]

PROBLEM_MEDIA_TYPE = "application/problem+json"
SHARDS = ShardMap.even(2)  # the e2e cluster's layout: two shards, buckets split evenly
FINAL_STATUSES = frozenset({"completed", "cancelled"})


def new_key() -> str:
    """A fresh Idempotency-Key."""
    return f"e2e-{uuid.uuid4().hex}"


def describe(response: httpx.Response) -> str:
    """The request and the whole response, for assertion messages."""
    request = response.request
    return (
        f"{request.method} {request.url} -> {response.status_code}\n"
        f"headers: {dict(response.headers)}\nbody: {response.text[:2000]}"
    )


def expect(response: httpx.Response, status: int) -> Any:
    """The JSON body of `response`, after asserting its status is exactly `status`."""
    assert response.status_code == status, describe(response)
    return response.json()


def assert_problem(response: httpx.Response, status: int, code: str) -> Json:
    """Assert `response` is an RFC 9457 problem with this status and stable code; its body."""
    assert response.status_code == status, describe(response)
    media_type = response.headers.get("content-type", "")
    assert media_type.startswith(PROBLEM_MEDIA_TYPE), describe(response)
    body: Json = response.json()
    assert body.get("status") == status, describe(response)
    assert body.get("code") == code, describe(response)
    for member in ("type", "title", "detail"):
        assert isinstance(body.get(member), str), describe(response)
        assert body[member], describe(response)
    assert "Traceback" not in response.text, describe(response)
    return body


def assert_validation_problem(response: httpx.Response, field: str | None = None) -> Json:
    """Assert a 422 `validation_error` whose `errors` list names `field` (when given)."""
    body = assert_problem(response, 422, "validation_error")
    errors = body.get("errors")
    assert isinstance(errors, list), describe(response)
    assert errors, describe(response)
    for error in errors:
        assert isinstance(error.get("field"), str), describe(response)
        assert isinstance(error.get("message"), str), describe(response)
    if field is not None:
        fields = [error["field"] for error in errors]
        assert field in fields, f"no error for field {field!r}\n{describe(response)}"
    return body


def user_on_shard(shard: int, name: str) -> str:
    """A user id starting with `name` whose bucket belongs to `shard` (first match, stable)."""
    for suffix in range(10_000):
        user_id = f"{name}-{suffix}"
        if SHARDS.shard_for_user(user_id) == shard:
            return user_id
    raise AssertionError(f"no user id {name}-N on shard {shard}")


def shard_of_wallet(wallet_id: str) -> int:
    """The shard a wallet id routes to under the cluster's map (internals.md: ids carry it)."""
    shard = SHARDS.shard_for_wallet(wallet_id)
    assert shard is not None, f"{wallet_id!r} is not a wallet id"
    return shard


class Api:
    """One caller of the public API: a bearer token (or none) on a shared HTTP client."""

    def __init__(self, http: httpx.AsyncClient, token: str | None) -> None:
        self.http = http
        self.token = token

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {} if self.token is None else {"Authorization": f"Bearer {self.token}"}
        return headers | dict(extra or {})

    async def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return await self.http.get(path, params=params, headers=self._headers(headers))

    async def post(
        self,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
    ) -> httpx.Response:
        """POST `body` as JSON (or raw `content`); `Idempotency-Key: key` only when key is given."""
        extra = dict(headers or {})
        if key is not None:
            extra["Idempotency-Key"] = key
        if content is not None:
            extra.setdefault("Content-Type", "application/json")
            return await self.http.post(path, content=content, headers=self._headers(extra))
        return await self.http.post(path, json=body, headers=self._headers(extra))

    async def put(self, path: str, body: Any) -> httpx.Response:
        """PUT `body` as JSON."""
        return await self.http.put(path, json=body, headers=self._headers(None))

    async def post_money(
        self, path: str, body: Any, *, key: str | None = None, wait_s: int | None = None
    ) -> httpx.Response:
        """A money-moving POST: always with an Idempotency-Key (a fresh one unless given)."""
        headers = {} if wait_s is None else {"Prefer": f"wait={wait_s}"}
        return await self.post(path, body, key=key or new_key(), headers=headers)

    # --- wallets ------------------------------------------------------------------------------

    async def create_wallet(
        self, currency: str = "USD", *, label: str | None = None, user_id: str | None = None
    ) -> Json:
        body: Json = {"currency": currency}
        if label is not None:
            body["label"] = label
        if user_id is not None:
            body["user_id"] = user_id
        wallet: Json = expect(await self.post("/v1/wallets", body), 201)
        return wallet

    async def wallet(self, wallet_id: str) -> Json:
        wallet: Json = expect(await self.get(f"/v1/wallets/{wallet_id}"), 200)
        return wallet

    async def deposit(self, wallet_id: str, amount: int | str, *, key: str | None = None) -> Json:
        response = await self.deposit_raw(wallet_id, amount, key=key)
        transaction: Json = expect(response, 201)
        return transaction

    async def deposit_raw(
        self, wallet_id: str, amount: Any, *, key: str | None = None
    ) -> httpx.Response:
        return await self.post_money(
            f"/v1/wallets/{wallet_id}/deposits", {"amount": amount}, key=key
        )

    async def withdraw_raw(
        self, wallet_id: str, amount: Any, *, key: str | None = None
    ) -> httpx.Response:
        path = f"/v1/wallets/{wallet_id}/withdrawals"
        return await self.post_money(path, {"amount": amount}, key=key)

    async def freeze(self, wallet_id: str) -> Json:
        wallet: Json = expect(await self.post(f"/v1/wallets/{wallet_id}/freeze"), 200)
        return wallet

    # --- transfers ----------------------------------------------------------------------------

    async def transfer_raw(
        self,
        source: str,
        destination: str,
        amount: Any,
        *,
        key: str | None = None,
        wait_s: int | None = None,
    ) -> httpx.Response:
        body = {"source_wallet_id": source, "destination_wallet_id": destination, "amount": amount}
        return await self.post_money("/v1/transfers", body, key=key, wait_s=wait_s)

    async def transfer(self, transfer_id: str) -> Json:
        transfer: Json = expect(await self.get(f"/v1/transfers/{transfer_id}"), 200)
        return transfer

    async def await_final(self, transfer_id: str, *, timeout_s: float = 60.0) -> Json:
        """Poll a transfer until it is completed or cancelled; fail after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            response = await self.get(f"/v1/transfers/{transfer_id}")
            if response.status_code == 429:  # polling many transfers: back off as asked
                assert time.monotonic() < deadline, f"still rate limited: {transfer_id}"
                await asyncio.sleep(float(response.headers["retry-after"]))
                continue
            transfer: Json = expect(response, 200)
            if transfer["status"] in FINAL_STATUSES:
                return transfer
            assert time.monotonic() < deadline, f"transfer still pending: {transfer}"
            await asyncio.sleep(0.1)

    # --- lists and reports --------------------------------------------------------------------

    async def all_pages(self, path: str, params: Mapping[str, Any] | None = None) -> list[Json]:
        """Every item of a list, following `next_cursor` page by page (asserting each is 200)."""
        items: list[Json] = []
        query = dict(params or {})
        seen_cursors: set[str] = set()
        while True:
            page = expect(await self.get(path, query), 200)
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items
            assert cursor not in seen_cursors, f"cursor repeated: {cursor}"
            seen_cursors.add(cursor)
            query["cursor"] = cursor

    async def integrity(self) -> Json:
        report: Json = expect(await self.get("/v1/admin/integrity"), 200)
        return report


class Gateway:
    """The gateway of one test's cluster and the callers who talk to it."""

    def __init__(self, http: httpx.AsyncClient, mint: TokenMinter) -> None:
        self.http = http
        self._mint = mint

    def user(self, sub: str) -> Api:
        return Api(self.http, self._mint(sub, "user"))

    def admin(self, sub: str = "ops-admin") -> Api:
        return Api(self.http, self._mint(sub, "admin"))

    def auditor(self, sub: str = "auditor-1") -> Api:
        return Api(self.http, self._mint(sub, "auditor"))

    def with_token(self, token: str | None) -> Api:
        return Api(self.http, token)


@asynccontextmanager
async def open_gateway(base_url: str, mint: TokenMinter) -> AsyncIterator[Gateway]:
    """An HTTP client on `base_url` with room for the tests' concurrent requests."""
    async with pooled_http_client(base_url=base_url, max_connections=100, timeout_s=60.0) as http:
        yield Gateway(http, mint)
