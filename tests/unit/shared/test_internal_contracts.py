"""Both edges of every internal HTTP body share one model of wallet_shared.contracts: the shard's
and the coordinator's routes declare it as their body or answer, and what one side writes (the
JSON of the model, as FastAPI or the gateway renders it) the other reads back unchanged. A field
renamed on one side used to fail only at run time."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from gateway.adapters.backends import BackendContractError, BackendReply, built_body, expect_model
from gateway.adapters.integrity_wire import (
    coordinator_part,
    coordinator_request,
    shard_part,
    shard_request,
)
from gateway.domain.integrity import ConfirmedLeg, LedgerTotals, SagaFacts
from pydantic import BaseModel
from transfer_coordinator.entrypoints import http as coordinator_http
from transfer_coordinator.entrypoints import oversight_http
from wallet_shard.entrypoints import http as shard_http
from wallet_shard.entrypoints import ledger_http, ledger_maintenance_http
from wallet_shard.entrypoints import transfers as shard_transfers
from wallet_shared.contracts import internal
from wallet_shared.contracts.admin_schemas import CreateWebhook
from wallet_shared.contracts.internal import (
    ClearingLeg,
    CoordinatorIntegrityReport,
    CoordinatorIntegrityRequest,
    CurrencyTotals,
    GatewayAuditBatch,
    IntegrityCut,
    KeyClaimsAnswer,
    KeyClaimsRequest,
    ShardIntegrityReport,
    ShardIntegrityRequest,
    StartTransferRequest,
    TransferLookup,
    TransferLookupAnswer,
)
from wallet_shared.contracts.ledger_admin import RebuildPage, RebuildRequest
from wallet_shared.contracts.messages import Leg
from wallet_shared.contracts.schemas import (
    CreatePurchase,
    CreateRefund,
    CreateReversal,
    CreateWallet,
    Deposit,
    SetLimits,
    Withdrawal,
)

TRANSFER = "trf_" + "1" * 32
CUT = IntegrityCut(recent_from="trf_0123456789ab", pending_before=["trf_" + "2" * 32])

# (router, method, path, the body it reads, the answer it writes) of every internal route the
# gateway sends a body to or reads fields from.
ROUTES: list[tuple[APIRouter, str, str, type[BaseModel] | None, type[BaseModel] | None]] = [
    (shard_transfers.router, "POST", "/internal/transfers", StartTransferRequest, None),
    (coordinator_http.router, "POST", "/internal/transfers", StartTransferRequest, None),
    (shard_http.router, "POST", "/internal/integrity", ShardIntegrityRequest, ShardIntegrityReport),
    (shard_http.router, "GET", "/internal/integrity", None, ShardIntegrityReport),
    (
        coordinator_http.router,
        "POST",
        "/internal/integrity",
        CoordinatorIntegrityRequest,
        CoordinatorIntegrityReport,
    ),
    (coordinator_http.router, "GET", "/internal/integrity", None, CoordinatorIntegrityReport),
    (
        coordinator_http.router,
        "POST",
        "/internal/transfers/lookup",
        TransferLookup,
        TransferLookupAnswer,
    ),
    (
        coordinator_http.router,
        "POST",
        "/internal/idempotency-claims",
        KeyClaimsRequest,
        KeyClaimsAnswer,
    ),
    (oversight_http.router, "POST", "/internal/audit-log", GatewayAuditBatch, None),
    (oversight_http.router, "POST", "/internal/webhooks", CreateWebhook, None),
    (shard_http.router, "POST", "/internal/wallets", CreateWallet, None),
    (shard_http.router, "POST", "/internal/wallets/{wallet_id}/deposits", Deposit, None),
    (shard_http.router, "POST", "/internal/wallets/{wallet_id}/withdrawals", Withdrawal, None),
    (ledger_http.router, "POST", "/internal/wallets/{wallet_id}/purchases", CreatePurchase, None),
    (ledger_http.router, "POST", "/internal/wallets/{wallet_id}/refunds", CreateRefund, None),
    (
        ledger_http.router,
        "POST",
        "/internal/wallets/{wallet_id}/transactions/{transaction_id}/reversal",
        CreateReversal,
        None,
    ),
    (ledger_http.router, "PUT", "/internal/wallets/{wallet_id}/limits", SetLimits, None),
    (
        ledger_maintenance_http.router,
        "POST",
        "/internal/ledger/rebuild",
        RebuildRequest,
        RebuildPage,
    ),
]


def _route(router: APIRouter, method: str, path: str) -> APIRoute:
    (route,) = [
        r
        for r in router.routes
        if isinstance(r, APIRoute) and r.path == path and method in (r.methods or ())
    ]
    return route


@pytest.mark.parametrize(
    ("router", "method", "path", "body", "answer"),
    ROUTES,
    ids=[f"{r.tags[0] if r.tags else ''} {m} {p}" for r, m, p, *_ in ROUTES],
)
def test_the_receiving_route_declares_the_contract_model(
    router: APIRouter,
    method: str,
    path: str,
    body: type[BaseModel] | None,
    answer: type[BaseModel] | None,
) -> None:
    route = _route(router, method, path)
    declared = [param.field_info.annotation for param in route.dependant.body_params]
    assert declared == ([] if body is None else [body])
    if answer is not None:
        assert route.response_model is answer


def _received(body: dict[str, Any], model: type[BaseModel]) -> BaseModel:
    """What the receiving route reads from a body the gateway sent (through the JSON bytes)."""
    return model.model_validate(orjson.loads(orjson.dumps(body)))


def _answered(answer: BaseModel, backend: str = "shard-0") -> BackendReply:
    """A route's answer as the gateway receives it (FastAPI renders the model's JSON)."""
    body = orjson.dumps(answer.model_dump(mode="json"))
    return BackendReply(backend, 200, body, "application/json")


def test_the_integrity_requests_the_gateway_builds_are_read_as_built() -> None:
    opening = coordinator_request([TRANSFER])
    assert built_body(opening) == {"active_leg_transfer_ids": [TRANSFER]}  # opens a cut
    assert _received(built_body(opening), CoordinatorIntegrityRequest) == opening
    judging = coordinator_request([TRANSFER], CUT, frozenset({TRANSFER}))
    assert _received(built_body(judging), CoordinatorIntegrityRequest) == judging
    for cut in (None, CUT):
        request = shard_request(cut, frozenset({TRANSFER}))
        assert _received(built_body(request), ShardIntegrityRequest) == request


def test_a_shard_integrity_report_reaches_the_gateway_as_written() -> None:
    report = ShardIntegrityReport(
        shard=1,
        consistent=False,
        currencies={"USD": CurrencyTotals(wallets_total=700, clearing=-300, cash_in=-400)},
        active_hold_transfer_ids=[TRANSFER],
        pending_credit_transfer_ids=[],
        problems=["wallet wlt_x: balance 1 but its entries sum to 2"],
        clearing_legs=[
            ClearingLeg(transfer_id=TRANSFER, leg=Leg.CREDIT, amount=300, currency="USD")
        ],
    )
    part = shard_part(1, expect_model(_answered(report), ShardIntegrityReport))
    assert part.currencies == {"USD": LedgerTotals(wallets_total=700, clearing=-300, cash_in=-400)}
    assert part.active_hold_transfer_ids == frozenset({TRANSFER})
    assert part.problems == ("wallet wlt_x: balance 1 but its entries sum to 2",)
    assert part.clearing_legs == (ConfirmedLeg(TRANSFER, "credit", 300, "USD"),)


def test_a_coordinator_integrity_report_reaches_the_gateway_as_written() -> None:
    report = CoordinatorIntegrityReport(
        pending=1,
        stuck=[],
        final_with_active_legs=[TRANSFER],
        in_flight={"USD": 300},
        cut=CUT,
        settled={0: {"USD": 300}, 1: {"USD": -300}},
        sagas=[
            internal.SagaFacts(
                id=TRANSFER,
                status="completed",
                phase="done",
                amount=300,
                currency="USD",
                source_shard=0,
                destination_shard=None,
            )
        ],
        late_pending=[],
    )
    read = expect_model(_answered(report, "coordinator"), CoordinatorIntegrityReport)
    assert read == report
    part = coordinator_part(read, asked=frozenset({TRANSFER}), with_cut=True)
    assert part.final_with_active_legs == (TRANSFER,)
    assert part.cut is not None
    assert part.cut.settled == {0: {"USD": 300}, 1: {"USD": -300}}
    assert part.cut.sagas == {
        TRANSFER: SagaFacts("completed", "done", 300, "USD", source_shard=0, destination_shard=None)
    }


@pytest.mark.parametrize(
    "written",
    [
        {"currencies": {"USD": {"wallets_total": 1.5}}},
        {"currencies": {"USD": {"wallets_total": True}}},
        {"shard": 0, "consistent": True, "currencies": {}},  # the open legs and problems missing
    ],
)
def test_a_shard_report_off_the_contract_is_a_contract_error(written: dict[str, Any]) -> None:
    reply = BackendReply("shard-0", 200, orjson.dumps(written), "application/json")
    with pytest.raises(BackendContractError):
        expect_model(reply, ShardIntegrityReport)
