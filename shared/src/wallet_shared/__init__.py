"""Library shared by the wallet services.

Message schemas, settings base, ids and routing, money rules, problem errors, logging, metrics,
and the PostgreSQL/Kafka plumbing (outbox relay, batch consumer) every service builds on.
"""
