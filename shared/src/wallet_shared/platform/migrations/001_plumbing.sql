-- Messages written in the same transaction as the state change they announce; the outbox relay
-- publishes them in id order and deletes what Kafka acknowledged.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    topic      text        NOT NULL,
    key        text        NOT NULL,
    value      bytea       NOT NULL,
    headers    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The answer given to a request carrying an Idempotency-Key, stored with the money movement.
CREATE TABLE idempotency_keys (
    caller      text        NOT NULL,
    key         text        NOT NULL,
    fingerprint text        NOT NULL,
    status_code integer     NOT NULL,
    body        bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);

-- Records a consumer could not handle, kept for inspection and replay (admin API).
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    service     text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    "offset"    bigint      NOT NULL,
    key         bytea,
    value       bytea,
    headers     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error       text        NOT NULL,
    attempts    integer     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz,
    -- A record redelivered after a crash must not be dead-lettered twice.
    UNIQUE (topic, partition, "offset")
);
