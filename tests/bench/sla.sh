#!/usr/bin/env bash
# sla.sh: run by hand, never by make test.
#
# SLA report time for NSVC (default 1,000) services over a year of state
# history (2025), generated in SQL with generate_series: each service
# alternates up stretches of 2-8 h with outages of 1-30 min (CRITICAL,
# WARNING, UNKNOWN or a maintenance), about 3.3 million availability rows.
# 70% of the SLAs are 24x7 in UTC, 30% Mon-Fri 08:00-18:00 Europe/Berlin
# with two holidays; half count WARNING as down, half count maintenance as
# up.  Timed: `itsmctl sla --csv` for all services for one month (2025-10)
# and for the whole year (2025), RUNS times each (best and median), plus
# EXPLAIN ANALYZE of one service's year.  Target: under 2 s.
# collectd (the peer in /work/shared/peer-baseline.md) keeps no state
# history and computes no SLA, so there is no figure of its to compare.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

NSVC=${NSVC:-1000}
RUNS=${RUNS:-5}
pg_start "$ENV_DIR" || exit 1
# A server keeping a year of 1,000 services' history holds it in memory:
# 1 GB of shared buffers (the default 128 MB holds not even the index).
psql -d postgres -XqAtc "ALTER SYSTEM SET shared_buffers = '1GB'" || exit 1
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$ENV_PGDATA" -l "$ENV_PGDATA/server.log" -w restart \
    >/dev/null || exit 1
ENV_PGPID=$(head -n 1 "$ENV_PGDATA/postmaster.pid")
ITSMD_SCHEMADIR=${ITSMD_SCHEMADIR:-$ENV_ROOT/schema} "$BUILD/itsmctl" -d "dbname=itsmd" db migrate >/dev/null || exit 1
q() { psql -XtAq -v ON_ERROR_STOP=1 -c "$1"; }

t0=$EPOCHREALTIME
psql -XqAt -v ON_ERROR_STOP=1 -v nsvc="$NSVC" <<'EOF' || exit 1
SELECT setseed(0.7);
SELECT itsmd_sla_define('sla-' || s, 'svc-' || s,
    CASE s % 3 WHEN 0 THEN 99.9 WHEN 1 THEN 99.5 ELSE 99 END, 'month',
    CASE WHEN s % 10 < 7 THEN 'UTC' ELSE 'Europe/Berlin' END,
    CASE WHEN s % 10 < 7 THEN '' ELSE 'mon-fri 08:00-18:00' END,
    CASE WHEN s % 10 < 7 THEN '' ELSE '2025-12-24,2025-12-25' END,
    CASE WHEN s % 2 = 0 THEN 'critical' ELSE 'critical,warning' END,
    CASE WHEN s % 4 < 2 THEN 'exclude' ELSE 'up' END, 1 + s % 2)
FROM generate_series(1, :nsvc) s;

-- Each service: pairs of (up 2-8 h, outage 1-30 min) from a random start in
-- the last days of 2024 until past the end of 2025.
CREATE TEMP TABLE steps AS
SELECT s, i, 7200 + floor(random() * 21600)::int AS up_s,
    60 + floor(random() * 1740)::int AS out_s,
    (ARRAY['critical','critical','critical','warning','warning','unknown','ok'])
	[1 + floor(random() * 7)::int] AS out_state
FROM generate_series(1, :nsvc) s, generate_series(1, 1700) i;
CREATE TEMP TABLE edges AS
SELECT s, i, up_s, out_s, out_state,
    lag(out_state) OVER (PARTITION BY s ORDER BY i) AS prev_out,
    timestamptz '2024-12-29 00:00+00' + (s * 137 % 86400) * interval '1 second' +
	(sum(up_s + out_s) OVER (PARTITION BY s ORDER BY i) - up_s - out_s)
	* interval '1 second' AS t
FROM steps;
-- The rows are contiguous, so each one's predecessor is the row before:
-- set here, as the insert trigger would, which is too slow for millions.
ALTER TABLE availability DISABLE TRIGGER availability_prev;
INSERT INTO availability (kind, subject, state, maintenance, started_at, ended_at,
    change_key, prev_state, prev_maintenance)
