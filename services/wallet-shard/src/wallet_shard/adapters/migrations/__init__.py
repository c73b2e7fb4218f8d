"""SQL migrations of a shard database (`NNN_name.sql`, applied once each, in order, by
`wallet_shared.platform.db.apply_migrations`). Never edit a file that has shipped: add the next one."""
