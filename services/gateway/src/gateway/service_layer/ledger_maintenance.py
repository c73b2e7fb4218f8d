"""`/v1/admin/ledger`: verify every wallet's snapshot against the ledger and every open leg
against its saga; rebuild snapshots wallet by wallet on the shard that owns them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Final

from wallet_shared.contracts.errors import NotFound, ValidationFailed
from wallet_shared.contracts.ledger_admin import (
    LedgerVerification,
    RebuildPage,
    RebuildRequest,
    ShardLedgerVerification,
)

from gateway.adapters.backends import Backends, ClientOrigin, expect_json
from gateway.domain.ledger_verification import SagaView, build_verification, open_transfer_ids
from gateway.domain.principal import Principal
from gateway.domain.roles import require_role
from gateway.domain.routing import ShardRouter

LOOKUP_CHUNK: Final = 10_000
"""Transfer ids per call to the coordinator (its bound)."""


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
        body: dict[str, object] = {"wallet_id": request.wallet_id}
    elif request.shard is not None:
        if request.shard >= backends.shard_count:
            raise NotFound("No such shard.")
        shard = request.shard
        body = {"after": request.after, "limit": request.limit}
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
        json=body,
        origin=origin,
        timeout_s=backends.maintenance_timeout_s,
    )
    page = RebuildPage.model_validate(expect_json(reply))
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
    return [ShardLedgerVerification.model_validate(expect_json(reply)) for reply in replies]


async def _sagas(
    backends: Backends, caller: Principal, transfer_ids: list[str]
) -> dict[str, SagaView]:
    sagas: dict[str, SagaView] = {}
    for start in range(0, len(transfer_ids), LOOKUP_CHUNK):
        chunk = transfer_ids[start : start + LOOKUP_CHUNK]
        reply = await backends.coordinator(
            "POST", "/internal/transfers/lookup", caller=caller, json={"transfer_ids": chunk}
        )
        for item in expect_json(reply)["items"]:
            sagas[item["id"]] = SagaView(
                id=item["id"],
                source_wallet_id=item["source_wallet_id"],
                destination_wallet_id=item["destination_wallet_id"],
                amount=int(item["amount"]),
                currency=item["currency"],
                status=item["status"],
            )
    return sagas
