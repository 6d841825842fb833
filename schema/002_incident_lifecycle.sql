-- 002_incident_lifecycle.sql: the incident lifecycle (new, acknowledged,
-- resolved, closed), its timeline, affected CIs, problems, maintenance
-- windows, and itsmd_change(), the one function the daemon calls per change.

ALTER TABLE incidents
	ADD COLUMN status	text NOT NULL DEFAULT 'new'
		CHECK (status IN ('new', 'acknowledged', 'resolved', 'closed')),
	ADD COLUMN priority	int NULL CHECK (priority BETWEEN 1 AND 5),
	ADD COLUMN flapping	bool NOT NULL DEFAULT false,
	ADD COLUMN maintenance	bool NOT NULL DEFAULT false,
	ADD COLUMN acknowledged_at timestamptz NULL,
	ADD COLUMN acknowledged_by text NULL,
	ADD COLUMN closed_at	timestamptz NULL,
	ADD COLUMN reopened	int NOT NULL DEFAULT 0,
	ADD COLUMN problem_id	bigint NULL;
UPDATE incidents SET status = 'resolved' WHERE resolved_at IS NOT NULL;

CREATE INDEX incidents_host_check ON incidents (host, check_name, opened_at DESC);
CREATE INDEX incidents_to_close ON incidents (resolved_at) WHERE status = 'resolved';

-- The timeline.  `kind` is one of: opened, severity, priority, flapping,
-- maintenance, acknowledged, comment, resolved, reopened, ci-attached,
-- ci-detached, problem, closed.  `who` is "itsmd" or the operator.
CREATE TABLE incident_events (
	id		bigserial PRIMARY KEY,
	incident_id	bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
	at		timestamptz NOT NULL,
	kind		text NOT NULL,
	who		text NOT NULL DEFAULT 'itsmd',
	old_value	text NULL,
	new_value	text NULL,
	text		text NOT NULL DEFAULT '',
	change_key	text NULL
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, id);

