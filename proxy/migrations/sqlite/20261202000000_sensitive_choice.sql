-- A request is about one of two choices: 'sale' (sale and sharing,
-- Campaign's ccpaOptOut) or 'sensitive' (the limit on the use of sensitive
-- personal information, a custom field). Every earlier request was 'sale'.
ALTER TABLE audit ADD COLUMN choice TEXT NOT NULL DEFAULT 'sale'
    CHECK (choice IN ('sale', 'sensitive'));
ALTER TABLE dead_letter ADD COLUMN choice TEXT NOT NULL DEFAULT 'sale'
    CHECK (choice IN ('sale', 'sensitive'));

-- One pending change per profile and choice, in a table of a new name: a
-- proxy of an older version still running against this schema then fails
-- loudly instead of taking a 'sensitive' row for a 'sale' one. (Stop every
-- replica before migrating all the same.) SQLite cannot change a primary
-- key in place anyway.
CREATE TABLE pending_change (
    profile_key     TEXT   NOT NULL,
    choice          TEXT   NOT NULL DEFAULT 'sale' CHECK (choice IN ('sale', 'sensitive')),
    key_kind        TEXT   NOT NULL,
    audit_id        BIGINT NOT NULL,
    value           BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_token     TEXT,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    leased_audit_id BIGINT,
    last_error      TEXT,
    strikes         BIGINT NOT NULL DEFAULT 0,
    in_doubt        BIGINT NOT NULL DEFAULT 0,
    given_key       TEXT,
    pending_since   BIGINT NOT NULL DEFAULT 0,
    action          TEXT   NOT NULL DEFAULT 'set',
    PRIMARY KEY (profile_key, choice)
);
INSERT INTO pending_change (profile_key, key_kind, audit_id, value, attempts,
    next_attempt_at, lease_token, lease_until, leased_audit_id, last_error, strikes,
    in_doubt, given_key, pending_since, action)
SELECT profile_key, key_kind, audit_id, value, attempts, next_attempt_at, lease_token,
    lease_until, leased_audit_id, last_error, strikes, in_doubt, given_key,
    pending_since, action
FROM pending;
DROP TABLE pending;
CREATE INDEX pending_change_due ON pending_change (next_attempt_at);
