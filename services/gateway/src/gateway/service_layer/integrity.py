"""The system-wide integrity check: every shard's ledger against the coordinator's sagas, read
as one consistent cut (docs/internals.md, "Integrity")."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Final

from wallet_shared.contracts.internal import (
    CoordinatorIntegrityReport,
    CoordinatorIntegrityRequest,
    IntegrityCut,
    ShardIntegrityReport,
)
from wallet_shared.contracts.schemas import IntegrityReport

from gateway.adapters.backends import Backends, built_body, expect_model
from gateway.adapters.integrity_wire import (
    COORDINATOR_REPLY_UNEXPECTED,
    SHARD_REPLY_UNEXPECTED,
    coordinator_part,
    coordinator_request,
    shard_part,
    shard_request,
)
from gateway.domain.integrity import (
    CoordinatorIntegrityPart,
    ShardIntegrityPart,
    build_report,
    transfers_with_active_legs,
)
from gateway.domain.principal import Principal
from gateway.domain.roles import require_role
from gateway.metrics import INTEGRITY_CHECKED, INTEGRITY_CONSISTENT

CUT_ATTEMPTS: Final = 3
"""Cuts tried before a cut that missed pending sagas is reported (each attempt is a new cut)."""


async def check_integrity(backends: Backends, caller: Principal) -> IntegrityReport:
    """Per-currency totals across shards, each shard's problems and the coordinator's.

    Three reads make one consistent cut: the coordinator opens it (which sagas the shards must
    list leg by leg: the recent ones and the older ones still pending), every shard then reports
    its totals with those legs from one snapshot, and the coordinator, read last, tells what
    every saga outside the cut left in each shard's clearing and the state of each listed one.
    Sagas outside the cut were final before any shard was read, and a listed leg is compared
    with the state its saga had after it, so nothing that runs meanwhile can raise an alarm.
    """
    require_role(caller, "admin", "auditor", action="run the integrity check")
    for attempt in range(1, CUT_ATTEMPTS + 1):
        shards, coordinator, missed = await _read_cut(backends, caller)
        if not missed or attempt == CUT_ATTEMPTS:
            break
    report = build_report(shards, coordinator, checked_at=datetime.now(UTC))
    if missed:
        # A saga committed longer after its id was made than the coordinator's cut margin: the
        # cut cannot judge clearing (build_report was given no cut), and that itself is wrong.
        problem = (
            f"transfers {', '.join(missed[:10])} were pending but missing from the integrity "
            "cut (committed long after their id was made; WALLET_INTEGRITY_CUT_MARGIN_S)"
        )
        report.coordinator.problems.append(problem)
        report.coordinator.consistent = False
        report.consistent = False
    INTEGRITY_CONSISTENT.set(1 if report.consistent else 0)
    # When: the alerts read the outcome of the latest check across the gateways, and warn when
    # none ran for an hour (WalletIntegrityInconsistent, WalletIntegrityCheckMissing).
    INTEGRITY_CHECKED.set_to_current_time()
    return report


async def _read_cut(
    backends: Backends, caller: Principal
) -> tuple[list[ShardIntegrityPart], CoordinatorIntegrityPart, list[str]]:
    cut = (await _ask_coordinator(backends, caller, coordinator_request([]))).cut
    shards = await _read_shards(backends, caller, cut)
    # The coordinator is asked after the shards so that it judges the legs the shards saw open
    # and confirmed.
    open_transfers = transfers_with_active_legs(shards)
    leg_ids = frozenset(leg.transfer_id for part in shards for leg in part.clearing_legs)
    reply = await _ask_coordinator(
        backends, caller, coordinator_request(open_transfers, cut, leg_ids)
    )
    # Pending sagas that the cut should have listed and did not: the cut cannot be judged.
    missed = reply.late_pending
    coordinator = coordinator_part(
        reply, asked=frozenset(open_transfers), with_cut=cut is not None and not missed
    )
    if coordinator.final_with_active_legs:
        # A shard resolves a leg before the coordinator hears of it, so a leg seen open by the
        # first read may have closed, and its transfer turned final, since. Only a leg still
        # open in a read taken after the coordinator's answer is a real problem.
        again = await _read_shards(backends, caller, None)
        still_open = frozenset(transfers_with_active_legs(again))
        coordinator = replace(
            coordinator,
            final_with_active_legs=tuple(
                i for i in coordinator.final_with_active_legs if i in still_open
            ),
        )
    return shards, coordinator, missed


async def _ask_coordinator(
    backends: Backends, caller: Principal, request: CoordinatorIntegrityRequest
) -> CoordinatorIntegrityReport:
    reply = await backends.coordinator(
        "POST", "/internal/integrity", caller=caller, json=built_body(request)
    )
    return expect_model(reply, CoordinatorIntegrityReport, detail=COORDINATOR_REPLY_UNEXPECTED)


async def _read_shards(
    backends: Backends, caller: Principal, cut: IntegrityCut | None
) -> list[ShardIntegrityPart]:
    body = built_body(shard_request(cut))
    replies = await asyncio.gather(
        *(
            backends.shard(shard, "POST", "/internal/integrity", caller=caller, json=body)
            for shard in range(backends.shard_count)
        )
    )
    return [
        shard_part(shard, expect_model(reply, ShardIntegrityReport, detail=SHARD_REPLY_UNEXPECTED))
        for shard, reply in enumerate(replies)
    ]
