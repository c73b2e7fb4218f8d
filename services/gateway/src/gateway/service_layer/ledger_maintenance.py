"""`/v1/admin/ledger`: verify every wallet's snapshot against the ledger and every open leg
against its saga; rebuild snapshots wallet by wallet on the shard that owns them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from wallet_shared.contracts.errors import NotFound, ValidationFailed
from wallet_shared.contracts.internal import MAX_LOOKUP, TransferLookup, TransferLookupAnswer
from wallet_shared.contracts.ledger_admin import (
    LedgerVerification,
    RebuildPage,
    RebuildRequest,
    ShardLedgerVerification,
)

from gateway.adapters.backends import Backends, ClientOrigin, built_body, expect_model
from gateway.domain.ledger_verification import SagaView, build_verification, open_transfer_ids
from gateway.domain.principal import Principal
from gateway.domain.roles import require_role
from gateway.domain.routing import ShardRouter


async def verify_ledger(backends: Backends, caller: Principal) -> LedgerVerification:
    """Each shard's recomputation (one snapshot each), then the sagas of their open legs."""
    require_role(caller, "admin", "auditor", action="verify the ledger")
    shards = await _read_shards(backends, caller)
    sagas = await _sagas(backends, caller, open_transfer_ids(shards))
    report = build_verification(shards, sagas, checked_at=datetime.now(UTC))
    if any(d.kind in ("hold", "pending_credit") for d in report.differences):
        # A shard resolves a leg before the coordinator hears of it, so a leg seen open before
        # the coordinator was asked may have closed, and its saga turned final, since. Only a
        # leg still open in a read taken after the coordinator's answer is a real difference.
        again = {
            (leg.transfer_id, leg.leg)
            for part in await _read_shards(backends, caller)
            for leg in part.open_legs
        }
        shards = [
            part.model_copy(
                update={
                    "open_legs": [
                        leg for leg in part.open_legs if (leg.transfer_id, leg.leg) in again
                    ]
                }
            )
            for part in shards
        ]
        report = build_verification(shards, sagas, checked_at=report.checked_at)
    return report


async def rebuild_snapshots(
    backends: Backends,
    shard_router: ShardRouter,
    caller: Principal,
    request: RebuildRequest,
    origin: ClientOrigin,
) -> RebuildPage:
    """One wallet, on its shard; or the next page of one shard's wallets."""
    require_role(caller, "admin", action="rebuild balance snapshots")
    if request.wallet_id is not None:
        shard = shard_router.shard_of_wallet(request.wallet_id)
        body = RebuildRequest(wallet_id=request.wallet_id)
    elif request.shard is not None:
        if request.shard >= backends.shard_count:
            raise NotFound("No such shard.")
        shard = request.shard
        body = RebuildRequest(after=request.after, limit=request.limit)
    else:
        raise ValidationFailed(
            "Name a wallet_id, or a shard to rebuild page by page.",
            errors=[{"field": "wallet_id", "message": "wallet_id or shard is required"}],
        )
    reply = await backends.shard(
        shard,
        "POST",
        "/internal/ledger/rebuild",
        caller=caller,
        json=built_body(body),
        origin=origin,
        timeout_s=backends.maintenance_timeout_s,
    )
    page = expect_model(reply, RebuildPage)
    if request.wallet_id is not None and not page.items:
        raise NotFound("No such wallet.")
    return page


async def _read_shards(backends: Backends, caller: Principal) -> list[ShardLedgerVerification]:
    replies = await asyncio.gather(
        *(
            backends.shard(
                shard,
                "GET",
                "/internal/ledger/verify",
                caller=caller,
                timeout_s=backends.maintenance_timeout_s,
            )
            for shard in range(backends.shard_count)
        )
    )
    return [expect_model(reply, ShardLedgerVerification) for reply in replies]


async def _sagas(
    backends: Backends, caller: Principal, transfer_ids: list[str]
) -> dict[str, SagaView]:
    sagas: dict[str, SagaView] = {}
    for start in range(0, len(transfer_ids), MAX_LOOKUP):
        lookup = TransferLookup(transfer_ids=transfer_ids[start : start + MAX_LOOKUP])
        reply = await backends.coordinator(
            "POST", "/internal/transfers/lookup", caller=caller, json=built_body(lookup)
        )
        for transfer in expect_model(reply, TransferLookupAnswer).items:
            sagas[transfer.id] = SagaView(
                id=transfer.id,
                source_wallet_id=transfer.source_wallet_id,
                destination_wallet_id=transfer.destination_wallet_id,
                amount=transfer.amount,
                currency=transfer.currency,
                status=transfer.status,
            )
    return sagas
