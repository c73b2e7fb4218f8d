-- Messages Kafka refused for good (too large, or not encodable): moved out of the outbox so
-- that they stop blocking every message queued after them, and kept here for an operator.
CREATE TABLE outbox_parked (
    id         bigint PRIMARY KEY,
    topic      text        NOT NULL,
    key        text        NOT NULL,
    value      bytea       NOT NULL,
    headers    jsonb       NOT NULL,
    error      text        NOT NULL,
    created_at timestamptz NOT NULL,
    parked_at  timestamptz NOT NULL DEFAULT now()
);
