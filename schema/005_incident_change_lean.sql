-- 005_incident_change_lean.sql: itsmd_change() again, same arguments and
-- answers as in 002, with fewer statements per change (the spool replay and
-- a storm are bound by it), and a timeline that also says "flapping started"
-- when an incident opens or reopens already flapping, and "flapping stopped"
-- when a flapping incident resolves.
--
-- What was saved, per change: the open incident is resolved by one UPDATE
-- (no SELECT ... FOR UPDATE first); the detach of affected CIs, the
-- incident's last resolution and the open problem are read in one
-- statement; an insert or reopen and its timeline rows are one statement;
-- the expired-incident close runs only when there is one to close.
--
-- One behaviour change: a refresh (no key: the same state again) no longer
-- opens or reopens an incident; only a transition does.

-- Nothing reads incident_changes by check (keys are looked up by key);
-- one index less to keep per change.
DROP INDEX IF EXISTS incident_changes_check;

-- The foreign key of the timeline cost a lookup query per event row (about
-- a tenth of a change); its rows are only written with the id of the
-- incident just read or written.  Deleting an incident still takes its
-- timeline with it, by this trigger instead of ON DELETE CASCADE.
ALTER TABLE incident_events DROP CONSTRAINT IF EXISTS incident_events_incident_id_fkey;
CREATE FUNCTION itsmd_incident_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM incident_events e WHERE e.incident_id = OLD.id;
	RETURN OLD;
END
$$;
CREATE TRIGGER incidents_delete_events AFTER DELETE ON incidents
	FOR EACH ROW EXECUTE FUNCTION itsmd_incident_deleted();

-- The highest priority (lowest number) an incident had: its resolve carries
-- it, so that a receiver's filter that let the open or an escalation through
-- lets the resolve through too, whatever the priority fell to since.
ALTER TABLE incidents ADD COLUMN peak_priority int NULL;	-- from priority, already checked
-- Only incidents that can still resolve or reopen need it; closed ones stay.
UPDATE incidents SET peak_priority = priority
    WHERE priority IS NOT NULL AND status <> 'closed';

