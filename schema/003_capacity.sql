-- 003_capacity.sql: capacity records, the proactive side of capacity
-- management.  One row per metric whose forecast reaches its limit within
-- the horizon; capacity.c upserts it as the forecast moves and resolves it
-- when the date leaves the horizon.  Applied by itsmctl db migrate.

CREATE TABLE capacity_records (
	id		bigserial PRIMARY KEY,
	category	text NOT NULL DEFAULT 'capacity' CHECK (category = 'capacity'),
	urgency		text NOT NULL DEFAULT 'low',
	host		text NOT NULL,
	metric		text NOT NULL,		-- probe/metric or probe[row]/metric
	current		double precision NOT NULL,
	capacity_limit	double precision NOT NULL,
	trend_per_day	double precision NOT NULL,
	predicted_at	timestamptz NOT NULL,	-- when the limit is reached
	confidence	double precision NOT NULL,	-- r squared of the fit, 0..1
	summary		text NOT NULL,
	opened_at	timestamptz NOT NULL,
	updated_at	timestamptz NOT NULL,
	resolved_at	timestamptz NULL,
	resolution	text NULL,
	updates		int NOT NULL DEFAULT 0
);

-- As for incidents: one open record per metric, whatever is replayed.
CREATE UNIQUE INDEX capacity_one_open
	ON capacity_records (host, metric) WHERE resolved_at IS NULL;
