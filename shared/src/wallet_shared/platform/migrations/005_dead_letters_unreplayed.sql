-- The metrics sampler counts each service's unreplayed dead letters every few seconds
-- (wallet_shared.platform.monitoring): through this index it reads only those, never the replayed ones
-- that accumulate for good.
CREATE INDEX dead_letters_unreplayed ON dead_letters (service, topic) WHERE replayed_at IS NULL;
