"""SQL migrations of the tables every service database has: outbox, idempotency keys, dead letters.

`wallet_shared.platform.db.apply_migrations` applies these (stream `wallet_shared`) before a service's own.
Files are `NNN_name.sql`, applied once each, in number order; never edit one that has shipped.
"""
