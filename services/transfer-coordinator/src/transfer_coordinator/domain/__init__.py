"""Pure rules of the transfer saga: no database, no Kafka, no HTTP."""
