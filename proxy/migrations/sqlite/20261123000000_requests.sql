-- Every accepted opt-out request (CCPA regulations § 7101: date, nature and
-- manner of the request). Times are Unix milliseconds (UTC).
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id  TEXT    NOT NULL,
    received_at BIGINT  NOT NULL,
    subject     TEXT    NOT NULL,
    requested   BIGINT  NOT NULL, -- the ccpaOptOut asked for: 1 opt out, 0 opt in
    source      TEXT    NOT NULL, -- 'widget' | 'gpc'
    gpc         BIGINT  NOT NULL  -- 1 when the request carried Sec-GPC: 1
);
CREATE INDEX audit_by_subject ON audit (subject, id);
CREATE INDEX audit_by_time ON audit (received_at);

-- How each request was answered (date and nature of the response, basis of
-- a denial): at most one row per request, written once.
CREATE TABLE audit_outcome (
    audit_id   BIGINT PRIMARY KEY REFERENCES audit (id),
    outcome    TEXT   NOT NULL, -- 'applied' | 'superseded' | 'denied'
    previous   BIGINT,          -- Campaign's value before, when it was read
    decided_at BIGINT NOT NULL,
    basis      TEXT
);

-- Append-only: the application never rewrites the record.
CREATE TRIGGER audit_is_append_only_u BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_is_append_only_d BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_outcome_is_append_only_u BEFORE UPDATE ON audit_outcome
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_outcome_is_append_only_d BEFORE DELETE ON audit_outcome
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;

-- Changes Campaign has not confirmed yet: one row per profile, holding the
-- latest choice. Deleted once applied.
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
