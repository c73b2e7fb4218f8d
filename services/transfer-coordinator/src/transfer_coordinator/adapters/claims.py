"""SQL of the system-wide Idempotency-Key claims (table `idempotency_claims`)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from wallet_shared.platform.retention import ExpiringTable

CLAIMS: ExpiringTable = ExpiringTable("idempotency_claims", "claimed_at")
"""Claims expire with the stored answers they stand for."""


async def claim(conn: asyncpg.Connection, claims: Sequence[tuple[str, str, str]]) -> list[str]:
    """Claim each `(caller, key)` for its fingerprint unless claimed before: the fingerprint
    each key holds, in order; of two claims of one new key, the first wins.

    One statement when the keys are new or were claimed before this statement began; a second
    for those whose INSERT waited for a concurrent claim's transaction: only a statement started
    after that commit (READ COMMITTED) sees its row.
    """
    held: dict[tuple[str, str], str] = {}
    # A key the retention freed between the two statements is claimed again.
    while wanted := [claim for claim in claims if claim[:2] not in held]:
        columns = [list(column) for column in zip(*wanted, strict=True)]
        for row in await conn.fetch(_CLAIM_MANY, *columns):
            held.setdefault((row["caller"], row["key"]), row["fingerprint"])
        missing = [claim for claim in wanted if claim[:2] not in held]
        if missing:
            callers, keys = [c for c, _, _ in missing], [k for _, k, _ in missing]
            for row in await conn.fetch(_HELD_MANY, callers, keys):
                held[(row["caller"], row["key"])] = row["fingerprint"]
    return [held[(caller, key)] for caller, key, _ in claims]


# In (caller, key) order, and of one key the first asked: two batches claiming the same keys
# wait for each other in one order only, and the first claim of a key in a batch wins. The held
# claims are read by one primary-key probe per key (LATERAL, kept a subquery by its LIMIT): a
# hash join would scan the whole table, which the planner may choose, not knowing how few keys
# the arrays hold.
_CLAIM_MANY = """
WITH asked AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY
        AS a (caller, key, fingerprint, position)
), claimed AS (
    INSERT INTO idempotency_claims (caller, key, fingerprint)
    SELECT caller, key, fingerprint FROM asked ORDER BY caller, key, position
    ON CONFLICT (caller, key) DO NOTHING
    RETURNING caller, key, fingerprint
)
SELECT caller, key, fingerprint FROM claimed
UNION ALL
SELECT held.caller, held.key, held.fingerprint
FROM asked CROSS JOIN LATERAL (
    SELECT c.caller, c.key, c.fingerprint FROM idempotency_claims AS c
    WHERE c.caller = asked.caller AND c.key = asked.key
    LIMIT 1
) AS held
"""
_HELD_MANY = """
SELECT held.caller, held.key, held.fingerprint
FROM unnest($1::text[], $2::text[]) AS asked (caller, key) CROSS JOIN LATERAL (
    SELECT c.caller, c.key, c.fingerprint FROM idempotency_claims AS c
    WHERE c.caller = asked.caller AND c.key = asked.key
    LIMIT 1
) AS held
"""
