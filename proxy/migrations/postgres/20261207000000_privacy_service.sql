-- Deliveries to Adobe's Privacy Service (privacy_service.enabled): for each
-- identity Adobe's products know someone by (an address, a browser's
-- ECID), the latest choice about sale Privacy Service has not taken yet.
-- One row per identity, so that its choices reach Adobe in the order they
-- were made; deleted once taken. A second destination beside Campaign's
-- pending_change: its own attempts, lease, backoff and dead letters.
CREATE TABLE consent_pending (
    namespace       TEXT   NOT NULL CHECK (namespace IN ('email', 'ECID')),
    identity        TEXT   NOT NULL,
    given           TEXT,             -- an address as its request spelt it
    audit_id        BIGINT NOT NULL,
    opt_out         BIGINT NOT NULL,  -- optOutOfSale
    attempts        BIGINT NOT NULL DEFAULT 0,
    strikes         BIGINT NOT NULL DEFAULT 0,
    in_doubt        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_token     TEXT,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    leased_audit_id BIGINT,
    last_error      TEXT,
    pending_since   BIGINT NOT NULL,
    PRIMARY KEY (namespace, identity)
);
-- Addresses are served before ECIDs: a claim reads one namespace's due rows.
CREATE INDEX consent_pending_due ON consent_pending (namespace, next_attempt_at);
CREATE INDEX consent_pending_audit ON consent_pending (audit_id);

-- How Privacy Service answered each request, per namespace: written once.
CREATE TABLE consent_outcome (
    audit_id   BIGINT NOT NULL REFERENCES audit (id),
    namespace  TEXT   NOT NULL,
    outcome    TEXT   NOT NULL, -- 'applied' | 'superseded' | 'failed'
    decided_at BIGINT NOT NULL,
    basis      TEXT,
    PRIMARY KEY (audit_id, namespace)
);
CREATE TRIGGER consent_outcome_is_append_only BEFORE UPDATE OR DELETE ON consent_outcome
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_rewrite();
CREATE TRIGGER consent_outcome_refuses_truncate BEFORE TRUNCATE ON consent_outcome
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_rewrite();

-- Deliveries given up on after privacy_service.max_strikes answers the
-- proxy could not understand: audited 'failed', kept for operators.
CREATE TABLE consent_dead_letter (
    audit_id   BIGINT NOT NULL REFERENCES audit (id),
    namespace  TEXT   NOT NULL,
    identity   TEXT   NOT NULL,
    given      TEXT,
    opt_out    BIGINT NOT NULL,
    attempts   BIGINT NOT NULL,
    last_error TEXT   NOT NULL,
    dead_at    BIGINT NOT NULL,
    PRIMARY KEY (audit_id, namespace)
);
