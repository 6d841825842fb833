#!/usr/bin/env bash
# incident_latency.sh: run by hand, never by make test.
#
# 1. Latency: 100 SNMP checks (1 s interval) cross their threshold together,
#    up then down, CYCLES times (default 5: 1,000 crossings).  For each
#    committed change, the time from itsmd's observation of the crossing
#    (the poll interval excluded) to the end of the database function that
#    applied it (clock_timestamp() in itsmd_change) and to its transaction's
#    commit (track_commit_timestamp; a batch commits after its last change):
#    p50, p99, max.  Also from the moment the value was set on the agent
#    (poll wait included).
# 2. Throughput: 20,000 state changes (2,000 checks x 10 transitions) left in
#    the spool as after an outage; itsmd replays them into PostgreSQL on
#    start while a probe keeps running: changes per second, and whether the
#    probe kept its schedule meanwhile (the loop was not blocked).
# collectd (the peer in /work/shared/peer-baseline.md) has no incident
# store, so there is no figure of its to compare; see README.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

CYCLES=${CYCLES:-5}
SKIP_LATENCY=${SKIP_LATENCY:-}
NCHK=100
NTHRU=${NTHRU:-20000}
pg_start "$ENV_DIR" || exit 1
# The commit time of each change's transaction, for the committed-row figure.
psql -XqAc "ALTER SYSTEM SET track_commit_timestamp = on" -d postgres || exit 1
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$ENV_PGDATA" -l "$ENV_PGDATA/server.log" -w -t 60 \
    restart >/dev/null || exit 1
ENV_PGPID=$(head -n 1 "$ENV_PGDATA/postmaster.pid")
ITSMD_SCHEMADIR=${ITSMD_SCHEMADIR:-$ENV_ROOT/schema} "$BUILD/itsmctl" -d "dbname=itsmd" db migrate >/dev/null || exit 1
SNMP_PORT=$(free_port udp)
snmpd_start "$ENV_DIR" "$SNMP_PORT" || exit 1
for i in $(seq 1 $NCHK); do snmp_set "$ENV_DIR" $i gauge 10; done
mkdir -p "$ENV_DIR/rrd"
chown itsmd: "$ENV_DIR/rrd"
q() { psql -XtAqc "$1" 2>/dev/null; }

CONF=$ENV_DIR/itsmd.conf
{
	cat <<-EOF
	database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
	rrd-dir "$ENV_DIR/rrd"
	log-level warning
	host "agent" {
	    address 127.0.0.1
	    snmp-port $SNMP_PORT
	    community "public"
	EOF
	for i in $(seq 1 $NCHK); do
		printf '    probe "c%d" snmp { oid value .1.3.6.1.4.1.99999.%d; interval 1s;\n' $i $i
		printf '        critical > 90; flap-high 0%% }\n'
	done
	echo "}"
} >"$CONF"

# ------------------------------------------------------------- latency
if [ -z "$SKIP_LATENCY" ]; then
itsmd_start "$CONF"
sleep 4
: >"$ENV_DIR/sets"
set_all() {
	echo "${EPOCHREALTIME/./}" >>"$ENV_DIR/sets"
	for i in $(seq 1 $NCHK); do snmp_set "$ENV_DIR" $i gauge "$1"; done
}
for c in $(seq 1 "$CYCLES"); do
	set_all 95; sleep 4
	set_all 10; sleep 4
done
sleep 2
itsmd_stop 15 >/dev/null
q "SELECT count(*) FROM incident_changes WHERE action IN ('opened', 'reopened', 'resolved')" >"$ENV_DIR/n"
echo "crossings committed: $(cat "$ENV_DIR/n") of $((CYCLES * 2 * NCHK))"
q "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY l), percentile_disc(0.99) WITHIN GROUP (ORDER BY l),
	max(l) FROM (SELECT extract(epoch FROM applied_at - at) * 1000 AS l FROM incident_changes
	WHERE action IN ('opened', 'reopened', 'resolved')) x" |
	awk -F'|' '{ printf "observation -> row applied:   p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", $1, $2, $3 }'
q "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY l), percentile_disc(0.99) WITHIN GROUP (ORDER BY l),
	max(l) FROM (SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin) - at) * 1000 AS l
	FROM incident_changes WHERE action IN ('opened', 'reopened', 'resolved')) x" |
	awk -F'|' '{ printf "observation -> row committed: p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", $1, $2, $3 }'
# from the agent: each change against the latest set before it
python3 - "$ENV_DIR/sets" <<PY
import subprocess, sys, bisect
sets = [int(l) / 1e6 for l in open(sys.argv[1])]
rows = subprocess.run(["psql", "-XtAqc", "SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin)) FROM incident_changes"
    " WHERE action IN ('opened', 'reopened', 'resolved')"], capture_output=True, text=True).stdout.split()
lat = sorted((float(r) - sets[bisect.bisect_right(sets, float(r)) - 1]) * 1000 for r in rows)
if lat:
    print("value set on the agent -> row committed (1 s poll included): p50 %.0f ms  p99 %.0f ms"
        % (lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1]))
PY
fi

