-- Where a replay publishes a dead letter, when not to the topic it was consumed from: a restored
-- system runs on topics of its own prefix (`wallet restore`), while `topic` keeps naming where
-- the record was read. `(topic, partition, offset)` identifies a consumed record: rewriting
-- `topic` to the new prefix would make a record read at the same position of the new topics
-- (which start at offset 0) look like one already dead-lettered, and lose it.
ALTER TABLE dead_letters ADD COLUMN replay_topic text;
