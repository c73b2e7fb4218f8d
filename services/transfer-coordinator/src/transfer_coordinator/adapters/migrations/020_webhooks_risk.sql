-- Webhook endpoints admins registered. The secret signs deliveries, so it is kept as is (it is
-- shown once, at registration, and never logged). Deleted endpoints stay for their deliveries.
CREATE TABLE webhooks (
    id          text        PRIMARY KEY,
    url         text        NOT NULL,
    event_types text[]      NOT NULL,
    secret      text        NOT NULL,
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE INDEX webhooks_newest ON webhooks (created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- One row per (endpoint, event): the unique key is the per-endpoint deduplication. A pending
-- delivery being sent is leased by moving `next_attempt_at` past the send's timeout, so a
-- dispatcher that dies mid-send leaves it due again (at least once).
CREATE TABLE webhook_deliveries (
    id               bigserial   PRIMARY KEY,
    webhook_id       text        NOT NULL REFERENCES webhooks (id),
    event_id         text        NOT NULL,
    event_type       text        NOT NULL,
    body             bytea       NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error       text,
    next_attempt_at  timestamptz,
    first_attempt_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_of ON webhook_deliveries (webhook_id, id DESC);

-- What the risk rules remember of each wallet: its recent outgoing movements and deposits,
-- one row per public event (the unique event id makes a redelivered event a no-op).
CREATE TABLE risk_movements (
    event_id       text        PRIMARY KEY,
    wallet_id      text        NOT NULL,
    kind           text        NOT NULL CHECK (kind IN ('out', 'deposit')),
    amount         numeric(20) NOT NULL,
    at             timestamptz NOT NULL,
    transaction_id text,
    transfer_id    text,
    destination    text
);
CREATE INDEX risk_movements_recent ON risk_movements (wallet_id, at DESC);

CREATE TABLE risk_flags (
    id             text        PRIMARY KEY,
    wallet_id      text        NOT NULL,
    rule           text        NOT NULL,
    transaction_id text,
    transfer_id    text,
    detail         jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX risk_flags_newest ON risk_flags (created_at DESC, id DESC);
CREATE INDEX risk_flags_of_wallet ON risk_flags (wallet_id, created_at DESC, id DESC);
