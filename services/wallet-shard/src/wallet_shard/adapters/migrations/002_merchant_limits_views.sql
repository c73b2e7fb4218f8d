-- Purchases, refunds, reversals, spending limits, point-in-time balances and statements
-- (docs/internals.md, "Shard ledger").

-- Spending limits (NULL: the configured default) and what the wallet spent in the UTC day and
-- month it last spent in. Checked and counted under the wallet's row lock, with the movement.
ALTER TABLE wallets
    ADD COLUMN daily_limit      bigint CHECK (daily_limit > 0),
    ADD COLUMN monthly_limit    bigint CHECK (monthly_limit > 0),
    ADD COLUMN spent_day        date,
    ADD COLUMN spent_today      bigint NOT NULL DEFAULT 0 CHECK (spent_today >= 0),
    ADD COLUMN spent_month      date,
    ADD COLUMN spent_this_month bigint NOT NULL DEFAULT 0 CHECK (spent_this_month >= 0);

-- A refund names its purchase, a reversal the transaction it undoes.
ALTER TABLE journal_transactions ADD COLUMN related_id text REFERENCES journal_transactions (id);
-- A transaction is reversed at most once, whatever races the handlers lose.
CREATE UNIQUE INDEX journal_transactions_reversed_once
    ON journal_transactions (related_id) WHERE type = 'reversal';

-- History, balance?at= and statements walk a wallet's journal by time: (created_at, seq) is the
-- order of a wallet's transactions (both are taken under the wallet's row lock).
CREATE INDEX journal_transactions_by_wallet_time
    ON journal_transactions (wallet_id, created_at DESC, seq DESC) INCLUDE (balance_after);
CREATE INDEX journal_transactions_by_wallet_type_time
    ON journal_transactions (wallet_id, type, created_at DESC, seq DESC);
-- Superseded by the time-ordered index (lists now page by (created_at, seq)).
DROP INDEX journal_transactions_by_wallet;

-- One row per purchase: the order it paid (unique per wallet) and what refunds gave back.
-- Changed only under the wallet's row lock; the CHECK is the last line of defence.
-- The foreign key is checked at commit: the purchase row may be written before its journal row.
CREATE TABLE purchases (
    transaction_id text PRIMARY KEY
        REFERENCES journal_transactions (id) DEFERRABLE INITIALLY DEFERRED,
    wallet_id      text        NOT NULL REFERENCES wallets (id),
    order_id       text        NOT NULL,
    merchant       text,
    amount         bigint      NOT NULL CHECK (amount > 0),
    refunded       bigint      NOT NULL DEFAULT 0,
    reversed       boolean     NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    CONSTRAINT purchases_order_once UNIQUE (wallet_id, order_id),
    CONSTRAINT purchases_refunds_within_amount CHECK (refunded >= 0 AND refunded <= amount)
);

-- Who asked for a movement made over HTTP, from where (audit).
CREATE TABLE movement_requests (
    transaction_id text PRIMARY KEY REFERENCES journal_transactions (id),
    actor          text        NOT NULL,
    actor_role     text        NOT NULL,
    client_address text,
    user_agent     text,
    reason         text,
    created_at     timestamptz NOT NULL
);