CREATE OR REPLACE FUNCTION itsmd_change(
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
	last_id	bigint;
	last_at	timestamptz;
	last_flap bool;
	n	int;
	ci	text := p_host || '/' || p_check;
	txt	text := coalesce(p_summary, '');
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

	IF p_sev = 'ok' THEN
		-- Leave a parent's incident, resolve our own and record the key,
		-- all in one statement.  A resolve carries the highest priority
		-- the incident had: a receiver's filter that let its open (or an
		-- escalation) through lets its resolve through too, also when the
		-- priority fell since and itsmd restarted in between (notify.c's
		-- memory is per run).
		WITH d AS (UPDATE incident_cis c SET detached_at = w
			WHERE c.host = p_host AND c.check_name = p_check AND c.detached_at IS NULL
			RETURNING c.incident_id),
		    de AS (INSERT INTO incident_events (incident_id, at, kind, new_value, text,
			change_key)
			SELECT d.incident_id, w, 'ci-detached', ci, txt, p_key FROM d),
		    o AS (SELECT i.id, i.severity, i.flapping, least(i.priority, i.peak_priority) AS peak
			FROM incidents i
			WHERE i.host = p_host AND i.check_name = p_check AND i.resolved_at IS NULL
			FOR UPDATE OF i),
		    u AS (UPDATE incidents i SET resolved_at = GREATEST(w, i.opened_at),
			status = 'resolved', resolution = p_summary, flapping = p_flapping
			FROM o WHERE i.id = o.id
			RETURNING o.id, o.severity, o.flapping, o.peak),
		    ue AS (INSERT INTO incident_events (incident_id, at, kind, old_value, new_value,
			text, change_key)
			SELECT u.id, w, 'flapping', 'true', 'false', 'flapping stopped', p_key
			    FROM u WHERE u.flapping AND NOT p_flapping
			UNION ALL
			SELECT u.id, w, 'resolved', u.severity, 'ok', txt, p_key FROM u),
		    r AS (SELECT coalesce((SELECT u.id FROM u), (SELECT min(d.incident_id) FROM d))
			    AS id, (SELECT u.peak FROM u) AS peak,
			    CASE WHEN EXISTS (SELECT 1 FROM u) THEN 'resolved' ELSE 'none' END AS act),
		    k AS (INSERT INTO incident_changes (change_key, host, check_name, severity, at,
			incident_id, action, applied_at)
			SELECT p_key, p_host, p_check, p_sev, w, r.id, r.act, clock_timestamp()
			FROM r WHERE p_key IS NOT NULL)
		SELECT r.id, r.peak, r.act INTO incident_id, priority, action FROM r;
		IF action = 'resolved' THEN
			notify := 'resolve';
		END IF;
		RETURN;
	END IF;

	SELECT * INTO inc FROM incidents i
	    WHERE i.host = p_host AND i.check_name = p_check AND i.resolved_at IS NULL
	    FOR UPDATE;
	IF inc.id IS NULL AND p_parent_host IS NOT NULL THEN
		SELECT i.id INTO par FROM incidents i
		    WHERE i.host = p_parent_host AND i.check_name = p_parent_check
		    AND i.resolved_at IS NULL;
	END IF;

	IF inc.id IS NOT NULL THEN
		-- Severity follows the check while open; a stale replay changes nothing.
		incident_id := inc.id;
		action := 'updated';
		priority := inc.priority;
		IF w >= inc.last_seen_at THEN
			IF inc.severity <> p_sev THEN
				INSERT INTO incident_events (incident_id, at, kind, old_value, new_value,
				    text, change_key)
				VALUES (inc.id, w, 'severity', inc.severity, p_sev, txt, p_key);
				IF p_sev = 'critical' THEN
					notify := 'escalate';
				END IF;
			END IF;
			IF p_priority IS NOT NULL AND p_priority IS DISTINCT FROM inc.priority THEN
				INSERT INTO incident_events (incident_id, at, kind, old_value, new_value,
				    text, change_key)
				VALUES (inc.id, w, 'priority', 'P' || inc.priority, 'P' || p_priority, '',
				    p_key);
				IF inc.priority IS NULL OR p_priority < inc.priority THEN
					notify := 'escalate';
				END IF;
				priority := p_priority;
			END IF;
			IF inc.flapping <> p_flapping THEN
				INSERT INTO incident_events (incident_id, at, kind, old_value, new_value,
				    text, change_key)
				VALUES (inc.id, w, 'flapping', inc.flapping::text, p_flapping::text,
				    CASE WHEN p_flapping THEN 'flapping started'
				    ELSE 'flapping stopped' END, p_key);
			END IF;
			IF inc.maintenance <> p_maint THEN
				INSERT INTO incident_events (incident_id, at, kind, old_value, new_value,
				    text, change_key)
				VALUES (inc.id, w, 'maintenance', inc.maintenance::text, p_maint::text,
				    CASE WHEN p_maint THEN 'in maintenance'
				    ELSE 'maintenance over' END, p_key);
			END IF;
			UPDATE incidents i SET severity = p_sev, summary = p_summary,
			    priority = coalesce(p_priority, i.priority),
			    peak_priority = least(i.peak_priority, i.priority, p_priority),
			    flapping = p_flapping,
			    maintenance = p_maint, last_seen_at = w, updates = i.updates + 1
			    WHERE i.id = inc.id;
		ELSE
			UPDATE incidents i SET updates = i.updates + 1 WHERE i.id = inc.id;
		END IF;
	ELSIF par IS NOT NULL THEN
		-- A child of a parent that is down joins the parent's incident.
		INSERT INTO incident_cis AS c (incident_id, host, check_name, severity, summary,
		    attached_at)
			VALUES (par, p_host, p_check, p_sev, p_summary, w)
		    ON CONFLICT ON CONSTRAINT incident_cis_pkey DO UPDATE
		    SET severity = EXCLUDED.severity, summary = EXCLUDED.summary,
			detached_at = NULL
		    WHERE c.detached_at IS NOT NULL OR c.severity <> EXCLUDED.severity;
		IF FOUND AND NOT EXISTS (SELECT 1 FROM incident_events e WHERE e.incident_id = par
		    AND e.kind = 'ci-attached' AND e.new_value = ci
		    AND e.at >= (SELECT c.attached_at FROM incident_cis c WHERE c.incident_id = par
			AND c.host = p_host AND c.check_name = p_check)) THEN
			INSERT INTO incident_events (incident_id, at, kind, new_value, text, change_key)
			VALUES (par, w, 'ci-attached', ci, txt, p_key);
		END IF;
		incident_id := par;
		action := 'attached';
	ELSIF p_key IS NULL THEN
		-- A refresh only updates: an incident resolved by hand while its
		-- check still fails stays resolved until the check's next
		-- transition (keyed), instead of coming back on the next poll.
		action := 'none';
	ELSIF p_maint THEN
		action := 'suppressed';
	ELSE
		-- Attached elsewhere before: now on its own.  With it, in one
		-- statement: the last resolved incident (reopen or close) and
		-- the open problem of this check.  The latest opened is the
		-- latest resolved (one open at a time; an older one past the
		-- window is closed), and that order keeps the planner on the
		-- (host, check_name, opened_at) index even without statistics,
		-- instead of walking every resolved incident by resolved_at.
		WITH d AS (UPDATE incident_cis c SET detached_at = w
			WHERE c.host = p_host AND c.check_name = p_check AND c.detached_at IS NULL)
		SELECT l.id, l.resolved_at, l.flapping, (SELECT p.id FROM problems p
			WHERE p.host = p_host AND p.check_name = p_check AND p.status = 'open')
		    INTO last_id, last_at, last_flap, prob
		    FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT i.id, i.resolved_at, i.flapping
			FROM incidents i WHERE i.host = p_host AND i.check_name = p_check
			AND i.status = 'resolved' ORDER BY i.opened_at DESC LIMIT 1) l ON true;
		IF last_id IS NOT NULL AND last_at >= w - make_interval(secs => p_reopen_s) THEN
			WITH u AS (UPDATE incidents i SET resolved_at = NULL, resolution = NULL,
				status = 'new', severity = p_sev, summary = p_summary,
				priority = coalesce(p_priority, i.priority),
				peak_priority = least(i.peak_priority, p_priority), flapping = p_flapping,
				last_seen_at = GREATEST(w, i.last_seen_at), reopened = i.reopened + 1,
				acknowledged_at = NULL, acknowledged_by = NULL
				WHERE i.id = last_id RETURNING i.id)
			INSERT INTO incident_events (incident_id, at, kind, old_value, new_value, text,
			    change_key)
			SELECT u.id, w, 'reopened', 'resolved', p_sev, txt, p_key FROM u
			UNION ALL
			SELECT u.id, w, 'flapping', last_flap::text, p_flapping::text,
			    CASE WHEN p_flapping THEN 'flapping started' ELSE 'flapping stopped' END,
			    p_key FROM u WHERE last_flap <> p_flapping;
			incident_id := last_id;
			action := 'reopened';
		ELSE
			IF last_id IS NOT NULL THEN
				-- This check's resolved incidents past the reopen window are closed.
				UPDATE incidents i SET status = 'closed',
				    closed_at = i.resolved_at + make_interval(secs => p_reopen_s)
				    WHERE i.host = p_host AND i.check_name = p_check
				    AND i.status = 'resolved'
				    AND i.resolved_at < w - make_interval(secs => p_reopen_s);
			END IF;
			-- Problem management: join the open problem, or make one.
			IF prob IS NULL AND p_problem_n > 0 THEN
				SELECT count(*) + 1 INTO n FROM incidents i
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
			END IF;
			WITH ni AS (INSERT INTO incidents (host, check_name, severity, summary, opened_at,
				last_seen_at, priority, peak_priority, flapping, maintenance, problem_id)
				VALUES (p_host, p_check, p_sev, p_summary, w, w, p_priority, p_priority,
				p_flapping, false, prob)
				RETURNING id),
			    e AS (INSERT INTO incident_events (incident_id, at, kind, old_value,
				new_value, text, change_key)
				SELECT ni.id, w, 'opened', NULL, p_sev, txt, p_key FROM ni
				UNION ALL
				SELECT ni.id, w, 'flapping', 'false', 'true', 'flapping started', p_key
				    FROM ni WHERE p_flapping
				UNION ALL
				SELECT ni.id, w, 'problem', NULL, prob::text, '', p_key
				    FROM ni WHERE prob IS NOT NULL)
			SELECT ni.id INTO incident_id FROM ni;
			action := 'opened';
		END IF;
		notify := 'open';
		priority := p_priority;
	END IF;
	IF p_key IS NOT NULL THEN
		-- clock_timestamp(): the work done, for latency figures (bench)
		INSERT INTO incident_changes (change_key, host, check_name, severity, at,
		    incident_id, action, applied_at)
			VALUES (p_key, p_host, p_check, p_sev, w, incident_id, action, clock_timestamp());
	END IF;
END
$$;
