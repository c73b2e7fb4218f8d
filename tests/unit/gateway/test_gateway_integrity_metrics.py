"""An integrity check sets both gauges the alerts read: its outcome and when it ran (without the
time, WalletIntegrityInconsistent cannot tell a failed check from none, and
WalletIntegrityCheckMissing warns forever)."""

from __future__ import annotations

import httpx
from gateway.metrics import INTEGRITY_CHECKED, INTEGRITY_CONSISTENT
from prometheus_client import REGISTRY

from .gateway_fakes import bearer


async def test_a_check_records_its_outcome_and_when_it_ran(client: httpx.AsyncClient) -> None:
    INTEGRITY_CHECKED.set(0)
    INTEGRITY_CONSISTENT.set(0)
    response = await client.get("/v1/admin/integrity", headers=bearer("audit", "auditor"))
    assert response.status_code == 200
    assert response.json()["consistent"] is True
    assert REGISTRY.get_sample_value("wallet_integrity_consistent") == 1
    checked = REGISTRY.get_sample_value("wallet_integrity_checked_timestamp_seconds")
    assert checked is not None
    assert checked > 0
