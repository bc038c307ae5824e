-- The same change as migrations/sqlite, in PostgreSQL's dialect.
ALTER TABLE audit ADD COLUMN choice TEXT NOT NULL DEFAULT 'sale';
ALTER TABLE dead_letter ADD COLUMN choice TEXT NOT NULL DEFAULT 'sale';
ALTER TABLE pending ADD COLUMN choice TEXT NOT NULL DEFAULT 'sale';
ALTER TABLE pending DROP CONSTRAINT pending_pkey;
ALTER TABLE pending ADD PRIMARY KEY (profile_key, choice);
