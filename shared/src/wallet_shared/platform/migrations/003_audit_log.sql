-- Who did what: every admin and auditor action, and (in the coordinator) every request the
-- gateway refused with 401 or 403. Written in the transaction of the action it records.
CREATE TABLE audit_log (
    id             text        PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    actor          text,
    role           text,
    action         text        NOT NULL,
    target         text,
    wallet_id      text,
    reason         text,
    trace_id       text,
    client_address text,
    user_agent     text
);
CREATE INDEX audit_log_newest ON audit_log (at DESC, id DESC);

-- Append-only for everyone who connects as the application: the application's role owns the
-- table, so privileges alone cannot stop it; a trigger does, for rows and for TRUNCATE.
CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
