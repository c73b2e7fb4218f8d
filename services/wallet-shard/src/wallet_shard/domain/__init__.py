"""Pure rules of a shard's ledger: wallets, journal transactions, holds and pending credits.

Nothing here does I/O; the service layer loads state, calls these rules and saves what changed.
"""
