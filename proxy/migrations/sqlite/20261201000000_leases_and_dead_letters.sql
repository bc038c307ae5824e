-- Every claim of a pending change has a lease token of its own (not the
-- process's name): only the attempt that holds it may finish the row.
ALTER TABLE pending RENAME COLUMN lease_owner TO lease_token;
-- Answers the proxy could not understand, counted towards giving up.
ALTER TABLE pending ADD COLUMN strikes BIGINT NOT NULL DEFAULT 0;
-- 1 when a PATCH went out whose answer never came: it may still land, so
-- the next attempt sends its value whatever Campaign shows.
ALTER TABLE pending ADD COLUMN in_doubt BIGINT NOT NULL DEFAULT 0;
-- An email as the latest request spelt it, where it differs from the
-- (lowercased) profile_key: what Campaign is asked for first.
ALTER TABLE pending ADD COLUMN given_key TEXT;
-- Since when the profile has had a change waiting (Unix ms).
ALTER TABLE pending ADD COLUMN pending_since BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pending ADD COLUMN action TEXT NOT NULL DEFAULT 'set';
UPDATE pending SET pending_since = (SELECT received_at FROM audit WHERE audit.id = pending.audit_id);

-- Changes given up on after max_strikes such answers: audited 'failed',
-- kept here for operators (readiness counts them).
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
