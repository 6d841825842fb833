-- 001_incidents.sql: the incident table.  itsmctl applies this file inside
-- its own transaction and records it in schema_version; no BEGIN/COMMIT here.

CREATE TABLE incidents (
	id		bigserial PRIMARY KEY,
	host		text NOT NULL,
	check_name	text NOT NULL,
	severity	text NOT NULL
			CHECK (severity IN ('warning', 'critical', 'unknown')),
	summary		text NOT NULL DEFAULT '',
	opened_at	timestamptz NOT NULL,
	last_seen_at	timestamptz NOT NULL,
	resolved_at	timestamptz NULL,
	resolution	text NULL,
	updates		int NOT NULL DEFAULT 0
);

-- The invariant the daemon relies on: at most one open incident per host and
-- check.  incident.c upserts against exactly this index (ON CONFLICT ... WHERE
-- resolved_at IS NULL), so replayed statements cannot open duplicates.
CREATE UNIQUE INDEX incidents_one_open
	ON incidents (host, check_name) WHERE resolved_at IS NULL;

-- `itsmctl incidents -a` lists the latest resolved ones.
CREATE INDEX incidents_resolved_at
	ON incidents (resolved_at DESC) WHERE resolved_at IS NOT NULL;
