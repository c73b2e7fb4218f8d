-- Transfers between two wallets of this shard, booked in one local transaction (no saga): the
-- shard is their system of record, as the coordinator is for transfers between shards. Their
-- legs (holds, pending_credits) and journal transactions are the same as a saga's.
CREATE TABLE local_transfers (
    id                    text PRIMARY KEY,
    source_wallet_id      text        NOT NULL,
    destination_wallet_id text        NOT NULL,
    amount                bigint      NOT NULL CHECK (amount > 0),
    currency              text        NOT NULL,
    description           text,
    status                text        NOT NULL CHECK (status IN ('completed', 'cancelled')),
    failure_code          text,
    initiator             text        NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    CHECK ((status = 'cancelled') = (failure_code IS NOT NULL))
);
-- A wallet's transfers newest first, as source or as destination (two index scans, merged).
CREATE INDEX local_transfers_by_source ON local_transfers (source_wallet_id, created_at DESC, id DESC);
CREATE INDEX local_transfers_by_destination
    ON local_transfers (destination_wallet_id, created_at DESC, id DESC);
