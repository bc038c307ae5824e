-- The same change as migrations/sqlite, in PostgreSQL's dialect: pending
-- changes keyed by profile and choice, under a new table name so that an
-- older proxy still running fails loudly instead of misreading a row.
ALTER TABLE audit ADD COLUMN choice TEXT NOT NULL DEFAULT 'sale'
    CHECK (choice IN ('sale', 'sensitive'));
ALTER TABLE dead_letter ADD COLUMN choice TEXT NOT NULL DEFAULT 'sale'
    CHECK (choice IN ('sale', 'sensitive'));
ALTER TABLE pending RENAME TO pending_change;
ALTER TABLE pending_change ADD COLUMN choice TEXT NOT NULL DEFAULT 'sale'
    CHECK (choice IN ('sale', 'sensitive'));
ALTER TABLE pending_change DROP CONSTRAINT pending_pkey;
ALTER TABLE pending_change ADD PRIMARY KEY (profile_key, choice);
ALTER INDEX pending_due RENAME TO pending_change_due;
