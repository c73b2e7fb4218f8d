-- Which request each (caller, Idempotency-Key) was first used for, across the whole system.
-- Every money-moving request is claimed here before it runs, wherever it runs (a shard or this
-- coordinator), so that a key reused for another request is refused even when the two requests
-- land in different databases. The movement's own answer is stored where it is booked.
CREATE TABLE idempotency_claims (
    caller      text        NOT NULL,
    key         text        NOT NULL,
    fingerprint text        NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);
