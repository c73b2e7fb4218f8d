"""The transfer coordinator: runs every transfer between two wallets as a Try → Confirm | Cancel
saga over Kafka, in its own PostgreSQL database."""
