-- The ledger's commit-time checks (migration 012) find a journal transaction's entries by index,
-- always.
--
-- Measured in the benchmark: `journal_transaction_has_entries` took 1.3 to 2 ms a call, more as
-- the journal grew, while its sibling took 0.01 ms. Until the journal has statistics (a fresh
-- table, or one growing faster than autovacuum analyses it) the planner assumes that 0.5 % of all
-- entries match any transaction id, so an EXISTS probe "finds one" after a short sequential
-- scan; but the entries of a transaction just booked are at the very end of the heap, and the
-- scan reads the whole journal, at every commit. PL/pgSQL keeps that plan for the session.
-- Sequential scans are turned off inside the two checks only: each is one probe of
-- `journal_entries_by_transaction`, whatever the statistics say.
ALTER FUNCTION journal_transaction_has_entries() SET enable_seqscan = off;
ALTER FUNCTION journal_entry_balanced() SET enable_seqscan = off;
