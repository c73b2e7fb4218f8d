"""Schemathesis fuzzes the public API of a running system through its own OpenAPI document
(tests/e2e/fuzzing.py): no request, however odd, gets a 5xx; every refusal is a problem with a
`code`; every answer is as the document describes it; what is created can be read at once
along the document's links; the books balance afterwards."""

from __future__ import annotations

import asyncio
import time

import pytest
import schemathesis
from wallet_devtools.cluster import WalletCluster
from wallet_shared.contracts.schemas import Role

from tests.e2e.client import Gateway, expect
from tests.e2e.fuzzing import Fuzzer

# One caller's bucket takes every request of the run: the rate limit is not what is fuzzed here.
# A backend that answers slowly on a loaded machine is still there: the gateway waits for it
# rather than answering 503, which the fuzzer would count as a server error.
pytestmark = pytest.mark.cluster(
    env={
        "WALLET_RATE_LIMIT_PER_S": "100000",
        "WALLET_RATE_LIMIT_BURST": "100000",
        "WALLET_BACKEND_TIMEOUT_S": "60",
    }
)
# At most this many requests per operation, caller and mode (positive, negative) in each pass;
# without a token every /v1 route answers 401 before reading anything, so a few suffice.
EXAMPLES = {"admin": 8, "user": 8, "anonymous": 2}
MIN_REQUESTS = 1000


async def test_fuzzed_requests_get_documented_answers(cluster: WalletCluster, gw: Gateway) -> None:
    # Tokens are minted here, when the run starts (they live an hour).
    subjects: dict[str, tuple[str, Role]] = {
        "admin": ("fuzz-admin", "admin"),
        "user": ("fuzz-user", "user"),
    }
    callers = {
        name: {"Authorization": f"Bearer {cluster.token(sub, role)}"}
        for name, (sub, role) in subjects.items()
    } | {"anonymous": {}}
    owned = {name: await _owned_ids(gw, sub, role) for name, (sub, role) in subjects.items()}
    document = expect(await gw.http.get("/openapi.json"), 200)
    schema = schemathesis.openapi.from_dict(document)
    # The callers' tokens are the fuzzer's to send; the document's security scheme is not a
    # header to generate.
    schema.config.generation.update(with_security_parameters=False)
    fuzzer = Fuzzer(schema=schema, base_url=cluster.gateway_url, callers=callers)

    started = time.monotonic()
    await asyncio.to_thread(fuzzer.each_operation, EXAMPLES)
    for caller, ids in owned.items():
        await asyncio.to_thread(fuzzer.with_real_ids, caller, ids, examples=EXAMPLES[caller])
    log = fuzzer.log
    print(f"{log.requests} requests in {time.monotonic() - started:.0f} s: {dict(log.statuses)}")

    assert not log.failures, log.report()
    assert log.requests >= MIN_REQUESTS
    # Money moved (deposits, transfers between the callers' wallets) and was refused.
    assert log.statuses[201] > 0
    assert log.statuses[422] > 0
    report = await gw.admin().integrity()
    assert report["consistent"] is True, report


async def _owned_ids(gw: Gateway, sub: str, role: Role) -> dict[str, str]:
    """Two USD wallets of `sub`, money in the first, and that deposit's transaction id."""
    api = gw.admin(sub) if role == "admin" else gw.user(sub)
    wallet = await api.create_wallet("USD", label="fuzz")
    other = await api.create_wallet("USD", label="fuzz")
    deposit = await api.deposit(wallet["id"], 10**9)
    return {
        "wallet_id": wallet["id"],
        "other_wallet_id": other["id"],
        "transaction_id": deposit["id"],
    }
