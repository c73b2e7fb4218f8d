"""Use cases of a shard: one handler per command, each inside a unit of work."""