-- Every state change the daemon sends carries a key made when the change
-- happened; a replay (spool, lost connection) finds its key here and does
-- nothing.  The insert and the change commit together.
CREATE TABLE incident_changes (
	change_key	text PRIMARY KEY,
	host		text NOT NULL,
	check_name	text NOT NULL,
	severity	text NOT NULL,
	at		timestamptz NOT NULL,
	incident_id	bigint NULL,
	action		text NOT NULL,
	applied_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incident_changes_check ON incident_changes (host, check_name, at);

-- Children whose failure is attached to a parent's incident instead of
-- opening their own.  detached_at: recovered, or given its own incident.
CREATE TABLE incident_cis (
	incident_id	bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
	host		text NOT NULL,
	check_name	text NOT NULL,
	severity	text NOT NULL,
	summary		text NOT NULL DEFAULT '',
	attached_at	timestamptz NOT NULL,
	detached_at	timestamptz NULL,
	PRIMARY KEY (incident_id, host, check_name)
);
CREATE INDEX incident_cis_ci ON incident_cis (host, check_name) WHERE detached_at IS NULL;

-- Recurring faults: `problem-after N in WINDOW` incidents on one CI+check.
CREATE TABLE problems (
	id		bigserial PRIMARY KEY,
	host		text NOT NULL,
	check_name	text NOT NULL,
	status		text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
	opened_at	timestamptz NOT NULL,
	closed_at	timestamptz NULL,
	summary		text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX problems_one_open ON problems (host, check_name) WHERE status = 'open';
ALTER TABLE incidents ADD CONSTRAINT incidents_problem
	FOREIGN KEY (problem_id) REFERENCES problems (id) ON DELETE SET NULL;

-- Maintenance windows made with `itsmctl maintenance add`; the daemon's
-- state side reads the ones active now.  target_kind host|check|tag; for a
-- check, target is "HOST/PROBE".  A recurring window repeats every
-- `every` from starts_at for `duration` (ends_at bounds the series).
CREATE TABLE maintenance (
	id		bigserial PRIMARY KEY,
	target_kind	text NOT NULL CHECK (target_kind IN ('host', 'check', 'tag')),
	target		text NOT NULL,
	starts_at	timestamptz NOT NULL,
	ends_at		timestamptz NULL,
	duration	interval NULL,
	every		interval NULL,
	comment		text NOT NULL DEFAULT '',
	created_by	text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	ended_at	timestamptz NULL,
	CHECK (ends_at IS NOT NULL OR every IS NOT NULL),
	CHECK ((every IS NULL) = (duration IS NULL))
);

-- Is a window active at `at`?  Ended windows (`itsmctl maintenance end`) never are.
CREATE FUNCTION itsmd_maintenance_active(m maintenance, at timestamptz)
RETURNS bool LANGUAGE sql IMMUTABLE AS $$
	SELECT m.ended_at IS NULL AND at >= m.starts_at
	    AND (m.ends_at IS NULL OR at < m.ends_at OR m.every IS NOT NULL)
	    AND (m.every IS NULL OR
		((m.ends_at IS NULL OR at < m.ends_at) AND
		 at < m.starts_at + m.every *
		    floor(extract(epoch FROM at - m.starts_at) / extract(epoch FROM m.every))
		    + m.duration))
$$;

-- Resolved incidents past the reopen window can no longer come back: closed.
-- The daemon runs this every minute; itsmd_change() does it for its own check.
CREATE FUNCTION itsmd_close_expired(p_reopen_s float8) RETURNS bigint
LANGUAGE sql AS $$
	WITH c AS (UPDATE incidents i SET status = 'closed',
	    closed_at = i.resolved_at + make_interval(secs => p_reopen_s)
	    WHERE i.status = 'resolved' AND i.resolved_at < now() - make_interval(secs => p_reopen_s)
	    RETURNING 1)
	SELECT count(*) FROM c
$$;

CREATE FUNCTION itsmd_event(inc bigint, at timestamptz, kind text, oldv text, newv text,
    txt text, key text) RETURNS void LANGUAGE sql AS $$
	INSERT INTO incident_events (incident_id, at, kind, old_value, new_value, text, change_key)
	VALUES (inc, at, kind, oldv, newv, coalesce(txt, ''), key)
$$;

/*
 * One change of one check instance, applied once whatever the replays.
 * Returns the incident touched (NULL if none) and what was done:
 * duplicate, opened, reopened, attached, updated, suppressed, resolved, none.
 * `notify` says whether the change is one a receiver hears about, and
 * `priority` the incident's priority after it.
 */
CREATE FUNCTION itsmd_change(
	p_key text, p_host text, p_check text, p_sev text, p_summary text, p_when_ms float8,
	p_priority int, p_flapping bool, p_maint bool, p_parent_host text,
	p_parent_check text, p_reopen_s float8, p_problem_n int, p_problem_s float8,
	OUT incident_id bigint, OUT action text, OUT notify text, OUT priority int)
LANGUAGE plpgsql AS $$
DECLARE
	w	timestamptz := to_timestamp(p_when_ms / 1000);
	inc	incidents%ROWTYPE;
	par	bigint;
	prob	bigint;
	n	int;
BEGIN
	notify := NULL;
	IF p_key IS NOT NULL THEN
		SELECT c.incident_id, c.action INTO incident_id, action
		    FROM incident_changes c WHERE c.change_key = p_key;
		IF FOUND THEN
			action := 'duplicate';
			RETURN;
		END IF;
	END IF;
	IF p_priority = 0 THEN
		p_priority := NULL;
	END IF;

	SELECT * INTO inc FROM incidents i
	    WHERE i.host = p_host AND i.check_name = p_check AND i.resolved_at IS NULL FOR UPDATE;

	IF p_sev = 'ok' THEN
		UPDATE incident_cis c SET detached_at = w
		    WHERE c.host = p_host AND c.check_name = p_check AND c.detached_at IS NULL
		    RETURNING c.incident_id INTO par;
		IF par IS NOT NULL THEN
			INSERT INTO incident_events (incident_id, at, kind, old_value, new_value, text, change_key)
			VALUES (par, w, 'ci-detached', NULL, p_host || '/' || p_check,
			    coalesce(p_summary, ''), p_key);
		END IF;
		IF inc.id IS NULL THEN
			incident_id := par;
			action := 'none';
		ELSE
			UPDATE incidents i SET resolved_at = GREATEST(w, i.opened_at), status = 'resolved',
			    resolution = p_summary WHERE i.id = inc.id;
			INSERT INTO incident_events (incident_id, at, kind, old_value, new_value, text, change_key)
			VALUES (inc.id, w, 'resolved', inc.severity, 'ok', coalesce(p_summary, ''), p_key);
			incident_id := inc.id;
			action := 'resolved';
			notify := 'resolve';
			priority := inc.priority;
		END IF;
	ELSIF inc.id IS NOT NULL THEN
		-- Severity follows the check while open; a stale replay changes nothing.
		incident_id := inc.id;
		action := 'updated';
		priority := inc.priority;
		IF w >= inc.last_seen_at THEN
			IF inc.severity <> p_sev THEN
				INSERT INTO incident_events (incident_id, at, kind, old_value, new_value, text, change_key)
			VALUES (inc.id, w, 'severity', inc.severity, p_sev, coalesce(p_summary, ''), p_key);
				IF p_sev = 'critical' THEN
					notify := 'escalate';
				END IF;
			END IF;
			IF p_priority IS NOT NULL AND p_priority IS DISTINCT FROM inc.priority THEN
				INSERT INTO incident_events (incident_id, at, kind, old_value, new_value, text, change_key)
			VALUES (inc.id, w, 'priority', 'P' || inc.priority,
				    'P' || p_priority, '', p_key);
				IF inc.priority IS NULL OR p_priority < inc.priority THEN
					notify := 'escalate';
				END IF;
				priority := p_priority;
			END IF;
			IF inc.flapping <> p_flapping THEN
				INSERT INTO incident_events (incident_id, at, kind, old_value, new_value, text, change_key)
			VALUES (inc.id, w, 'flapping', inc.flapping::text,
				    p_flapping::text, CASE WHEN p_flapping THEN 'flapping started'
				    ELSE 'flapping stopped' END, p_key);
			END IF;
			IF inc.maintenance <> p_maint THEN
				INSERT INTO incident_events (incident_id, at, kind, old_value, new_value, text, change_key)
			VALUES (inc.id, w, 'maintenance', inc.maintenance::text,
				    p_maint::text, CASE WHEN p_maint THEN 'in maintenance'
				    ELSE 'maintenance over' END, p_key);
			END IF;
			UPDATE incidents i SET severity = p_sev, summary = p_summary,
			    priority = coalesce(p_priority, i.priority), flapping = p_flapping,
			    maintenance = p_maint, last_seen_at = w, updates = i.updates + 1
			    WHERE i.id = inc.id;
		ELSE
			UPDATE incidents i SET updates = i.updates + 1 WHERE i.id = inc.id;
		END IF;
	ELSE
		-- A child of a parent that is down joins the parent's incident.
		IF p_parent_host IS NOT NULL THEN
			SELECT i.id INTO par FROM incidents i
			    WHERE i.host = p_parent_host AND i.check_name = p_parent_check
			    AND i.resolved_at IS NULL;
		END IF;
		IF par IS NOT NULL THEN
			INSERT INTO incident_cis AS c (incident_id, host, check_name, severity, summary,
			    attached_at)
				VALUES (par, p_host, p_check, p_sev, p_summary, w)
			    ON CONFLICT ON CONSTRAINT incident_cis_pkey DO UPDATE
			    SET severity = EXCLUDED.severity, summary = EXCLUDED.summary,
				detached_at = NULL
			    WHERE c.detached_at IS NOT NULL OR c.severity <> EXCLUDED.severity;
			IF FOUND AND NOT EXISTS (SELECT 1 FROM incident_events e WHERE e.incident_id = par
			    AND e.kind = 'ci-attached' AND e.new_value = p_host || '/' || p_check
			    AND e.at >= (SELECT c.attached_at FROM incident_cis c WHERE c.incident_id = par
				AND c.host = p_host AND c.check_name = p_check)) THEN
				INSERT INTO incident_events (incident_id, at, kind, old_value, new_value, text, change_key)
			VALUES (par, w, 'ci-attached', NULL, p_host || '/' || p_check,
				    coalesce(p_summary, ''), p_key);
			END IF;
			incident_id := par;
			action := 'attached';
		ELSIF p_maint THEN
			action := 'suppressed';
		ELSE
			-- This check's resolved incidents past the reopen window are closed.
			UPDATE incidents i SET status = 'closed',
			    closed_at = i.resolved_at + make_interval(secs => p_reopen_s)
			    WHERE i.host = p_host AND i.check_name = p_check AND i.status = 'resolved'
			    AND i.resolved_at < w - make_interval(secs => p_reopen_s);
			-- Attached elsewhere before: now on its own.
			UPDATE incident_cis c SET detached_at = w
			    WHERE c.host = p_host AND c.check_name = p_check AND c.detached_at IS NULL;
			SELECT * INTO inc FROM incidents i
			    WHERE i.host = p_host AND i.check_name = p_check AND i.status = 'resolved'
			    AND i.resolved_at >= w - make_interval(secs => p_reopen_s)
			    ORDER BY i.resolved_at DESC LIMIT 1 FOR UPDATE;
			IF inc.id IS NOT NULL THEN
				UPDATE incidents i SET resolved_at = NULL, resolution = NULL, status = 'new',
				    severity = p_sev, summary = p_summary,
				    priority = coalesce(p_priority, i.priority), flapping = p_flapping,
				    last_seen_at = GREATEST(w, i.last_seen_at), reopened = i.reopened + 1,
				    acknowledged_at = NULL, acknowledged_by = NULL
				    WHERE i.id = inc.id;
				INSERT INTO incident_events (incident_id, at, kind, old_value, new_value, text, change_key)
			VALUES (inc.id, w, 'reopened', 'resolved', p_sev, coalesce(p_summary, ''), p_key);
				incident_id := inc.id;
				action := 'reopened';
			ELSE
				INSERT INTO incidents (host, check_name, severity, summary, opened_at,
				    last_seen_at, priority, flapping, maintenance)
					VALUES (p_host, p_check, p_sev, p_summary, w, w, p_priority, p_flapping,
				    false)
				    RETURNING id INTO incident_id;
				INSERT INTO incident_events (incident_id, at, kind, old_value, new_value, text, change_key)
			VALUES (incident_id, w, 'opened', NULL, p_sev, coalesce(p_summary, ''), p_key);
				action := 'opened';

				-- Problem management: join the open problem, or make one.
				SELECT p.id INTO prob FROM problems p
				    WHERE p.host = p_host AND p.check_name = p_check AND p.status = 'open';
				IF prob IS NULL AND p_problem_n > 0 THEN
					SELECT count(*) INTO n FROM incidents i
					    WHERE i.host = p_host AND i.check_name = p_check
					    AND i.opened_at >= w - make_interval(secs => p_problem_s);
					IF n >= p_problem_n THEN
						INSERT INTO problems (host, check_name, opened_at, summary)
							VALUES (p_host, p_check, w, n || ' incidents within ' ||
						    make_interval(secs => p_problem_s)::text || ': ' || p_summary)
						    RETURNING id INTO prob;
						UPDATE incidents i SET problem_id = prob
						    WHERE i.host = p_host AND i.check_name = p_check
						    AND i.opened_at >= w - make_interval(secs => p_problem_s);
					END IF;
				ELSIF prob IS NOT NULL THEN
					UPDATE incidents i SET problem_id = prob WHERE i.id = incident_id;
				END IF;
				IF prob IS NOT NULL THEN
					INSERT INTO incident_events (incident_id, at, kind, old_value, new_value, text, change_key)
			VALUES (incident_id, w, 'problem', NULL, prob::text, '',
					    p_key);
				END IF;
			END IF;
			notify := 'open';
			priority := p_priority;
		END IF;
	END IF;
	IF p_key IS NOT NULL THEN
		-- clock_timestamp(): the work done, for latency figures (bench)
		INSERT INTO incident_changes (change_key, host, check_name, severity, at,
		    incident_id, action, applied_at)
			VALUES (p_key, p_host, p_check, p_sev, w, incident_id, action, clock_timestamp());
	END IF;
END
$$;
