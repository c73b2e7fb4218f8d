"""HTTP clients of the gateway's backends."""
