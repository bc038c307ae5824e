-- How many Campaign profiles a decided request changed (PATCHed or
-- created): an opt-out by email reaches every profile with the address.
-- Null for other outcomes, and for records decided before this version.
ALTER TABLE audit_outcome ADD COLUMN profiles_changed BIGINT;

-- The worker serves kinds of work in turn, so that a flood of one never
-- starves another: 'customer' (a signed-in request: a change, GPC, this
-- browser's earlier opt-out, an operator's retry), 'email' (an opt-out by
-- email, until Campaign has been asked for the address) and 'create' (an
-- address Campaign does not have: a suppression record, within budget).
ALTER TABLE pending_change ADD COLUMN lane TEXT NOT NULL DEFAULT 'customer'
    CHECK (lane IN ('customer', 'email', 'create'));
-- In the 'email' lane, whose request it is (a keyed digest of the client's
-- address, never the address) and its place among that client's waiting
-- requests: clients are served in turn.
ALTER TABLE pending_change ADD COLUMN client TEXT;
ALTER TABLE pending_change ADD COLUMN turn BIGINT NOT NULL DEFAULT 0;
-- A creation's place in the budget: 'budget' waits for one, 'reserved'
-- holds one (its retries take no other), 'released' needs none (an
-- operator let it through).
ALTER TABLE pending_change ADD COLUMN hold TEXT
    CHECK (hold IN ('budget', 'reserved', 'released'));
UPDATE pending_change SET lane = 'email' WHERE action = 'opt-out-every-match';
CREATE INDEX pending_change_lane ON pending_change (lane, turn, next_attempt_at);
CREATE INDEX pending_change_client ON pending_change (lane, client);

-- Profiles created for addresses nobody has (opt-outs by email): counted
-- per hour and per day, each window starting at the first creation after
-- the last one ended. One row.
CREATE TABLE creation_budget (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    hour_start BIGINT NOT NULL,
    hour_used  BIGINT NOT NULL,
    day_start  BIGINT NOT NULL,
    day_used   BIGINT NOT NULL
);
INSERT INTO creation_budget (id, hour_start, hour_used, day_start, day_used) VALUES (1, 0, 0, 0, 0);

-- An email as its latest request spelt it, kept with a change given up
-- on, so that sending it again looks Campaign up by that spelling too.
ALTER TABLE dead_letter ADD COLUMN given_key TEXT;
