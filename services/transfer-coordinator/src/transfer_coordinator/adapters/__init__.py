"""PostgreSQL (the saga store) and the LISTEN connection that wakes waiting requests."""
