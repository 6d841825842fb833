#!/usr/bin/env bash
# run.sh: alone (it asserts every probe stays on schedule)
# snmp_dead.sh: hosts that never answer SNMP (a bound UDP port that drops
# every packet, and a port nothing listens on) fail on time with a reason
# and an incident, while every live host in the same run keeps its 1 s
# interval: no overrun anywhere, dead hosts included.  A dead host is backed
# off: after two timeouts in a row it is asked every 2, then every 4
# intervals (counted at the silent socket), and a host whose agent comes
# back is polled every second again from its first answer.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_snmpd
snmp_set "$ENV_DIR" 1 gauge 7
env_db

# A black hole: reads and drops every datagram, so requests time out for
# real (no ICMP port-unreachable); it notes when each one came.
SILENT_PORT=$(free_port udp)
python3 "$ENV_BIN/snmp_agent.py" "$SILENT_PORT" "$ENV_DIR/silent.log" --drop \
    </dev/null >/dev/null 2>&1 &
env_record $! "silent udp port"
CLOSED_PORT=$(free_port udp)
BACK_PORT=$(free_port udp)	# nothing at first; an snmpd later
API_PORT=$(free_port tcp)

CONF=$ENV_DIR/itsmd.conf
{
	echo "database \"dbname=itsmd host=$PGHOST port=$PGPORT user=postgres\""
	echo "rrd-dir \"$ENV_DIR/rrd\""
	echo "interval 1s"
	echo "timeout 800ms"
	echo "listen 127.0.0.1:$API_PORT"
	echo "template \"p\" { probe \"p\" snmp { oid value .1.3.6.1.4.1.99999.1 } }"
	for i in $(seq 1 12); do
		echo "host \"live$i\" { address 127.0.0.1; snmp-port $SNMP_PORT; community public; snmp-retries 1; use \"p\" }"
	done
	for i in 1 2 3; do
		echo "host \"silent$i\" { address 127.0.0.1; snmp-port $SILENT_PORT; community public; snmp-retries 1; use \"p\" }"
		echo "host \"closed$i\" { address 127.0.0.1; snmp-port $CLOSED_PORT; community public; snmp-retries 1; use \"p\" }"
	done
	echo "host \"back\" { address 127.0.0.1; snmp-port $BACK_PORT; community public; snmp-retries 0; use \"p\" }"
} >"$CONF"
itsmd_start "$CONF"
T0=$(date +%s)
sleep 10

# Values stored per live host in the 5 s from T0+3 (rows T0+4 .. T0+8): one
# a second.  The rows end 2 s before the fetch: the last second's row is only
# complete once the next sample is written, a writer round (200 ms) after it.
short=""
for i in $(seq 1 12); do
	n=$(rrdtool fetch "$ENV_DIR/rrd/live$i/p/value.rrd" AVERAGE -r 1 -s $((T0 + 3)) -e $((T0 + 8)) 2>/dev/null |
	    grep -c "7.0000000000e+00")
	[ "$n" -ge 5 ] || short="$short live$i:$n"
done
if [ -z "$short" ]; then tap_ok "every live host stored its value every second beside 6 dead hosts"
else tap_fail "every live host stored its value every second beside 6 dead hosts" "$short"; fi
if grep -q "overrun" "$ITSMD_LOG"; then
	tap_fail "no overrun, dead hosts included" "$(grep overrun "$ITSMD_LOG" | head -n 3)"
else
	tap_ok "no overrun, dead hosts included"
fi
for h in silent1 closed1; do
	tap_check "$h fails with a reason, after its retry, within the timeout" \
	    log_has "$h/p: critical: no SNMP response from 127.0.0.1:[0-9]+ after 2 tries"
done
dead_incidents() {
	[ "$(q "SELECT count(*) FROM incidents WHERE resolved_at IS NULL AND
	    (host LIKE 'silent%' OR host LIKE 'closed%') AND summary LIKE '%no SNMP response%'")" = 6 ]
}
if wait_until 5 dead_incidents; then tap_ok "each dead host has an open incident naming the time-out"
else tap_fail "each dead host has an open incident naming the time-out" \
    "$(q "SELECT host, summary FROM incidents")"; fi
tap_check "no incident for a live host" \
    test "$(q "SELECT count(*) FROM incidents WHERE host LIKE 'live%'")" = 0
tap_check "a dead host stores no value, never a zero" \
    sh -c "! rrdtool fetch '$ENV_DIR/rrd/silent1/p/value.rrd' AVERAGE -r 1 -s -8 | grep -q 'e+00'"

# Backoff, seen at the silent socket: 3 hosts x 2 tries a run.  Without it,
# seconds 3 to 10 would bring 42 datagrams; asked every 4 s, at most 3 runs
# each fall in that window (18), and never none.
n=$(awk -v a=$((T0 + 3)) -v b=$((T0 + 10)) '$1 >= a && $1 < b' "$ENV_DIR/silent.log" | wc -l)
tap_check "silent hosts are backed off: $n requests reached the silent socket in 7 s (42 without)" \
    test "$n" -ge 2 -a "$n" -le 18
tap_check "the log says a dead host is backed off, to every 4 intervals" \
    log_has "silent1/p: no answer [0-9]+ times in a row; running every 4 intervals \(4000 ms\)"
curl -s --max-time 5 "http://127.0.0.1:$API_PORT/status" >"$ENV_DIR/status.txt"
tap_check "/status shows the backoff of a dead host and none for a live one" \
    sh -c "grep -qE '^silent1/p runs=[0-9]+ overruns=0 timeouts=[0-9]+ backoff=4x' '$ENV_DIR/status.txt' &&
        grep -qE '^live1/p runs=[0-9]+ overruns=0 timeouts=0 backoff=1x' '$ENV_DIR/status.txt'"

# The agent of host "back" comes up: its first answer ends the backoff, and
# from then on it stores a value every second.
snmpd_start "$ENV_DIR/back" "$BACK_PORT" || { tap_fail "environment: second snmpd"; exit 1; }
snmp_set "$ENV_DIR/back" 1 gauge 9
answers() { log_has "back/p: answers again; back to every 1000 ms"; }
if wait_until 8 answers; then tap_ok "a backed-off host is polled again within 4 intervals of its agent's return"
else tap_fail "a backed-off host is polled again within 4 intervals of its agent's return" \
    "$(grep back/ "$ITSMD_LOG" | tail -n 3)"; fi
T_BACK=$(date +%s)
# the 4 seconds after it, once written: the writer thread runs below the
# loop's priority, so on a loaded machine the file can lag a second or two
back_values() {
	n=$(rrdtool fetch "$ENV_DIR/rrd/back/p/value.rrd" AVERAGE -r 1 -s $((T_BACK + 1)) \
	    -e $((T_BACK + 4)) 2>/dev/null | grep -c "9.0000000000e+00")
	[ "$n" -ge 3 ]
}
sleep 5
wait_until 10 back_values
tap_check "after its first answer it stores a value every second again ($n of 4 s)" test "$n" -ge 3
itsmd_stop
tap_check "itsmd stops cleanly" test $? = 0
tap_done
