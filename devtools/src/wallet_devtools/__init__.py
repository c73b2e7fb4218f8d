"""Local tooling of the wallet system: no Docker needed.

- `postgres`: a throwaway PostgreSQL server (initdb under a folder, free port, 127.0.0.1 only)
  and helpers to create and drop databases.
- `kafka`: the Apache Kafka broker jars from Maven Central, a single-node KRaft broker, and
  topic helpers.
- `layout` and `cluster`: the services of one wallet system as local processes (what `make run`
  and the end-to-end tests start), with kill/restart of one service for the fault tests.
- `tokens`: JWTs the gateway accepts.
- `cli`: the `wallet` command (`wallet run`, `wallet token`); the only module that reads the
  environment.
"""
