"""Wallet shard: the users, wallets and double-entry ledger of the buckets one shard owns, and
its side of every transfer (a TCC participant on its command topic)."""
