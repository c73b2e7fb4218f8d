"""How the shard is reached: its internal HTTP routes and its Kafka command consumer."""
