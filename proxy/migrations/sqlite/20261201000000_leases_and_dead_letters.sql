-- Every claim of a pending change has a lease token of its own (not the
-- process's name): only the attempt that holds it may finish the row.
ALTER TABLE pending RENAME COLUMN lease_owner TO lease_token;
-- Answers the proxy could not understand, counted towards giving up.
ALTER TABLE pending ADD COLUMN strikes BIGINT NOT NULL DEFAULT 0;

-- Changes given up on after max_strikes such answers: audited 'failed',
-- kept here for operators (readiness counts them).
CREATE TABLE dead_letter (
    audit_id    BIGINT PRIMARY KEY REFERENCES audit (id),
    profile_key TEXT   NOT NULL,
    key_kind    TEXT   NOT NULL,
    value       BIGINT NOT NULL,
    attempts    BIGINT NOT NULL,
    last_error  TEXT   NOT NULL,
    dead_at     BIGINT NOT NULL
);
