-- Claims expire with the stored answers they stand for (wallet_shared.platform.retention).
CREATE INDEX idempotency_claims_by_age ON idempotency_claims (claimed_at);
