"""How work reaches the coordinator: internal HTTP, the reply consumer, the sweeper."""
