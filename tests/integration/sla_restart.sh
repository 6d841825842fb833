#!/usr/bin/env bash
# sla_restart.sh: availability intervals survive a crash and a database
# outage.  A service's only member goes down and itsmd is SIGKILLed in the
# middle of that outage and restarted; in a second outage PostgreSQL stops,
# the member recovers and fails again while it is down, and itsmd is
# SIGKILLed once more before PostgreSQL returns.  Then, per subject (the
# service and the host), the journal holds every change exactly once: the
# intervals follow each other with no gap and no overlap, one is open, and
# each outage's length is what the test saw.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_db
HTTP_PORT=$(free_port tcp)
httpd_start "$ENV_DIR" "$HTTP_PORT" || { tap_fail "environment: httpd"; exit 1; }
http_set "$ENV_DIR" status 200
mkdir -p "$ENV_DIR/rrd"
chown itsmd: "$ENV_DIR/rrd"
SPOOL=$ENV_DIR/rrd/.itsmd-spool/incidents.spool

CONF=$ENV_DIR/itsmd.conf
cat >"$CONF" <<EOF
database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
rrd-dir "$ENV_DIR/rrd"
sla-interval 1s
host "web1" {
    address 127.0.0.1
    probe "home" http {
        url "http://127.0.0.1:$HTTP_PORT/"
        interval 1s
        timeout 1s
    }
}
service "shop" {
    member "web1" "home"
    sla "shop-month" { target 99.9%; period month; maintenance exclude }
}
EOF

states() { q "SELECT string_agg(state, ' ' ORDER BY started_at, id) FROM availability
	WHERE kind = '$1' AND subject = '$2'"; }
states_are() { [ "$(states "$1" "$2")" = "$3" ]; }
# log_count PATTERN N: the log (of every run so far) has N such lines or more
log_count() { [ "$(grep -cE -- "$1" "$ITSMD_LOG")" -ge "$2" ]; }
spool_empty() { [ -f "$SPOOL" ] && [ ! -s "$SPOOL" ]; }
now_ms() { local t=${EPOCHREALTIME/./}; echo "${t:0:13}"; }
crash() {
	kill -KILL "$ITSMD_PID"
	wait "$ITSMD_PID" 2>/dev/null
	env_forget "$ITSMD_PID"
	ITSMD_PID=
	itsmd_start "$CONF"
}

itsmd_start "$CONF"
wait_until 10 log_has "postgres: connected"
wait_until 10 states_are service shop ok
sleep 1

# outage 1: crash in the middle of it
http_set "$ENV_DIR" status 500
D1=$(now_ms)
wait_until 5 states_are service shop "ok critical"
sleep 1
crash
wait_until 10 log_count "service shop: critical" 2	# the new run sees it too
sleep 1
http_set "$ENV_DIR" status 200
U1=$(now_ms)
wait_until 5 states_are service shop "ok critical ok"

# outage 2: PostgreSQL stops in the middle of it; it ends and outage 3
# begins while PostgreSQL is down; a crash in the middle of outage 3
http_set "$ENV_DIR" status 500
D2=$(now_ms)
wait_until 5 states_are service shop "ok critical ok critical"
sleep 1
pg_ctl_as stop -m fast
wait_until 5 log_has "postgres: connection lost"
http_set "$ENV_DIR" status 200
U2=$(now_ms)
wait_until 5 log_count "service shop: ok" 3
sleep 1
http_set "$ENV_DIR" status 500
D3=$(now_ms)
wait_until 5 log_count "service shop: critical" 4
sleep 1
if wait_until 5 test -s "$SPOOL"; then tap_ok "changes are spooled while PostgreSQL is down"
else tap_fail "changes are spooled while PostgreSQL is down" "no $SPOOL or empty"; fi
crash
if wait_until 5 log_has "replaying [0-9]* changes"; then tap_ok "the restarted daemon replays its spool"
else tap_fail "the restarted daemon replays its spool" "no 'replaying' line"; fi
wait_until 10 log_count "service shop: critical" 5
sleep 1
http_set "$ENV_DIR" status 200
U3=$(now_ms)
wait_until 5 log_count "service shop: ok" 4
tap_check "SLA evaluation waits for PostgreSQL, and says so" \
	log_has "sla: PostgreSQL is unreachable; SLA evaluation waits for it"
pg_ctl_as start
ENV_PGPID=$(head -n 1 "$ENV_DIR/pg/postmaster.pid")
ALL="ok critical ok critical ok critical ok"
wait_until 20 states_are service shop "$ALL"
wait_until 10 spool_empty

for subj in "service shop" "host web1"; do
	set -- $subj
	tap_check "$1 $2: each change once, in order" \
		test "$(states "$1" "$2")" = "$ALL"
	tap_check "$1 $2: one open interval, the last" test "$(q "SELECT count(*) FILTER
		(WHERE ended_at IS NULL) || ' ' || (array_agg(ended_at IS NULL
		ORDER BY started_at DESC, id DESC))[1] FROM availability
		WHERE kind = '$1' AND subject = '$2'")" = "1 true"
	tap_check "$1 $2: no gap and no overlap" test "$(q "SELECT count(*) FROM (
		SELECT started_at, lag(ended_at) OVER (ORDER BY started_at, id) AS prev_end,
		row_number() OVER (ORDER BY started_at, id) AS n
		FROM availability WHERE kind = '$1' AND subject = '$2') x
		WHERE n > 1 AND prev_end IS DISTINCT FROM started_at")" = 0
	# each outage as long as the test made it (polls are 1 s apart)
	GOT=$(q "SELECT string_agg(round(extract(epoch FROM ended_at - started_at) * 1000)::text,
		' ' ORDER BY started_at) FROM availability
		WHERE kind = '$1' AND subject = '$2' AND state = 'critical'")
	set -- $GOT
	W1=$((U1 - D1)) W2=$((U2 - D2)) W3=$((U3 - D3))
	if [ $# = 3 ] && [ $(( $1 - W1 )) -gt -2000 ] && [ $(( $1 - W1 )) -lt 2000 ] &&
	    [ $(( $2 - W2 )) -gt -2000 ] && [ $(( $2 - W2 )) -lt 2000 ] &&
	    [ $(( $3 - W3 )) -gt -2000 ] && [ $(( $3 - W3 )) -lt 2000 ]; then
		tap_ok "$subj: outages counted once, at their true length"
	else
		tap_fail "$subj: outages counted once, at their true length" \
		    "got '$GOT' ms, the test made $W1, $W2 and $W3 ms"
	fi
done
tap_check "the spool is truncated once PostgreSQL has everything" spool_empty
if log_has "unique|duplicate key|statement failed"; then
	tap_fail "no SQL error in the log" "$(grep -m1 -E "unique|duplicate key|statement failed" "$ITSMD_LOG")"
else tap_ok "no SQL error in the log"; fi

itsmd_stop 15
tap_check "SIGTERM exits 0" test $? = 0
# Nobody watches a stopped daemon's hosts: that time is unknown, not up.
last_open() { q "SELECT state FROM availability WHERE kind = '$1' AND subject = '$2'
	AND ended_at IS NULL"; }
tap_check "a clean stop leaves the service's availability unknown" \
	test "$(last_open service shop)" = unknown
tap_check "... and the host's" test "$(last_open host web1)" = unknown
tap_done
