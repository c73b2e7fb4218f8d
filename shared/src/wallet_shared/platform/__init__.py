"""How the services run: PostgreSQL (pools, migrations, unit of work, group commit, outbox),
Kafka (producer, batch consumer, dead letters), HTTP (service apps, the internal client, service
credentials, problems), background loops, settings, logging and metrics."""
