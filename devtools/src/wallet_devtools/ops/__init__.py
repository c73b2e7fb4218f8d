"""What an operator runs against a wallet system: the integrity report, dead letters, ledger
verification and rebuild (through the gateway's admin API, so they work against any gateway
with a token), backup and restore (against the databases)."""
