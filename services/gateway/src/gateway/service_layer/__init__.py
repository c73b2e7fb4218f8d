"""One handler per public operation: check the rules, route, call the backends."""
