-- The same change as migrations/sqlite, in PostgreSQL's dialect.
ALTER TABLE pending RENAME COLUMN lease_owner TO lease_token;
ALTER TABLE pending ADD COLUMN strikes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pending ADD COLUMN in_doubt BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pending ADD COLUMN given_key TEXT;
ALTER TABLE pending ADD COLUMN pending_since BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pending ADD COLUMN action TEXT NOT NULL DEFAULT 'set';
UPDATE pending SET pending_since = (SELECT received_at FROM audit WHERE audit.id = pending.audit_id);

CREATE TABLE dead_letter (
    audit_id    BIGINT PRIMARY KEY REFERENCES audit (id),
    profile_key TEXT   NOT NULL,
    key_kind    TEXT   NOT NULL,
    value       BIGINT NOT NULL,
    attempts    BIGINT NOT NULL,
    last_error  TEXT   NOT NULL,
    dead_at     BIGINT NOT NULL,
    action      TEXT   NOT NULL DEFAULT 'set'
);

-- TRUNCATE skips row triggers: refuse it too, whoever asks.
CREATE TRIGGER audit_refuses_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_rewrite();
CREATE TRIGGER audit_outcome_refuses_truncate BEFORE TRUNCATE ON audit_outcome
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_rewrite();
