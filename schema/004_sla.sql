-- 004_sla.sql: availability accounting and service-level reports.  The
-- daemon journals every state change of a service or host as an interval
-- (itsmd_avail) and upserts its SLA definitions (itsmd_sla_define); all the
-- arithmetic (service hours in the SLA's time zone, downtime, error budget,
-- burn rate, MTTR/MTBF) is here, so itsmctl, the HTTP API and the daemon's
-- evaluation loop get the same figures from one place.

-- One row per interval of one state.  Per subject the intervals never
-- overlap and at most one is open (ended_at NULL); itsmd_avail keeps both.
CREATE TABLE availability (
	id		bigserial PRIMARY KEY,
	-- "C": plain byte comparisons on every index entry a report reads.
	kind		text COLLATE "C" NOT NULL CHECK (kind IN ('service', 'host')),
	subject		text COLLATE "C" NOT NULL,
	state		text COLLATE "C" NOT NULL
			CHECK (state IN ('ok', 'warning', 'critical', 'unknown')),
	maintenance	bool NOT NULL DEFAULT false,
	started_at	timestamptz NOT NULL,
	ended_at	timestamptz NULL CHECK (ended_at >= started_at),
	change_key	text NOT NULL UNIQUE,
	-- The interval just before this one when it ends exactly where this
	-- one starts (empty ones skipped), else NULL: set on insert by
	-- availability_prev(), so reports find where a down episode starts
	-- without comparing neighbouring rows.
	prev_state	text COLLATE "C" NULL,
	prev_maintenance bool NULL
);
-- Reports read a subject's rows by start time: the rows starting in the
-- period, plus the one before it (which is the only one that can cover the
-- period's start, since intervals never overlap).
-- It carries what reports read, so they never visit the table.
CREATE INDEX availability_subject ON availability (kind, subject, started_at, id)
	INCLUDE (ended_at, state, maintenance, prev_state, prev_maintenance);
CREATE UNIQUE INDEX availability_one_open
	ON availability (kind, subject) WHERE ended_at IS NULL;

CREATE FUNCTION availability_prev() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	v_end	timestamptz;
	v_state	text;
	v_maint	bool;
BEGIN
	IF NEW.prev_state IS NULL THEN
		SELECT a.ended_at, a.state, a.maintenance INTO v_end, v_state, v_maint
		FROM availability a
		WHERE a.kind = NEW.kind AND a.subject = NEW.subject
		    AND a.started_at < NEW.started_at
		ORDER BY a.started_at DESC, a.id DESC LIMIT 1;
		IF v_end = NEW.started_at THEN
			NEW.prev_state := v_state;
			NEW.prev_maintenance := v_maint;
		END IF;
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER availability_prev BEFORE INSERT ON availability
	FOR EACH ROW EXECUTE FUNCTION availability_prev();

-- An SLA as the conf defines it; the daemon upserts it at start and reload.
CREATE TABLE sla (
	name		text PRIMARY KEY,
	service		text NOT NULL,
	target		double precision NOT NULL CHECK (target > 0 AND target < 100),
	period		text NOT NULL
			CHECK (period IN ('day', 'week', 'month', 'quarter', 'year')),
	tz		text NOT NULL DEFAULT 'UTC',
	hours		text NOT NULL DEFAULT '',	-- as given; '' = 24x7
	holidays	date[] NOT NULL DEFAULT '{}',
	down		text[] NOT NULL DEFAULT '{critical}',
	maintenance	text NOT NULL DEFAULT 'exclude'
			CHECK (maintenance IN ('exclude', 'up')),
	impact		int NOT NULL DEFAULT 2,
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sla_service ON sla (service);
-- A report over many SLAs is one function call per SLA: let PostgreSQL
-- share the SLAs out to parallel workers (the table is far too small for
-- its size rule to do so; the functions' COST says each call is heavy).
ALTER TABLE sla SET (parallel_workers = 2);

-- The service-hours windows of an SLA, parsed from sla.hours: on ISO
-- weekday dow (1 = Monday), local time starts..ends; ends <= starts runs
-- past midnight into the next day.
CREATE TABLE sla_hours (
	sla		text NOT NULL REFERENCES sla (name) ON DELETE CASCADE
			ON UPDATE CASCADE,
	dow		int NOT NULL CHECK (dow BETWEEN 1 AND 7),
	starts		time NOT NULL,
	ends		time NOT NULL
);
CREATE INDEX sla_hours_sla ON sla_hours (sla);

-- ---------------------------------------------------------------- journal
-- Idempotent on p_key: a replay (spool, lost connection) finds the key and
-- does nothing.  A change equal to the open interval is a no-op; one older
-- than the open interval's start is clamped to it, so intervals never
-- overlap whatever order replays arrive in.
CREATE FUNCTION itsmd_avail(p_key text, p_kind text, p_subject text, p_state text,
    p_maintenance bool, p_at_ms bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	v_at	timestamptz := 'epoch'::timestamptz + p_at_ms * interval '1 millisecond';
	v_open	availability%ROWTYPE;
	v_last	timestamptz;
BEGIN
	-- Two sessions changing one subject would both see the same open row.
	PERFORM pg_advisory_xact_lock(hashtextextended(p_kind || '/' || p_subject, 7));
	PERFORM 1 FROM availability WHERE change_key = p_key;
	IF FOUND THEN
		RETURN;
	END IF;
	SELECT * INTO v_open FROM availability
	    WHERE kind = p_kind AND subject = p_subject AND ended_at IS NULL FOR UPDATE;
	IF FOUND THEN
		IF v_open.state = p_state AND v_open.maintenance = p_maintenance THEN
			RETURN;
		END IF;
		v_at := greatest(v_at, v_open.started_at);
		UPDATE availability SET ended_at = v_at WHERE id = v_open.id;
	ELSE
		SELECT max(ended_at) INTO v_last FROM availability
		    WHERE kind = p_kind AND subject = p_subject;
		IF v_last IS NOT NULL THEN
			v_at := greatest(v_at, v_last);
		END IF;
	END IF;
	INSERT INTO availability (kind, subject, state, maintenance, started_at, change_key)
	    VALUES (p_kind, p_subject, p_state, p_maintenance, v_at, p_key);
END $$;

-- ------------------------------------------------------------ definitions
-- 'mon' .. 'sun' to ISO weekday numbers.
CREATE FUNCTION sla_dow(p text) RETURNS int
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v int := array_position(ARRAY['mon','tue','wed','thu','fri','sat','sun'],
	    lower(btrim(p)));
BEGIN
	IF v IS NULL THEN
		RAISE EXCEPTION 'service hours: "%" is not a day (mon .. sun)', p;
	END IF;
	RETURN v;
END $$;

-- Upsert one SLA.  p_hours: '' (24x7) or comma-separated items, each
-- "DAYS HH:MM-HH:MM [HH:MM-HH:MM ...]" where DAYS is mon, mon-fri, or
-- daily; p_holidays: comma-separated YYYY-MM-DD; p_down: 'critical' or
-- 'critical,warning'.
CREATE FUNCTION itsmd_sla_define(p_name text, p_service text, p_target float8,
    p_period text, p_tz text, p_hours text, p_holidays text, p_down text,
    p_maintenance text, p_impact int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	v_item	text;
	v_words	text[];
	v_from	int;
	v_to	int;
	v_tz	text := coalesce(nullif(btrim(p_tz), ''), 'UTC');
BEGIN
	-- An unknown zone raises here, naming it, before anything is written.
	PERFORM now() AT TIME ZONE v_tz;
	INSERT INTO sla AS s (name, service, target, period, tz, hours, holidays, down,
	    maintenance, impact, updated_at)
	VALUES (p_name, p_service, p_target, p_period, v_tz, coalesce(p_hours, ''),
	    coalesce((SELECT array_agg(btrim(h)::date ORDER BY btrim(h)::date)
		FROM unnest(string_to_array(p_holidays, ',')) h WHERE btrim(h) <> ''), '{}'),
	    coalesce((SELECT array_agg(lower(btrim(d)))
		FROM unnest(string_to_array(p_down, ',')) d WHERE btrim(d) <> ''),
		'{critical}'),
	    coalesce(nullif(p_maintenance, ''), 'exclude'), coalesce(p_impact, 2), now())
	ON CONFLICT (name) DO UPDATE SET service = excluded.service,
	    target = excluded.target, period = excluded.period, tz = excluded.tz,
	    hours = excluded.hours, holidays = excluded.holidays, down = excluded.down,
	    maintenance = excluded.maintenance, impact = excluded.impact,
	    updated_at = excluded.updated_at;

	DELETE FROM sla_hours WHERE sla = p_name;
	FOREACH v_item IN ARRAY coalesce(string_to_array(p_hours, ','), '{}') LOOP
		v_words := regexp_split_to_array(btrim(v_item), '\s+');
		CONTINUE WHEN v_words = '{""}';
		IF array_length(v_words, 1) < 2 THEN
			RAISE EXCEPTION 'service hours "%": want DAYS HH:MM-HH:MM', v_item;
		END IF;
		IF lower(v_words[1]) IN ('daily', 'all', 'mon-sun') THEN
			v_from := 1;
			v_to := 7;
		ELSIF position('-' IN v_words[1]) > 0 THEN
			v_from := sla_dow(split_part(v_words[1], '-', 1));
			v_to := sla_dow(split_part(v_words[1], '-', 2));
		ELSE
			v_from := sla_dow(v_words[1]);
			v_to := v_from;
		END IF;
		-- fri-mon wraps round the week.
		INSERT INTO sla_hours (sla, dow, starts, ends)
		SELECT p_name, 1 + (d - 1) % 7, split_part(w, '-', 1)::time,
		    split_part(w, '-', 2)::time
		FROM generate_series(v_from, CASE WHEN v_to < v_from THEN v_to + 7
		    ELSE v_to END) d, unnest(v_words[2:]) w;
	END LOOP;
END $$;

-- ------------------------------------------------------------- arithmetic
-- Seconds covered by a multirange (its pieces never overlap).
CREATE FUNCTION sla_seconds(p tstzmultirange) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT coalesce(sum(extract(epoch FROM upper(r) - lower(r))), 0)::float8
	FROM unnest(p) r
$$;

-- The calendar period of the SLA's kind containing p_at, in its time zone
-- (weeks are ISO weeks, from Monday 00:00 local).
CREATE FUNCTION sla_period(p_name text, p_at timestamptz) RETURNS tstzrange
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
	v_sla	sla%ROWTYPE;
	v_lo	timestamp;
BEGIN
	SELECT * INTO v_sla FROM sla WHERE name = p_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no SLA named "%"', p_name;
	END IF;
	v_lo := date_trunc(v_sla.period, p_at AT TIME ZONE v_sla.tz);
	RETURN tstzrange(v_lo AT TIME ZONE v_sla.tz,
	    (v_lo + ('1 ' || v_sla.period)::interval) AT TIME ZONE v_sla.tz, '[)');
END $$;

-- A period as people write it, in the SLA's time zone: 2026 (year),
-- 2026-Q4, 2026-11 (month), 2026-W48 (ISO week), 2026-11-26 (day), or ''
-- / 'current' for the SLA's current period and 'previous' for the one
-- before.
CREATE FUNCTION sla_period_parse(p_name text, p_spec text) RETURNS tstzrange
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
	v_tz	text;
	v_lo	timestamp;
	v_len	interval;
	v_cur	tstzrange;
	v_spec	text := lower(btrim(coalesce(p_spec, '')));
	m	text[];
BEGIN
	-- Checked by hand, not by catching errors: an EXCEPTION block is a
	-- subtransaction, which parallel workers cannot run.
	SELECT tz INTO v_tz FROM sla WHERE name = p_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no SLA named "%"', p_name;
	END IF;
	IF v_spec IN ('', 'current') THEN
		RETURN sla_period(p_name, now());
	ELSIF v_spec = 'previous' THEN
		v_cur := sla_period(p_name, now());
		RETURN sla_period(p_name, lower(v_cur) - interval '1 microsecond');
	END IF;
	m := regexp_match(v_spec, '^(\d{4})(?:-(q[1-4]|w\d{1,2}|\d{2})(?:-(\d{2}))?)?$');
	IF m IS NULL OR m[1]::int < 1 OR (m[3] IS NOT NULL AND m[2] !~ '^\d') THEN
		RAISE EXCEPTION 'period "%": want YYYY, YYYY-Qn, YYYY-MM, YYYY-Www, YYYY-MM-DD, current or previous', p_spec;
	END IF;
	IF m[2] IS NULL THEN
		v_lo := make_timestamp(m[1]::int, 1, 1, 0, 0, 0);
		v_len := interval '1 year';
	ELSIF m[2] LIKE 'q%' THEN
		v_lo := make_timestamp(m[1]::int, 3 * substr(m[2], 2)::int - 2, 1, 0, 0, 0);
		v_len := interval '3 months';
	ELSIF m[2] LIKE 'w%' THEN
		-- ISO week 1 holds 4 January; weeks start on Monday.
		v_lo := date_trunc('week', make_timestamp(m[1]::int, 1, 4, 0, 0, 0)) +
		    (substr(m[2], 2)::int - 1) * interval '1 week';
		IF substr(m[2], 2)::int < 1 OR extract(isoyear FROM v_lo) <> m[1]::int THEN
			RAISE EXCEPTION 'period "%": % has no week %', p_spec, m[1], substr(m[2], 2);
		END IF;
		v_len := interval '1 week';
	ELSE
		IF m[2]::int NOT BETWEEN 1 AND 12 THEN
			RAISE EXCEPTION 'period "%": not a date', p_spec;
		END IF;
		v_lo := make_timestamp(m[1]::int, m[2]::int, 1, 0, 0, 0);
		v_len := interval '1 month';
		IF m[3] IS NOT NULL THEN
			IF m[3]::int < 1 OR v_lo + (m[3]::int - 1) * interval '1 day' >= v_lo + v_len THEN
				RAISE EXCEPTION 'period "%": not a date', p_spec;
			END IF;
			v_lo := v_lo + (m[3]::int - 1) * interval '1 day';
			v_len := interval '1 day';
		END IF;
	END IF;
	RETURN tstzrange(v_lo AT TIME ZONE v_tz, (v_lo + v_len) AT TIME ZONE v_tz, '[)');
END $$;

-- The SLA's service-hours time within [p_from, p_to): the period itself for
-- 24x7, else the hours windows built per local day as (date + time) AT TIME
-- ZONE tz, so a window stays 08:00-18:00 local across DST and a DST day is
-- 23 or 25 hours long; holidays (whole local dates) are taken out.
CREATE FUNCTION sla_hours_in(p_name text, p_from timestamptz, p_to timestamptz)
RETURNS tstzmultirange
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
	v_sla	sla%ROWTYPE;
	v_all	tstzmultirange := tstzmultirange(tstzrange(p_from, p_to, '[)'));
	v_win	tstzmultirange;
BEGIN
	SELECT * INTO v_sla FROM sla WHERE name = p_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no SLA named "%"', p_name;
	END IF;
	IF p_to <= p_from THEN
		RETURN '{}'::tstzmultirange;
	END IF;
	IF v_sla.hours = '' AND cardinality(v_sla.holidays) = 0 THEN
		RETURN v_all;
	END IF;
	-- From the local day before p_from: a window past midnight reaches in.
	WITH days AS (
		SELECT d::date AS d FROM generate_series(
		    ((p_from AT TIME ZONE v_sla.tz)::date - 1)::timestamp,
		    (p_to AT TIME ZONE v_sla.tz)::date::timestamp, interval '1 day') d
	)
	SELECT coalesce(range_agg(w), '{}') INTO v_win FROM (
		SELECT tstzrange((d + h.starts) AT TIME ZONE v_sla.tz,
		    (d + h.ends + CASE WHEN h.ends <= h.starts THEN interval '1 day'
			ELSE interval '0' END) AT TIME ZONE v_sla.tz, '[)') AS w
		FROM days JOIN sla_hours h ON h.sla = p_name
		    AND h.dow = extract(isodow FROM days.d)
		WHERE v_sla.hours <> ''
		UNION ALL
		SELECT tstzrange(d::timestamp AT TIME ZONE v_sla.tz,
		    (d + 1)::timestamp AT TIME ZONE v_sla.tz, '[)')
		FROM days WHERE v_sla.hours = ''
	) x;
	IF cardinality(v_sla.holidays) > 0 THEN
		v_win := v_win - coalesce((SELECT range_agg(tstzrange(
		    h::timestamp AT TIME ZONE v_sla.tz,
		    (h + 1)::timestamp AT TIME ZONE v_sla.tz, '[)'))
		    FROM unnest(v_sla.holidays) h), '{}');
	END IF;
	RETURN v_win * v_all;
END $$;

-- A row's class for an SLA: m(aintenance), d(own: its state in the down
-- set), u(nknown) or o(k); NULL for no state.
CREATE FUNCTION sla_class(p_state text, p_maint bool, p_dc bool, p_dw bool, p_du bool)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN p_state IS NULL THEN NULL
	    WHEN p_maint THEN 'm'
	    WHEN (p_state = 'critical' AND p_dc) OR (p_state = 'warning' AND p_dw)
		OR (p_state = 'unknown' AND p_du) THEN 'd'
	    WHEN p_state = 'unknown' THEN 'u' ELSE 'o' END
$$;

-- The figures of one SLA over [p_from, p_to), with p_now as "now": time
-- after it, and before the service's first row, has no data and is not
-- counted.  Within service hours each interval is down (its state in the
-- SLA's down set), unknown (reported, never counted as up or down),
-- maintenance (excluded from counted time, or counted as up, by the SLA's
-- policy) or up.  An incident is a down episode (adjacent down rows merged)
-- that starts in the period and has service-hours downtime in it; MTTR is
-- the mean service-hours downtime of those, MTBF the service-hours up time
-- divided by their number.
CREATE FUNCTION sla_figures(p_name text, p_from timestamptz, p_to timestamptz,
    p_now timestamptz)
RETURNS TABLE (name text, service text, target float8, achieved_pct float8,
    counted_s float8, up_s float8, down_s float8, unknown_s float8,
    maintenance_s float8, budget_s float8, budget_left_s float8, incidents int,
    mttr_s float8, mtbf_s float8, maintenance_policy text)
LANGUAGE plpgsql STABLE PARALLEL SAFE COST 200000 ROWS 1 AS $$
DECLARE
	v_sla	sla%ROWTYPE;
	v_to	timestamptz := least(p_to, p_now);
	v_lo	timestamptz;
	v_lo_s	text;
	v_lo_m	bool;
	v_t	timestamptz;
	v_h	tstzmultirange;
	v_down	tstzmultirange;
	v_up	tstzmultirange;
	v_unk	tstzmultirange;
	v_mnt	tstzmultirange;
	v_e0_s	float8;
	v_n	int;
	v_dc	bool;
	v_dw	bool;
	v_du	bool;
	v_svc	text;
BEGIN
	SELECT * INTO v_sla FROM sla s WHERE s.name = p_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no SLA named "%"', p_name;
	END IF;
	-- Plain booleans: a record field in a query is fetched anew per row.
	v_dc := 'critical' = ANY (v_sla.down);
	v_dw := 'warning' = ANY (v_sla.down);
	v_du := 'unknown' = ANY (v_sla.down);
	v_svc := v_sla.service;
	v_to := greatest(v_to, p_from);
	v_h := sla_hours_in(p_name, p_from, v_to);
	-- The row going at p_from: rows never overlap, so only the last one
	-- starting before it can be.  Then all rows from its start are one
	-- index range scan.
	SELECT a.started_at, a.state, a.maintenance,
	    least(coalesce(a.ended_at, p_now), v_to)
	INTO v_lo, v_lo_s, v_lo_m, v_t FROM availability a
	WHERE a.kind = 'service' AND a.subject = v_svc AND a.started_at < p_from
	ORDER BY a.started_at DESC, a.id DESC LIMIT 1;

	-- The down episode already going at p_from counts as downtime but is
	-- no incident of this period: follow it row by row to its end (v_t).
	v_e0_s := 0;
	IF v_lo IS NOT NULL AND NOT v_lo_m AND v_lo_s = ANY (v_sla.down) AND v_t > p_from THEN
		LOOP
			SELECT a.state, a.maintenance, least(coalesce(a.ended_at, p_now), v_to)
			INTO v_lo_s, v_lo_m, v_lo FROM availability a
			WHERE a.kind = 'service' AND a.subject = v_svc
			    AND a.started_at = v_t AND a.started_at < v_to
			ORDER BY a.id DESC LIMIT 1;
			EXIT WHEN NOT FOUND OR v_lo_m OR NOT (v_lo_s = ANY (v_sla.down))
			    OR v_lo <= v_t;
			v_t := v_lo;
		END LOOP;
		SELECT coalesce(sum(date_part('epoch', upper(r) - lower(r))), 0) INTO v_e0_s
		FROM unnest(v_h * tstzmultirange(tstzrange(p_from, v_t, '[)'))) r;
		v_lo := NULL;
		SELECT a.started_at INTO v_lo FROM availability a
		WHERE a.kind = 'service' AND a.subject = v_svc AND a.started_at < p_from
		ORDER BY a.started_at DESC, a.id DESC LIMIT 1;
	END IF;

	-- Rows are grouped by their own state (and, for 24x7, by the state of
	-- the row just before, if adjacent) and only the few groups are
	-- classified by the SLA's rules: per row there is no more work than a
	-- sum, or a range added to its group's multirange.
	IF v_sla.hours = '' AND cardinality(v_sla.holidays) = 0 THEN
		-- 24x7: the service hours are the period, so sums of the clipped
		-- lengths.  An incident starts at a down row in the period whose
		-- adjacent predecessor (prev_state) is not down.
		SELECT coalesce(sum(g.len) FILTER (WHERE g.cls = 'd'), 0),
		    coalesce(sum(g.len) FILTER (WHERE g.cls = 'o'), 0),
		    coalesce(sum(g.len) FILTER (WHERE g.cls = 'u'), 0),
		    coalesce(sum(g.len) FILTER (WHERE g.cls = 'm'), 0),
		    coalesce(sum(g.n) FILTER (WHERE g.cls = 'd' AND g.pcls IS DISTINCT FROM 'd'), 0)
		INTO down_s, up_s, unknown_s, maintenance_s, v_n
		FROM (SELECT sla_class(y.state, y.maintenance, v_dc, v_dw, v_du) AS cls,
			sla_class(y.prev_state, y.prev_maintenance, v_dc, v_dw, v_du) AS pcls,
			y.len, y.n
		    FROM (SELECT a.state, a.maintenance, a.prev_state, a.prev_maintenance,
			    sum(greatest(date_part('epoch', least(coalesce(a.ended_at, p_now), v_to)
				- greatest(a.started_at, p_from)), 0)) AS len,
			    count(*) FILTER (WHERE a.started_at >= p_from) AS n
			FROM availability a
			WHERE a.kind = 'service' AND a.subject = v_svc
			    AND a.started_at >= coalesce(v_lo, p_from) AND a.started_at < v_to
			    AND coalesce(a.ended_at, p_now) > a.started_at
			GROUP BY 1, 2, 3, 4) y) g;
	ELSE
		-- Service hours: the rows that are not up, merged per group and
		-- then per class (range_agg joins adjacent ranges, so the down
		-- pieces are the episodes, their starts whole); up is the time
		-- with data less those.  All cut by the hours windows below.
		SELECT coalesce(range_agg(g.mr) FILTER (WHERE g.cls = 'd'), '{}'),
		    coalesce(range_agg(g.mr) FILTER (WHERE g.cls = 'u'), '{}'),
		    coalesce(range_agg(g.mr) FILTER (WHERE g.cls = 'm'), '{}')
		INTO v_down, v_unk, v_mnt
		FROM (SELECT sla_class(a.state, a.maintenance, v_dc, v_dw, v_du) AS cls,
			range_agg(tstzrange(a.started_at, least(coalesce(a.ended_at, p_now),
			    v_to), '[)')) AS mr
		    FROM availability a
		    WHERE a.kind = 'service' AND a.subject = v_svc
			AND a.started_at >= coalesce(v_lo, p_from) AND a.started_at < v_to
			AND least(coalesce(a.ended_at, p_now), v_to) > a.started_at
			AND sla_class(a.state, a.maintenance, v_dc, v_dw, v_du) <> 'o'
		    GROUP BY a.state, a.maintenance) g;
		-- The time with data: from the first row to the end of the last,
		-- less the gaps, which only rows without an adjacent predecessor
		-- (prev_state NULL) open; each gap starts where the row before it
		-- ends.
		SELECT CASE WHEN count(*) > 0 THEN tstzmultirange(tstzrange(min(a.started_at),
		    max(least(coalesce(a.ended_at, p_now), v_to)), '[)')) ELSE '{}' END
		INTO v_up
		FROM availability a
		WHERE a.kind = 'service' AND a.subject = v_svc
		    AND a.started_at >= coalesce(v_lo, p_from) AND a.started_at < v_to;
		SELECT v_up - coalesce(range_agg(tstzrange(b.ended_at, a.started_at, '[)')), '{}')
		INTO v_up
		FROM availability a
		CROSS JOIN LATERAL (SELECT b.ended_at FROM availability b
		    WHERE b.kind = a.kind AND b.subject = a.subject
			AND b.started_at < a.started_at
		    ORDER BY b.started_at DESC, b.id DESC LIMIT 1) b
		WHERE a.kind = 'service' AND a.subject = v_svc
		    AND a.started_at > coalesce(v_lo, p_from) AND a.started_at < v_to
		    AND a.prev_state IS NULL AND b.ended_at < a.started_at;
		v_up := coalesce(v_up, '{}') - v_down - v_unk - v_mnt;
		-- Incidents: episodes starting in the period that touch its
		-- service hours (a binary search in v_h each).
		SELECT count(*) FILTER (WHERE lower(e) >= p_from AND v_h && e) INTO v_n
		FROM unnest(v_down) e;
		SELECT (SELECT coalesce(sum(date_part('epoch', upper(r) - lower(r))), 0)
			FROM unnest(v_down * v_h) r),
		    (SELECT coalesce(sum(date_part('epoch', upper(r) - lower(r))), 0)
			FROM unnest(v_up * v_h) r),
		    (SELECT coalesce(sum(date_part('epoch', upper(r) - lower(r))), 0)
			FROM unnest(v_unk * v_h) r),
		    (SELECT coalesce(sum(date_part('epoch', upper(r) - lower(r))), 0)
			FROM unnest(v_mnt * v_h) r)
		INTO down_s, up_s, unknown_s, maintenance_s;
	END IF;

	name := v_sla.name;
	service := v_sla.service;
	target := v_sla.target;
	maintenance_policy := v_sla.maintenance;
	IF v_sla.maintenance = 'up' THEN
		up_s := up_s + maintenance_s;
	END IF;
	counted_s := up_s + down_s;
	achieved_pct := CASE WHEN counted_s > 0 THEN up_s / counted_s * 100 ELSE 100 END;
	budget_s := counted_s * (1 - v_sla.target / 100);
	budget_left_s := budget_s - down_s;
	incidents := v_n;
	-- MTTR: the in-hours downtime of this period's incidents, per incident.
	mttr_s := CASE WHEN v_n > 0 THEN (down_s - v_e0_s) / v_n END;
	mtbf_s := CASE WHEN v_n > 0 THEN up_s / v_n END;
	RETURN NEXT;
END $$;

-- The contract's report: [p_from, p_to) clamped to now.
CREATE FUNCTION sla_report(p_name text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (name text, service text, target float8, achieved_pct float8,
    counted_s float8, up_s float8, down_s float8, unknown_s float8,
    maintenance_s float8, budget_s float8, budget_left_s float8, incidents int,
    mttr_s float8, mtbf_s float8, maintenance_policy text)
LANGUAGE sql STABLE PARALLEL SAFE COST 200000 ROWS 1 AS $$
	SELECT * FROM sla_figures(p_name, p_from, p_to, now())
$$;

-- How fast the budget burns: the down fraction of the counted service-hours
-- time in [p_at - window, p_at], over the fraction the target allows.
-- 1 spends the budget exactly by the end of the period; 0 without data.
CREATE FUNCTION sla_burn(p_name text, p_at timestamptz, p_window_s float8)
RETURNS float8
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN f.counted_s > 0
	    THEN f.down_s / f.counted_s / (1 - f.target / 100) ELSE 0 END
	FROM sla_figures(p_name, p_at - p_window_s * interval '1 second', p_at,
	    least(p_at, now())) f
$$;

-- Every SLA (or those of one service, or one by name) for a period as
-- people write it (see sla_period_parse): what `itsmctl sla` and GET /sla
-- print, so both show the same figures.  Seconds are rounded to the
-- millisecond and the percentage to 1e-6, so float noise never shows.
CREATE FUNCTION sla_reports(p_period text, p_service text, p_sla text)
RETURNS TABLE (service text, sla text, period_from timestamptz,
    period_to timestamptz, time_zone text, target float8, achieved_pct numeric,
    counted_s numeric, up_s numeric, down_s numeric, unknown_s numeric,
    maintenance_s numeric, budget_s numeric, budget_left_s numeric,
    incidents int, mttr_s numeric, mtbf_s numeric, maintenance_policy text)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	-- sla_report() is called in the select list, not as a lateral FROM
	-- item: the planner then charges its COST per SLA and shares the SLAs
	-- out to parallel workers (a lateral function scan is costed as if
	-- its result were reused).
	SELECT q.service, q.name, lower(q.r), upper(q.r), q.tz, (q.f).target,
	    round((q.f).achieved_pct::numeric, 6), round((q.f).counted_s::numeric, 3),
	    round((q.f).up_s::numeric, 3), round((q.f).down_s::numeric, 3),
	    round((q.f).unknown_s::numeric, 3), round((q.f).maintenance_s::numeric, 3),
	    round((q.f).budget_s::numeric, 3), round((q.f).budget_left_s::numeric, 3),
	    (q.f).incidents, round((q.f).mttr_s::numeric, 3), round((q.f).mtbf_s::numeric, 3),
	    (q.f).maintenance_policy
	FROM (SELECT p.service, p.name, p.tz, p.r,
		sla_report(p.name, lower(p.r), upper(p.r)) AS f
	    FROM (SELECT s.service, s.name, s.tz, sla_period_parse(s.name, p_period) AS r
		FROM sla s
		WHERE (coalesce(p_service, '') = '' OR s.service = p_service)
		    AND (coalesce(p_sla, '') = '' OR s.name = p_sla)) p) q
	ORDER BY q.service, q.name
$$;

-- Durations for people: 3d 04:05:06, 04:05:06.
CREATE FUNCTION sla_duration(p_s float8) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN p_s IS NULL THEN '-' ELSE
	    CASE WHEN p_s < 0 THEN '-' ELSE '' END ||
	    CASE WHEN abs(p_s) >= 86400 THEN floor(abs(p_s) / 86400)::text || 'd ' ELSE '' END ||
	    to_char(floor(abs(round(p_s)) / 3600)::int % 24, 'FM00') || ':' ||
	    to_char(floor(abs(round(p_s)) / 60)::int % 60, 'FM00') || ':' ||
	    to_char(abs(round(p_s))::bigint % 60, 'FM00') END
$$;
