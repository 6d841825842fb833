#!/usr/bin/env bash
# maintenance.sh: change management.  Failures inside a maintenance window
# open no incident while the RRD keeps the data; when the window ends with
# the check still failing, the incident opens.  An incident already open
# when a window starts is marked, not closed.  Windows come from the conf
# and from `itsmctl maintenance add` (the database).
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_db
env_snmpd
for i in 1 2 3 4; do snmp_set "$ENV_DIR" $i gauge 99; done

NOW=$(date +%s)
W1_END=$((NOW + 16))		# m1: in a window from the start, ending soon
W2_START=$((NOW + 8))		# m2: fails first, then a window starts
CONF=$ENV_DIR/itsmd.conf
{
	cat <<-EOF
	database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
	rrd-dir "$ENV_DIR/rrd"
	user itsmd
	maintenance "patch-m1" {
	    hosts "m1"
	    once "@$((NOW - 60))" "@$W1_END"
	}
	maintenance "late" {
	    tags "late"
	    once "@$W2_START" "@$((NOW + 600))"
	}
	maintenance "never-now" {
	    hosts "m*"
	    every sun 03:00-03:01
	    once "2001-01-01 00:00" "2001-01-02 00:00"
	    zone "Europe/Berlin"
	}
	EOF
	for i in 1 2 3 4; do
		tag="" interval=1s retry=""
		[ $i = 2 ] && tag="tag late"
		# m4, in no window: retried every second while soft
		[ $i = 4 ] && interval=12s retry="retry-interval 1s"
		cat <<-EOF
		host "m$i" {
		    address 127.0.0.1
		    snmp-port $SNMP_PORT
		    community "public"
		    snmp-retries 0
		    $tag
		    probe "v" snmp {
		        oid value .1.3.6.1.4.1.99999.$i
		        interval $interval
		        $retry
		        timeout 900ms
		        fail-after 3
		        critical > 90
		    }
		}
		EOF
	done
} >"$CONF"

rows() { q "SELECT count(*) FROM incidents WHERE host = '$1'"; }
is_open() { [ "$(q "SELECT count(*) FROM incidents WHERE host = '$1' AND resolved_at IS NULL")" = 1 ]; }
marked() { [ "$(q "SELECT maintenance FROM incidents WHERE host = '$1' AND resolved_at IS NULL")" = "$2" ]; }
rrd_has_99() {
	rrdtool fetch "$ENV_DIR/rrd/$1/v/value.rrd" AVERAGE -r 1 -s -30 2>/dev/null |
	    grep -q "9.9000000000e+01"
}

# m3 is covered by a window from the database, made before itsmd starts
tap_check "itsmctl maintenance add (host m3, 10 minutes)" \
    "$BUILD/itsmctl" -d "dbname=itsmd" maintenance add host m3 --for 10m -m "test window"
tap_check "itsmd -t accepts the maintenance windows" "$BUILD/itsmd" -t -c "$CONF"
START=$(date +%s)
itsmd_start "$CONF"

if wait_until 8 is_open m2; then tap_ok "m2 (no window yet) fails: incident opens"
else tap_fail "m2 (no window yet) fails: incident opens" "rows=$(rows m2)"; fi
tap_check "m1 fails inside its window: the log says so" \
    wait_until 5 log_has "m1/v: critical in maintenance window 'patch-m1': no new incident"
tap_check "m1: no incident inside the window" test "$(rows m1)" = 0
tap_check "m1: data still reaches the RRD file" wait_until 5 rrd_has_99 m1
# The breach first, or no row would prove nothing.
tap_check "m3 fails inside the database window: the log names it" \
    wait_until 5 log_has "m3/v: critical in maintenance window '#[0-9]+ \\(itsmctl\\)'"
tap_check "m3: the database window holds its incident back" test "$(rows m3)" = 0

# --- m2's window starts while its incident is open: marked, not closed
if wait_until $((W2_START - $(date +%s) + 5)) marked m2 t; then tap_ok "m2: the open incident is marked in maintenance"
else tap_fail "m2: the open incident is marked in maintenance" "$(q "SELECT id, maintenance, resolved_at FROM incidents WHERE host = 'm2'")"; fi
tap_check "m2: and stays open" is_open m2
tap_check "m2: still one row" test "$(rows m2)" = 1

# --- m1's window ends while it still fails: the incident opens
tap_check "m1: still no incident just before the window ends" test "$(rows m1)" = 0
if wait_until $((W1_END - $(date +%s) + 6)) is_open m1; then tap_ok "m1: window over while failing: incident opens"
else tap_fail "m1: window over while failing: incident opens" "rows=$(rows m1)"; fi
tap_check "m1: the incident is not marked" marked m1 f
tap_check "m1: opened after the window ended, not before" test \
    "$(q "SELECT extract(epoch FROM opened_at)::bigint >= $W1_END FROM incidents WHERE host = 'm1'")" = t
tap_check "m3: still no incident (its window runs on)" test "$(rows m3)" = 0
# m4 fails from the start with interval 12s and fail-after 3: without the
# 1 s retry its third bad run would come 24 s after the first.
M4=$(q "SELECT extract(epoch FROM opened_at)::bigint - $START FROM incidents WHERE host = 'm4'")
if [ -n "$M4" ] && [ "$M4" -le 16 ]; then tap_ok "retry-interval: fail-after 3 reached ${M4}s after start, not 24s+"
else tap_fail "retry-interval: fail-after 3 reached within 16s of start" "opened after '${M4}' s"; fi
itsmd_stop 15
tap_check "itsmd stops cleanly" test $? = 0
tap_done
