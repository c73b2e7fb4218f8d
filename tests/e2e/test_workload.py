"""A random concurrent transfer workload among a closed set of wallets keeps the books exact."""

from __future__ import annotations

from tests.e2e.client import Gateway
from tests.e2e.workload import check_books, open_accounts, plan_transfers, settle, submit_all


async def test_random_transfer_workload_keeps_every_invariant(gw: Gateway) -> None:
    accounts = await open_accounts(gw, count=8, funds=10_000)
    # Amounts up to 4000 against 10000 per wallet: most complete, some run out of funds.
    plan = plan_transfers(20240611, accounts=len(accounts), count=150, max_amount=4000)

    outcomes = await submit_all(accounts, plan, concurrency=20)
    await settle(gw.admin(), outcomes)
    endings = await check_books(gw, accounts, outcomes)

    assert sum(endings.values()) == 150
    assert endings["completed"] > 0, endings
