"""Small honest fakes of the gateway's backends: wallet shards and the transfer coordinator,
speaking the internal HTTP contract of docs/internals.md through an `httpx.MockTransport`.

They keep real state (wallets, balances, idempotency records, transfers) so that tests check
behaviour, not calls; every request they receive is recorded for the header assertions.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import orjson
from gateway.settings import GatewaySettings
from wallet_shared.contracts.errors import WalletError
from wallet_shared.contracts.ids import (
    bucket_of_id,
    bucket_of_user,
    new_local_transfer_id,
    new_transfer_id,
    new_wallet_id,
)
from wallet_shared.contracts.pagination import (
    decode_cursor,
    encode_cursor,
    parse_time_position,
    time_position,
)
from wallet_shared.contracts.routing import ShardMap
from wallet_shared.platform.dead_letter_api import dead_letter_position, parse_dead_letter_position
from wallet_shared.platform.problems import PROBLEM_MEDIA_TYPE, problem_body
from wallet_shared.platform.service_auth import InvalidServiceCredential

from tests.service_credentials import TEST_INTERNAL_SECRET, caller_of

COORDINATOR_URL = "http://coordinator.test"
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def shard_url(shard: int) -> str:
    return f"http://shard-{shard}.test"


def problem(
    code: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = problem_body(code, detail, errors=errors)
    return httpx.Response(
        body["status"],
        content=orjson.dumps(body),
        headers={"content-type": PROBLEM_MEDIA_TYPE, **(headers or {})},
    )


def json_reply(status: int, body: Any, *, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=orjson.dumps(body),
        headers={"content-type": "application/json", **(headers or {})},
    )


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeDeadLetters:
    """A service's dead letters behind `/internal/dead-letters` (wallet_shared.platform.dead_letter_api):
    newest first by `(created_at, id)`, the shared position cursor, one replay each."""

    service: str
    topic: str
    ticks: Callable[[], datetime]
    letters: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add(self, *, value: str = "garbage", error: str = "undecodable: not JSON") -> int:
        """A new dead letter (as a consumer would store it); its number."""
        number = len(self.letters) + 1
        self.letters[number] = {
            "id": number,
            "service": self.service,
            "topic": self.topic,
            "partition": 0,
            "offset": number - 1,
            "key": "wlt_x",
            "error": error,
            "attempts": 1,
            "headers": {"message_type": "TryDebit"},
            "value": value,
            "value_encoding": "utf-8",
            "created_at": self.ticks().isoformat(),
            "replayed_at": None,
        }
        return number

    def handle(self, request: httpx.Request, parts: list[str]) -> httpx.Response | None:
        """The answer to a dead-letter route; None for any other route."""
        if parts == ["internal", "dead-letters"] and request.method == "GET":
            return self._list(request.url.params)
        if (
            len(parts) == 4
            and parts[:2] == ["internal", "dead-letters"]
            and parts[3] == "replay"
            and request.method == "POST"
        ):
            return self._replay(int(parts[2]))
        return None

    def _list(self, params: httpx.QueryParams) -> httpx.Response:
        limit = int(params.get("limit", "50"))
        if not 1 <= limit <= 200:
            return problem(
                "validation_error", "bad limit", errors=[{"field": "limit", "message": "1-200"}]
            )
        letters = sorted(self.letters.values(), key=self._position, reverse=True)
        if "cursor" in params:
            try:
                after = parse_dead_letter_position(params["cursor"])
            except WalletError as error:
                return problem(error.code, error.detail, errors=error.errors)
            letters = [letter for letter in letters if self._position(letter) < after]
        page = letters[:limit]
        next_cursor = None
        if len(letters) > limit:
            next_cursor = dead_letter_position(*self._position(page[-1]))
        return json_reply(200, {"items": page, "next_cursor": next_cursor})

    def _replay(self, number: int) -> httpx.Response:
        letter = self.letters.get(number)
        if letter is None:
            return problem("not_found", f"No dead letter {number}.")
        if letter["replayed_at"] is not None:
            return problem("conflict", "This dead letter was replayed already.")
        letter["replayed_at"] = self.ticks().isoformat()
        return json_reply(200, letter)

    @staticmethod
    def _position(letter: dict[str, Any]) -> tuple[datetime, int]:
        return datetime.fromisoformat(letter["created_at"]), letter["id"]


@dataclass
class FakeShard:
    """A wallet shard: wallets with balances, transactions, idempotency records."""

    shard: int
    ticks: Callable[[], datetime]
    wallets: dict[str, dict[str, Any]] = field(default_factory=dict)
    transactions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], httpx.Response] = field(default_factory=dict)
    local_transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    dead_letters: FakeDeadLetters = field(init=False)
    integrity: dict[str, Any] = field(
        default_factory=lambda: {
            "currencies": {},
            "problems": [],
            "active_hold_transfer_ids": [],
            "pending_credit_transfer_ids": [],
        }
    )

    def handle(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        scope = caller_of(request).owner_scope
        try:
            return self._route(request, parts, scope)
        except WalletError as error:
            return problem(error.code, error.detail, errors=error.errors)

    def __post_init__(self) -> None:
        self.dead_letters = FakeDeadLetters(
            f"wallet-shard-{self.shard}", f"wallet.shard-{self.shard}.commands", self.ticks
        )

    def _route(self, request: httpx.Request, parts: list[str], scope: str | None) -> httpx.Response:
        method = request.method
        if (answer := self.dead_letters.handle(request, parts)) is not None:
            return answer
        if parts == ["internal", "integrity"] and method in ("GET", "POST"):
            # A test sets what it checks; the shard's number and verdict complete the report.
            report = {"shard": self.shard, "consistent": not self.integrity.get("problems")}
            return json_reply(200, report | self.integrity)
        if parts == ["internal", "wallets"]:
            if method == "POST":
                return self._create(orjson.loads(request.content))
            return self._list(request.url.params, scope)
        if parts[:2] == ["internal", "transfers"]:
            return self._local_transfer_route(request, parts[2:])
        if len(parts) >= 3 and parts[:2] == ["internal", "wallets"]:
            wallet = self.wallets.get(parts[2])
            if wallet is None or (scope is not None and wallet["user_id"] != scope):
                return problem("not_found", "No such wallet.")
            return self._wallet_route(request, wallet, parts[3:])
        return problem("not_found", "No such route.")

    def _wallet_route(
        self, request: httpx.Request, wallet: dict[str, Any], rest: list[str]
    ) -> httpx.Response:
        if not rest and request.method == "GET":
            return json_reply(200, wallet)
        if rest in (["deposits"], ["withdrawals"]):
            return self._idempotent(request, lambda: self._move(request, wallet, rest[0]))
        if rest in (["freeze"], ["unfreeze"], ["close"]):
            wallet["status"] = {"freeze": "frozen", "unfreeze": "active", "close": "closed"}[
                rest[0]
            ]
            return json_reply(200, wallet)
        if rest == ["transactions"]:
            items = self.transactions.get(wallet["id"], [])[::-1]
            return json_reply(200, {"items": items, "next_cursor": None})
        return problem("not_found", "No such route.")

    def _local_transfer_route(self, request: httpx.Request, rest: list[str]) -> httpx.Response:
        """Transfers between two wallets of this shard: booked (completed) at once."""
        if rest and request.method == "GET":
            transfer = self.local_transfers.get(rest[0])
            return json_reply(200, transfer) if transfer else problem("not_found", "No such.")
        if request.method == "GET":
            wallet_id = request.url.params["wallet_id"]
            items = [
                t
                for t in self.local_transfers.values()
                if wallet_id in (t["source_wallet_id"], t["destination_wallet_id"])
            ][::-1][: int(request.url.params.get("limit", "50"))]
            return json_reply(200, {"items": items, "next_cursor": None})
        return self._idempotent(request, lambda: self._book_local(request))

    def _book_local(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        at = self.ticks().isoformat()
        source = self.wallets[body["source_wallet_id"]]
        transfer = {
            "id": new_local_transfer_id(bucket_of_id(source["id"], prefix="wlt_") or 0),
            **{k: body[k] for k in ("source_wallet_id", "destination_wallet_id", "currency")},
            "amount": str(body["amount"]),
            "description": body.get("description"),
            "status": "completed",
            "failure_code": None,
            "created_at": at,
            "updated_at": at,
        }
        self.local_transfers[transfer["id"]] = transfer
        wait = request.url.params.get("wait")
        return json_reply(200 if wait else 202, transfer)

    def _create(self, body: dict[str, Any]) -> httpx.Response:
        created_at = self.ticks().isoformat()
        wallet = {
            "id": new_wallet_id(bucket_of_user(body["user_id"])),
            "user_id": body["user_id"],
            "currency": body["currency"],
            "label": body["label"],
            "status": "active",
            "balance": "0",
            "available_balance": "0",
            "frozen_balance": "0",
            "created_at": created_at,
            "updated_at": created_at,
        }
        self.wallets[wallet["id"]] = wallet
        return json_reply(201, wallet)

    def _list(self, params: httpx.QueryParams, scope: str | None) -> httpx.Response:
        owner = params.get("user_id")
        wallets = [
            w
            for w in self.wallets.values()
            if (owner is None or w["user_id"] == owner) and (scope is None or w["user_id"] == scope)
        ]
        wallets.sort(key=lambda w: (datetime.fromisoformat(w["created_at"]), w["id"]), reverse=True)
        if "cursor" in params:
            position = parse_time_position(decode_cursor(params["cursor"], arity=2))
            wallets = [
                w for w in wallets if (datetime.fromisoformat(w["created_at"]), w["id"]) < position
            ]
        limit = int(params.get("limit", "50"))
        page = wallets[:limit]
        next_cursor = None
        if len(wallets) > limit:
            last = page[-1]
            next_cursor = encode_cursor(
                time_position(datetime.fromisoformat(last["created_at"]), last["id"])
            )
        return json_reply(200, {"items": page, "next_cursor": next_cursor})

    def _idempotent(
        self, request: httpx.Request, operation: Callable[[], httpx.Response]
    ) -> httpx.Response:
        key = (caller_of(request).user_id, request.headers["idempotency-key"])
        stored = self.idempotency.get(key)
        if stored is not None:
            return httpx.Response(
                stored.status_code,
                content=stored.content,
                headers={**stored.headers, "Idempotent-Replayed": "true"},
            )
        response = operation()
        self.idempotency[key] = response
        return response

    def _move(self, request: httpx.Request, wallet: dict[str, Any], kind: str) -> httpx.Response:
        body = orjson.loads(request.content)
        amount = body["amount"]
        assert isinstance(amount, int), "the gateway forwards amounts as integers"
        balance = int(wallet["balance"])
        if kind == "withdrawals" and amount > balance:
            return problem("insufficient_funds", "The wallet holds too little.")
        balance += amount if kind == "deposits" else -amount
        wallet["balance"] = wallet["available_balance"] = str(balance)
        transaction = {
            "id": "txn_" + wallet["id"][4:],
            "wallet_id": wallet["id"],
            "type": "deposit" if kind == "deposits" else "withdrawal",
            "amount": str(amount),
            "balance_after": str(balance),
            "reference": body.get("reference"),
            "transfer_id": None,
            "metadata": body.get("metadata"),
            "created_at": self.ticks().isoformat(),
        }
        self.transactions.setdefault(wallet["id"], []).append(transaction)
        return json_reply(201, transaction)


@dataclass
class FakeCoordinator:
    """The transfer coordinator: stores transfers; `?wait=` completes them at once."""

    ticks: Callable[[], datetime]
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    integrity: dict[str, Any] = field(
        default_factory=lambda: {
            "pending": 0,
            "stuck": [],
            "final_with_active_legs": [],
            "in_flight": {},
        }
    )
    integrity_requests: list[Any] = field(default_factory=list)
    claims: dict[tuple[str, str], str] = field(default_factory=dict)
    """(caller, Idempotency-Key) → the fingerprint of the request it was claimed for."""
    dead_letters: FakeDeadLetters = field(init=False)

    def __post_init__(self) -> None:
        self.dead_letters = FakeDeadLetters(
            "transfer-coordinator", "wallet.transfer-replies", self.ticks
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        if (answer := self.dead_letters.handle(request, parts)) is not None:
            return answer
        if parts == ["internal", "idempotency-claims"] and request.method == "POST":
            return self._claim(orjson.loads(request.content))
        if parts == ["internal", "integrity"] and request.method == "POST":
            self.integrity_requests.append(orjson.loads(request.content))
            return json_reply(200, self.integrity)
        if parts == ["internal", "transfers"] and request.method == "POST":
            return self._create(request)
        if parts == ["internal", "transfers"]:
            wallet_id = request.url.params["wallet_id"]
            items = [
                t
                for t in self.transfers.values()
                if wallet_id in (t["source_wallet_id"], t["destination_wallet_id"])
            ]
            return json_reply(200, {"items": items[::-1], "next_cursor": None})
        if len(parts) == 3 and parts[:2] == ["internal", "transfers"]:
            transfer = self.transfers.get(parts[2])
            if transfer is None:
                return problem("not_found", "No such transfer.")
            return json_reply(200, transfer)
        return problem("not_found", "No such route.")

    def _claim(self, body: dict[str, list[dict[str, str]]]) -> httpx.Response:
        results = []
        for claim in body["claims"]:
            held = self.claims.setdefault((claim["caller"], claim["key"]), claim["fingerprint"])
            results.append("claimed" if held == claim["fingerprint"] else "reused")
        return json_reply(200, {"results": results})

    def _create(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        fingerprint = request.headers.get("x-request-fingerprint")
        if fingerprint is not None:
            caller, key = caller_of(request).user_id, request.headers["idempotency-key"]
            if self.claims.setdefault((caller, key), fingerprint) != fingerprint:
                return problem("idempotency_key_reused", "This key was used for another request.")
        waited = "wait" in request.url.params
        now = self.ticks().isoformat()
        transfer = {
            "id": new_transfer_id(),
            "source_wallet_id": body["source_wallet_id"],
            "destination_wallet_id": body["destination_wallet_id"],
            "amount": str(body["amount"]),
            "currency": body["currency"],
            "description": body["description"],
            "status": "completed" if waited else "pending",
            "failure_code": None,
            "created_at": now,
            "updated_at": now,
        }
        self.transfers[transfer["id"]] = transfer
        return json_reply(200 if waited else 202, transfer)


class FakeCluster:
    """Every backend of a gateway, reachable through one mock transport."""

    def __init__(self, shard_count: int = 2) -> None:
        moments = itertools.count()
        self._ticks = lambda: EPOCH + timedelta(milliseconds=next(moments))
        self.shard_map = ShardMap.even(shard_count)
        self.shards = [FakeShard(shard, self._ticks) for shard in range(shard_count)]
        self.coordinator = FakeCoordinator(self._ticks)
        self.requests: list[httpx.Request] = []
        self.down: set[str] = set()
        """Hosts that refuse connections."""

    @property
    def shard_urls(self) -> str:
        return ",".join(shard_url(shard) for shard in range(len(self.shards)))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def shard_of(self, user_id: str) -> FakeShard:
        return self.shards[self.shard_map.shard_for_user(user_id)]

    def add_wallet(self, user_id: str, currency: str = "USD", balance: int = 0) -> dict[str, Any]:
        shard = self.shard_of(user_id)
        created = shard._create({"user_id": user_id, "currency": currency, "label": None})
        wallet = shard.wallets[orjson.loads(created.content)["id"]]
        wallet["balance"] = wallet["available_balance"] = str(balance)
        return dict(wallet)

    def requests_to(self, host_prefix: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.host.startswith(host_prefix)]

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        host = request.url.host
        if host in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/health/ready":
            return json_reply(200, {"status": "ok"})
        try:
            caller_of(request)  # as the real backends do: no valid credential, no answer
        except InvalidServiceCredential as error:
            return problem(error.code, error.detail)
        if host == "coordinator.test":
            return self.coordinator.handle(request)
        shard = int(host.removeprefix("shard-").removesuffix(".test"))
        return self.shards[shard].handle(request)


SECRET = "unit-test-secret-long-enough-for-hs256-and-for-the-hs512-confusion-case"


def make_settings(cluster: FakeCluster, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "shard_count": len(cluster.shards),
        "shard_urls": cluster.shard_urls,
        "coordinator_url": COORDINATOR_URL,
        "jwt_secret": SECRET,
        "internal_secret": TEST_INTERNAL_SECRET,
        "rate_limit_per_s": 1000,
        "rate_limit_burst": 1000,
    }
    values.update(overrides)
    return GatewaySettings(**values)


def bearer(sub: str = "alice", role: str | None = "user", **claims: Any) -> dict[str, str]:
    """An Authorization header with an HS256 token of the unit-test secret."""
    payload: dict[str, Any] = {"sub": sub, "exp": int(time.time()) + 300}
    if role is not None:
        payload["role"] = role
    payload.update(claims)
    return {"Authorization": f"Bearer {jwt.encode(payload, SECRET, algorithm='HS256')}"}
