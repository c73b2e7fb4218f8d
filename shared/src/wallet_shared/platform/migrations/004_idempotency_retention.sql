-- Stored answers expire after the retention period (wallet_shared.platform.retention): the janitor finds
-- the oldest through this index instead of scanning the table.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
