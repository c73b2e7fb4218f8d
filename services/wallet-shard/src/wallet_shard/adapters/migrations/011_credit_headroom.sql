-- Credits promised to a wallet (accepted Tries of incoming transfers, not yet confirmed or
-- cancelled) reserve their room under the maximum balance, as holds reserve money: a Confirm
-- then always finds the room it was promised (wallet_shard.domain.wallet.MAX_BALANCE).
ALTER TABLE wallets ADD COLUMN incoming bigint NOT NULL DEFAULT 0
    CONSTRAINT wallets_incoming_not_negative CHECK (incoming >= 0);
UPDATE wallets AS w SET incoming = p.total
FROM (SELECT wallet_id, sum(amount) AS total FROM pending_credits
      WHERE state = 'active' GROUP BY wallet_id) AS p
WHERE p.wallet_id = w.id;