# ----------------------------------------------------------- throughput
# thru DB LABEL: the replay into database DB (itsmd's own migrations).
thru() {
	local db=$1 label=$2 T0 T1 BPID PGCPU ITCPU N
	PGDATABASE=$db q "TRUNCATE incidents, incident_events, incident_changes, incident_cis, problems CASCADE"
	rm -rf "$ENV_DIR/rrd/agent/tick"
	SPOOLDIR=$ENV_DIR/rrd/.itsmd-spool
	mkdir -p "$SPOOLDIR"
	python3 - "$SPOOLDIR/incidents.spool" "$NTHRU" <<'PY'
import struct, sys, time, zlib
path, n = sys.argv[1], int(sys.argv[2])
checks = n // 10
now = int(time.time() * 1000) - 60000
with open(path, "wb") as f:
    for k in range(n):
        c, t = k % checks, k // checks
        sev = "critical" if t % 2 == 0 else "ok"
        p = ["bench-%d" % k, "h%d" % c, "c", sev, "bench %d" % k, str(now + k), "3", "f", "f",
             None, None, "1800", "0", "604800"]
        body = struct.pack("<I", len(p))
        for s in p:
            if s is None:
                body += struct.pack("<I", 0xffffffff)
            else:
                b = s.encode()
                body += struct.pack("<I", len(b)) + b
        f.write(struct.pack("<III", 0x31505349, len(body), zlib.crc32(body)) + body)
PY
	chown -R itsmd: "$ENV_DIR/rrd"
	cat >"$ENV_DIR/one.conf" <<-CONF
	database "dbname=$db host=$PGHOST port=$PGPORT user=postgres"
	rrd-dir "$ENV_DIR/rrd"
	log-level warning
	host "agent" {
	    address 127.0.0.1
	    snmp-port $SNMP_PORT
	    community "public"
	    probe "tick" snmp { oid value .1.3.6.1.4.1.99999.1; interval 1s }
	}
	CONF
	done_n() { [ "$(PGDATABASE=$db q "SELECT count(*) FROM incident_changes")" -ge "$NTHRU" ]; }
	T0=${EPOCHREALTIME/./}
	ITSMD_LOG=$ENV_DIR/thru-$db.log itsmd_start "$ENV_DIR/one.conf"
	if ! wait_until 180 done_n; then
		echo "replay did not finish: $(PGDATABASE=$db q "SELECT count(*) FROM incident_changes") of $NTHRU"
		tail -n 5 "$ENV_DIR/thru-$db.log"
	fi
	T1=${EPOCHREALTIME/./}
	# CPU of PostgreSQL's backend serving itsmd (nearly all of it the
	# replay) and of itsmd: what the machine's other load inflates least.
	BPID=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'
		AND datname = '$db' AND pid <> pg_backend_pid() ORDER BY backend_start LIMIT 1")
	PGCPU=$(cpu_ms "$BPID" 2>/dev/null || echo 0)
	ITCPU=$(cpu_ms "$ITSMD_PID" 2>/dev/null || echo 0)
	sleep 2
	itsmd_stop 15 >/dev/null
	N=$(PGDATABASE=$db q "SELECT count(*) FROM incident_changes")
	echo "--- $label"
	awk -v n="$N" -v us=$((T1 - T0)) 'BEGIN { printf "spool replay: %d changes in %.2f s = %.0f changes/s (start-up included)\n", n, us / 1e6, n / (us / 1e6) }'
	PGDATABASE=$db q "SELECT 'applied span (first to last commit in PostgreSQL): ' || round(extract(epoch FROM max(pg_xact_commit_timestamp(xmin)) - min(pg_xact_commit_timestamp(xmin)))::numeric, 2) || ' s' FROM incident_changes"
	awk -v n="$N" -v pg="$PGCPU" -v it="$ITCPU" 'BEGIN { if (pg > 0) printf "CPU per change: PostgreSQL backend %.0f us (%.0f changes per backend CPU-second), itsmd %.0f us\n", pg * 1000 / n, n * 1000 / pg, it * 1000 / n }'
	echo "events written: $(PGDATABASE=$db q "SELECT count(*) FROM incident_events"); open incidents: $(PGDATABASE=$db q "SELECT count(*) FROM incidents WHERE resolved_at IS NULL")"
	RRD=$ENV_DIR/rrd/agent/tick/value.rrd
	if [ -f "$RRD" ]; then
		rrdtool fetch "$RRD" AVERAGE -s $((T0 / 1000000 - 1)) -e $((T1 / 1000000)) -r 1 2>/dev/null |
		    awk -v s=$(((T1 - T0) / 1000000)) '$1 ~ /:$/ && $2 !~ /nan/ { n++ } END { printf "probe samples stored during the replay: %d in %d s (one a second: the loop was not blocked)\n", n, s }'
	fi
}
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / hz }' "/proc/$1/stat"; }

thru itsmd "itsmd_change() of schema 005 (the current one)"
# The same replay into a database without 005: 002's itsmd_change(), in the
# same run on the same loaded machine, for the ratio.
if [ "${COMPARE:-1}" != 0 ]; then
	mkdir -p "$ENV_DIR/schema-002"
	for f in "${ITSMD_SCHEMADIR:-$ENV_ROOT/schema}"/*.sql; do
		case $(basename "$f") in 005_*) ;; *) cp "$f" "$ENV_DIR/schema-002/" ;; esac
	done
	createdb itsmd_002 && ITSMD_SCHEMADIR=$ENV_DIR/schema-002 "$BUILD/itsmctl" \
	    -d "dbname=itsmd_002" db migrate >/dev/null && thru itsmd_002 "itsmd_change() of schema 002 (before)"
fi
