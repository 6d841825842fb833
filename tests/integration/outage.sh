#!/usr/bin/env bash
# outage.sh: PostgreSQL is stopped while three checks change state, and
# itsmd is even SIGKILLed and restarted in the middle of the outage.  When
# PostgreSQL returns, every transition is in incident_events exactly once and
# in order (the spool kept them through the crash), the open set is the
# truth, and the spool is empty again.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_db
env_snmpd
for i in 1 2 3; do snmp_set "$ENV_DIR" $i gauge 10; done
mkdir -p "$ENV_DIR/rrd"
chown itsmd: "$ENV_DIR/rrd"
SPOOL=$ENV_DIR/rrd/.itsmd-spool/incidents.spool

CONF=$ENV_DIR/itsmd.conf
{
	cat <<-EOF
	database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
	rrd-dir "$ENV_DIR/rrd"
	host "agent" {
	    address 127.0.0.1
	    snmp-port $SNMP_PORT
	    community "public"
	EOF
	for i in 1 2 3; do
		cat <<-EOF
		    probe "p$i" snmp {
		        oid value .1.3.6.1.4.1.99999.$i
		        interval 1s
		        warning > 50
		        critical > 90
		    }
		EOF
	done
	echo "}"
} >"$CONF"

# A check's state transitions (priority changes aside), in order, one line.
timeline() {
	q "SELECT string_agg(e.kind || ':' || coalesce(e.new_value, ''), ' ' ORDER BY e.at, e.id)
	   FROM incident_events e JOIN incidents i ON i.id = e.incident_id
	   WHERE i.host = 'agent' AND i.check_name = '$1'
	   AND e.kind IN ('opened', 'severity', 'resolved', 'reopened')"
}
open_set() { q "SELECT string_agg(check_name || '=' || severity, ' ' ORDER BY check_name)
	FROM incidents WHERE resolved_at IS NULL"; }
open_is() { [ "$(open_set)" = "$1" ]; }
changes() { q "SELECT count(*) FROM incident_changes"; }
spool_empty() { [ -f "$SPOOL" ] && [ ! -s "$SPOOL" ]; }
# Let two polls see a value before the next one is set.
settle() { sleep 2.5; }

itsmd_start "$CONF"
wait_until 10 log_has "postgres: connected"
sleep 2
tap_check "no incident while all is well" test -z "$(open_set)"

pg_ctl_as stop -m fast
wait_until 5 log_has "postgres: connection lost"
T0=$(date +%s)
snmp_set "$ENV_DIR" 1 gauge 95; snmp_set "$ENV_DIR" 2 gauge 60; snmp_set "$ENV_DIR" 3 gauge 95
settle
snmp_set "$ENV_DIR" 1 gauge 10; snmp_set "$ENV_DIR" 2 gauge 95
settle
if wait_until 5 test -s "$SPOOL"; then tap_ok "changes are spooled while PostgreSQL is down"
else tap_fail "changes are spooled while PostgreSQL is down" "no $SPOOL or empty"; fi

# A crash in the middle of the outage: what was spooled must survive it.
kill -KILL "$ITSMD_PID"
wait "$ITSMD_PID" 2>/dev/null
env_forget "$ITSMD_PID"
ITSMD_PID=
itsmd_start "$CONF"
if wait_until 5 log_has "replaying [0-9]* changes"; then tap_ok "the restarted daemon replays its spool"
else tap_fail "the restarted daemon replays its spool" "no 'replaying' line"; fi
snmp_set "$ENV_DIR" 3 gauge 10
settle
snmp_set "$ENV_DIR" 1 gauge 95
settle
tap_check "daemon runs through the outage" env_alive "$ITSMD_PID"

pg_ctl_as start
ENV_PGPID=$(head -n 1 "$ENV_DIR/pg/postmaster.pid")
if wait_until 30 open_is "p1=critical p2=critical"; then tap_ok "open set equals the truth after the outage"
else tap_fail "open set equals the truth after the outage" "open: $(open_set)"; fi
wait_until 10 spool_empty
sleep 1

check_timeline() {
	local got
	got=$(timeline "$1")
	if [ "$got" = "$2" ]; then tap_ok "$1: every transition once, in order"
	else tap_fail "$1: every transition once, in order" "want '$2' got '$got'"; fi
}
check_timeline p1 "opened:critical resolved:ok reopened:critical"
check_timeline p2 "opened:warning severity:critical"
check_timeline p3 "opened:critical resolved:ok"
tap_check "one incident row per check (the recurrence reopened p1)" \
	test "$(q "SELECT count(*) FROM incidents")" = 3
OPENED=$(q "SELECT extract(epoch FROM opened_at)::bigint FROM incidents WHERE check_name = 'p1'")
if [ -n "$OPENED" ] && [ "$OPENED" -ge $((T0 - 1)) ] && [ "$OPENED" -le $((T0 + 3)) ]; then
	tap_ok "times are when the change was seen, not when the database returned"
else
	tap_fail "times are when the change was seen, not when the database returned" \
	    "opened=$OPENED outage began $T0"
fi
tap_check "the spool is truncated once PostgreSQL has everything" spool_empty
if log_has "unique|duplicate key"; then tap_fail "no unique violation in the log" "$(grep -m1 -E "unique|duplicate key" "$ITSMD_LOG")"
else tap_ok "no unique violation in the log"; fi

itsmd_stop 15
tap_check "SIGTERM exits 0" test $? = 0
tap_done
