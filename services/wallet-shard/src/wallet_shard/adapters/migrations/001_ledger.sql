-- A shard's users, wallets and double-entry ledger (docs/internals.md, "Shard ledger").

CREATE TABLE users (
    id         text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE wallets (
    id         text PRIMARY KEY,
    user_id    text        NOT NULL REFERENCES users (id),
    currency   text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    label      text,
    status     text        NOT NULL CHECK (status IN ('active', 'frozen', 'closed')),
    -- Snapshot of the sum of the wallet's journal entries, updated in the same transaction.
    balance    bigint      NOT NULL DEFAULT 0,
    -- Sum of the wallet's active holds.
    frozen     bigint      NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT wallets_available_not_negative CHECK (balance - frozen >= 0),
    CONSTRAINT wallets_frozen_not_negative CHECK (frozen >= 0)
)
-- Balance updates touch no indexed column: free room in each page keeps them HOT (no index
-- writes, less bloat) on the most updated rows of the shard.
WITH (fillfactor = 80);
-- Newest-first lists: one owner's wallets, and every wallet (admin), by the (created_at, id) cursor.
CREATE INDEX wallets_by_user ON wallets (user_id, created_at DESC, id DESC);
CREATE INDEX wallets_by_creation ON wallets (created_at DESC, id DESC);

-- The API's transactions: one per movement of one user wallet.
CREATE TABLE journal_transactions (
    id            text PRIMARY KEY,
    seq           bigserial   NOT NULL UNIQUE,
    wallet_id     text        NOT NULL REFERENCES wallets (id),
    type          text        NOT NULL CHECK (type IN ('deposit', 'withdrawal', 'purchase',
                                                       'refund', 'transfer_out', 'transfer_in',
                                                       'reversal')),
    amount        bigint      NOT NULL CHECK (amount > 0),
    balance_after bigint      NOT NULL,
    reference     text,
    transfer_id   text,
    metadata      jsonb,
    created_at    timestamptz NOT NULL
);
-- A transfer is booked at most once per side, however often its Confirm is delivered.
CREATE UNIQUE INDEX journal_transactions_transfer_once
    ON journal_transactions (transfer_id, type) WHERE transfer_id IS NOT NULL;
CREATE INDEX journal_transactions_by_wallet ON journal_transactions (wallet_id, seq DESC);

-- Entries: an amount is what the account gains. Accounts are wallet ids or system account names
-- (`system:cash_in:USD`), which have no row, so that no system account is a hot row.
CREATE TABLE journal_entries (
    id             bigserial PRIMARY KEY,
    transaction_id text        NOT NULL REFERENCES journal_transactions (id),
    account        text        NOT NULL,
    currency       text        NOT NULL,
    amount         bigint      NOT NULL CHECK (amount <> 0),
    created_at     timestamptz NOT NULL
);

-- The journal is append-only: mistakes are fixed by reversing entries, never by editing them.
CREATE FUNCTION refuse_journal_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER journal_entries_append_only
    BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_journal_change();
CREATE TRIGGER journal_entries_no_truncate
    BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_journal_change();
CREATE TRIGGER journal_transactions_append_only
    BEFORE UPDATE OR DELETE ON journal_transactions
    FOR EACH ROW EXECUTE FUNCTION refuse_journal_change();
CREATE TRIGGER journal_transactions_no_truncate
    BEFORE TRUNCATE ON journal_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_journal_change();

-- TCC legs, keyed by transfer id. No foreign key to wallets: a refused Try or a Cancel tombstone
-- may name a wallet that does not exist.
-- state: active -> confirmed | cancelled; refused; `tried` false marks a cancel-before-try tombstone.
CREATE TABLE holds (
    transfer_id  text PRIMARY KEY,
    wallet_id    text        NOT NULL,
    amount       bigint      NOT NULL CHECK (amount > 0),
    currency     text        NOT NULL,
    state        text        NOT NULL CHECK (state IN ('active', 'confirmed', 'cancelled', 'refused')),
    failure_code text,
    tried        boolean     NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL
);
CREATE INDEX holds_active_by_wallet ON holds (wallet_id) WHERE state = 'active';

CREATE TABLE pending_credits (
    transfer_id  text PRIMARY KEY,
    wallet_id    text        NOT NULL,
    amount       bigint      NOT NULL CHECK (amount > 0),
    currency     text        NOT NULL,
    state        text        NOT NULL CHECK (state IN ('active', 'confirmed', 'cancelled', 'refused')),
    failure_code text,
    tried        boolean     NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL
);
CREATE INDEX pending_credits_active_by_wallet ON pending_credits (wallet_id) WHERE state = 'active';
