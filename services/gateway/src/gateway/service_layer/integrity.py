"""The system-wide integrity check: every shard's ledger, then the coordinator's sagas."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from wallet_shared.schemas import IntegrityReport

from gateway.adapters.backends import Backends, expect_json
from gateway.adapters.integrity_wire import coordinator_part, coordinator_request, shard_part
from gateway.auth import Principal
from gateway.domain.integrity import (
    ShardIntegrityPart,
    build_report,
    transfers_with_active_legs,
)
from gateway.domain.roles import require_role
from gateway.metrics import INTEGRITY_CHECKED, INTEGRITY_CONSISTENT


async def check_integrity(backends: Backends, caller: Principal) -> IntegrityReport:
    """Per-currency totals across shards, each shard's problems and the coordinator's."""
    require_role(caller, "admin", "auditor", action="run the integrity check")
    shards = await _read_shards(backends, caller)
    # The coordinator is asked after the shards so that it judges the legs the shards saw open.
    open_transfers = transfers_with_active_legs(shards)
    reply = await backends.coordinator(
        "POST", "/internal/integrity", caller=caller, json=coordinator_request(open_transfers)
    )
    coordinator = coordinator_part(expect_json(reply), asked=frozenset(open_transfers))
    if coordinator.final_with_active_legs:
        # A shard resolves a leg before the coordinator hears of it, so a leg seen open by the
        # first read may have closed, and its transfer turned final, since. Only a leg still
        # open in a read taken after the coordinator's answer is a real problem.
        still_open = frozenset(transfers_with_active_legs(await _read_shards(backends, caller)))
        coordinator = replace(
            coordinator,
            final_with_active_legs=tuple(
                i for i in coordinator.final_with_active_legs if i in still_open
            ),
        )
    report = build_report(shards, coordinator, checked_at=datetime.now(UTC))
    INTEGRITY_CONSISTENT.set(1 if report.consistent else 0)
    INTEGRITY_CHECKED.set_to_current_time()
    return report


async def _read_shards(backends: Backends, caller: Principal) -> list[ShardIntegrityPart]:
    replies = await asyncio.gather(
        *(
            backends.shard(shard, "GET", "/internal/integrity", caller=caller)
            for shard in range(backends.shard_count)
        )
    )
    return [shard_part(shard, expect_json(reply)) for shard, reply in enumerate(replies)]