SELECT 'service', 'svc-' || s, 'ok', false, t, t + up_s * interval '1 second',
    'b-' || s || '-' || i || 'u',
    CASE WHEN prev_out = 'ok' THEN 'critical' ELSE prev_out END, prev_out = 'ok'
FROM edges
UNION ALL
SELECT 'service', 'svc-' || s, CASE WHEN out_state = 'ok' THEN 'critical' ELSE out_state END,
    out_state = 'ok', t + up_s * interval '1 second',
    t + (up_s + out_s) * interval '1 second', 'b-' || s || '-' || i || 'o', 'ok', false
FROM edges;
ALTER TABLE availability ENABLE TRIGGER availability_prev;
-- As autovacuum would soon: the visibility map lets reports read the
-- index alone.
VACUUM ANALYZE availability;
EOF
gen=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
ROWS=$(q "SELECT count(*) FROM availability")
IN2025=$(q "SELECT count(*) FROM availability WHERE started_at >= '2025-01-01' AND started_at < '2026-01-01'")
echo "# $NSVC services, $ROWS availability rows ($IN2025 starting in 2025), generated in ${gen} s"
echo "# table $(q "SELECT pg_size_pretty(pg_table_size('availability'))"), indexes $(q "SELECT pg_size_pretty(pg_indexes_size('availability'))")"

# CPU seconds PostgreSQL spent in processes that have ended: the
# postmaster's reaped children, i.e. each itsmctl session's backend and its
# parallel workers (fields cutime, cstime of /proc/PID/stat).
pg_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($14 + $15) / hz }' \
	    "/proc/$ENV_PGPID/stat"
}

# time_report PERIOD: RUNS runs of itsmctl sla --csv for every SLA; best and
# median wall seconds (the client included) and PostgreSQL's CPU seconds
# per run (backend and workers), which the load of other work inflates less.
time_report() {
	local period=$1 r a b c0 c1 times=() cpus=()
	for r in $(seq 1 "$RUNS"); do
		c0=$(pg_cpu)
		a=$EPOCHREALTIME
		"$BUILD/itsmctl" -d "dbname=itsmd" sla --period "$period" --csv >"$ENV_DIR/out.csv" || exit 1
		b=$EPOCHREALTIME
		sleep 0.3	# the postmaster reaps the backend
		c1=$(pg_cpu)
		times+=("$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b - a }')")
		cpus+=("$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')")
	done
	paste <(printf '%s\n' "${times[@]}" | sort -n) <(printf '%s\n' "${cpus[@]}" | sort -n) |
	    awk -v p="$period" -v n="$NSVC" -v lines="$(($(wc -l <"$ENV_DIR/out.csv") - 1))" '
	    { t[NR] = $1; c[NR] = $2 } END {
		printf "report %-8s %d SLAs (%d lines): wall best %.3f s, median %.3f s;" \
		    " PostgreSQL CPU best %.2f s, median %.2f s\n",
		    p, n, lines, t[1], t[int((NR + 1) / 2)], c[1], c[int((NR + 1) / 2)] }'
}
# Warm the cache once, as a server that serves reports has.
"$BUILD/itsmctl" -d "dbname=itsmd" sla --period 2025 --csv >/dev/null || exit 1
time_report 2025-10
time_report 2025
echo "# sample: a 24x7 SLA and a service-hours one, for 2025"
"$BUILD/itsmctl" -d "dbname=itsmd" sla --period 2025 --sla sla-1
"$BUILD/itsmctl" -d "dbname=itsmd" sla --period 2025 --sla sla-7 | tail -n 1
echo "# the plan of the report over all SLAs (workers share the SLAs out):"
q "EXPLAIN SELECT * FROM sla_reports('2025', '', '')" | sed 's/^/#   /'
echo "# EXPLAIN ANALYZE inside one SLA's year, 24x7 (sla-1) and service hours (sla-7):"
for n in 1 7; do
	q "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;
	    SET auto_explain.log_nested_statements = on; SET auto_explain.log_analyze = on;
	    SET client_min_messages = log;
	    SELECT count(*) FROM sla_report('sla-$n', '2025-01-01', '2026-01-01')" 2>&1 |
	    grep -E 'duration|Index Only|Index Scan|Heap Fetches|Aggregate' | grep -v 'sla_pkey' |
	    sed 's/^/#   /' | cut -c1-150 | head -n 14
done
echo "# the machine is shared with other work: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
