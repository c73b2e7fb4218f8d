-- One row per transfer saga (TransferSaga in domain/saga.py). Legs are columns, not rows: a reply
-- batch then updates each saga with one row lock and one set-based statement.
CREATE TABLE transfers (
    id                    text        PRIMARY KEY,
    source_wallet_id      text        NOT NULL,
    destination_wallet_id text        NOT NULL,
    amount                bigint      NOT NULL CHECK (amount > 0),
    currency              text        NOT NULL,
    description           text,
    status                text        NOT NULL DEFAULT 'pending'
                                      CHECK (status IN ('pending', 'completed', 'cancelled')),
    phase                 text        NOT NULL DEFAULT 'trying'
                                      CHECK (phase IN ('trying', 'confirming', 'cancelling', 'done')),
    debit_tried           text        CHECK (debit_tried IN ('ok', 'failed')),
    credit_tried          text        CHECK (credit_tried IN ('ok', 'failed')),
    debit_resolved        text        CHECK (debit_resolved IN ('confirmed', 'cancelled')),
    credit_resolved       text        CHECK (credit_resolved IN ('confirmed', 'cancelled')),
    failure_code          text,
    initiator             text        NOT NULL,
    trace_id              text        NOT NULL DEFAULT '',
    deadline_at           timestamptz NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    decided_at            timestamptz,
    CHECK (source_wallet_id <> destination_wallet_id),
    CHECK ((status = 'pending') = (phase <> 'done'))
);

-- Listing a wallet's transfers newest first, as source or as destination.
CREATE INDEX transfers_by_source ON transfers (source_wallet_id, created_at DESC, id DESC);
CREATE INDEX transfers_by_destination
    ON transfers (destination_wallet_id, created_at DESC, id DESC);

-- The sweeper: sagas still trying by deadline, unfinished sagas by last movement. Partial, so
-- they stay as small as the number of transfers in flight.
CREATE INDEX transfers_trying_by_deadline ON transfers (deadline_at) WHERE phase = 'trying';
CREATE INDEX transfers_pending_by_update ON transfers (updated_at) WHERE status = 'pending';
