-- Run once by the postgres image on an empty volume: one database per shard and one for the
-- coordinator (the names `wallet run` uses too). Each service creates its own tables.
CREATE DATABASE wallet_shard_0;
CREATE DATABASE wallet_shard_1;
CREATE DATABASE wallet_coordinator;
