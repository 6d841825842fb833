#!/usr/bin/env bash
# resilience.sh: PostgreSQL goes away in the middle of an outage and comes
# back: the incident still opens exactly once, with the time the breach was
# seen, not the time the database returned.  Runs without rrdcached, so it
# also covers the writer thread's own librrd path and the flush at SIGTERM.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_db
env_snmpd
snmp_set "$ENV_DIR" 1 gauge 10
mkdir -p "$ENV_DIR/rrd"
chown itsmd: "$ENV_DIR/rrd"

CONF=$ENV_DIR/itsmd.conf
cat >"$CONF" <<EOF
database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
rrd-dir "$ENV_DIR/rrd"
host "agent" {
    address 127.0.0.1
    snmp-port $SNMP_PORT
    community "public"
    probe "demo" snmp {
        oid value .1.3.6.1.4.1.99999.1
        interval 1s
        critical > 90
    }
}
EOF
open_count() { q "SELECT count(*) FROM incidents WHERE check_name = 'demo' AND resolved_at IS NULL"; }
last_value() { rrdtool lastupdate "$RRD" 2>/dev/null | awk -F': ' 'NF == 2 { print $2 }'; }
# Functions, so that wait_until evaluates them again on every poll.
value_is() { [ "$(last_value)" = "$1" ]; }
open_is() { [ "$(open_count)" = "$1" ]; }

itsmd_start "$CONF"
RRD=$ENV_DIR/rrd/agent/demo/value.rrd
wait_until 10 test -f "$RRD"
tap_check "without rrdcached the writer thread creates the RRD file" test -f "$RRD"
sleep 1

pg_ctl_as stop -m fast
snmp_set "$ENV_DIR" 1 gauge 95
BREACH=$(date +%s)
if wait_until 5 log_has "postgres: connection lost"; then tap_ok "losing PostgreSQL is logged"
else tap_fail "losing PostgreSQL is logged" "no 'connection lost' line"; fi
if wait_until 5 value_is 95; then tap_ok "probes and RRD writes go on while PostgreSQL is down"
else tap_fail "probes and RRD writes go on while PostgreSQL is down" "last value '$(last_value)'"; fi
sleep 3
tap_check "daemon still runs during the outage" env_alive "$ITSMD_PID"

pg_ctl_as start
ENV_PGPID=$(head -n 1 "$ENV_DIR/pg/postmaster.pid")
BACK=$(date +%s)
if wait_until 40 open_is 1; then tap_ok "the incident opens once PostgreSQL is back"
else tap_fail "the incident opens once PostgreSQL is back" "open=$(open_count)"; fi
tap_check "reconnect is logged" log_has "postgres: connected"
OPENED=$(q "SELECT extract(epoch FROM opened_at)::bigint FROM incidents WHERE check_name = 'demo'")
if [ -n "$OPENED" ] && [ "$OPENED" -ge $((BREACH - 1)) ] && [ "$OPENED" -le $((BREACH + 3)) ] &&
    [ "$OPENED" -lt "$BACK" ]; then
	tap_ok "opened_at is when the breach was seen, not when the database came back"
else
	tap_fail "opened_at is when the breach was seen, not when the database came back" \
	    "opened=$OPENED breach=$BREACH back=$BACK"
fi
sleep 2
tap_check "queued raises made one row, not one per poll" test "$(q "SELECT count(*) FROM incidents")" = 1

snmp_set "$ENV_DIR" 1 gauge 20
if wait_until 5 open_is 0; then tap_ok "recovery after the outage resolves the incident"
else tap_fail "recovery after the outage resolves the incident" "open=$(open_count)"; fi
sleep 1
itsmd_stop 15
rc=$?
tap_check "SIGTERM exits 0" test "$rc" = 0
tap_check "samples accepted before SIGTERM are in the RRD file" value_is 20
tap_done
