"""SQL migrations of the coordinator's database, applied in order by `wallet_shared.platform.db`."""
