-- The same schema as migrations/sqlite, in PostgreSQL's dialect. Times are
-- Unix milliseconds (UTC), so both engines store and compare them alike.
CREATE TABLE audit (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id  TEXT   NOT NULL,
    received_at BIGINT NOT NULL,
    subject     TEXT   NOT NULL,
    requested   BIGINT NOT NULL,
    source      TEXT   NOT NULL,
    gpc         BIGINT NOT NULL
);
CREATE INDEX audit_by_subject ON audit (subject, id);
CREATE INDEX audit_by_time ON audit (received_at);

CREATE TABLE audit_outcome (
    audit_id   BIGINT PRIMARY KEY REFERENCES audit (id),
    outcome    TEXT   NOT NULL,
    previous   BIGINT,
    decided_at BIGINT NOT NULL,
    basis      TEXT
);

CREATE FUNCTION refuse_audit_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END;
$$;
CREATE TRIGGER audit_is_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_rewrite();
CREATE TRIGGER audit_outcome_is_append_only BEFORE UPDATE OR DELETE ON audit_outcome
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_rewrite();

CREATE TABLE pending (
    profile_key     TEXT   PRIMARY KEY,
    key_kind        TEXT   NOT NULL,
    audit_id        BIGINT NOT NULL,
    value           BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    leased_audit_id BIGINT,
    last_error      TEXT
);
CREATE INDEX pending_due ON pending (next_attempt_at);
