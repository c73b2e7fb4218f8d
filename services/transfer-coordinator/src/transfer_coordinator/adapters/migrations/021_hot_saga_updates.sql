-- Saga updates that touch no index (HOT updates).
--
-- A saga is written three or four times on its way to a final status (each leg's Try, then each
-- leg's Confirm or Cancel). None of those updates was HOT: `phase` and `updated_at`, which every
-- one of them changes, were the key or the predicate of the sweeper's two partial indexes, so
-- each update put a new entry into every index of the table, the wallet listings' included
-- (measured in a benchmark run: 25,730 updates, 0 HOT; the reply batch's UPDATE was the
-- coordinator's costliest statement). The sweeper now finds its sagas through one partial index
-- keyed by what never changes (`deadline_at`) over what changes once (`status`, pending until
-- final): the updates before the last change no indexed column, and the room left free on each
-- page (fillfactor) lets the new version of a row stay beside the old one, so they write no
-- index entry at all. The index still holds only the sagas in flight.
CREATE INDEX transfers_pending_by_deadline ON transfers (deadline_at) WHERE status = 'pending';
DROP INDEX transfers_trying_by_deadline;
DROP INDEX transfers_pending_by_update;
ALTER TABLE transfers SET (fillfactor = 80);
