#!/usr/bin/env bash
# rrd_cached.sh: rrdcached goes away in the middle of a run.  The writer
# holds the samples (bounded) and writes them when rrdcached returns, so
# the file has no gap; when itsmd stops while rrdcached is still down, the
# held samples go straight to the files.  The daemon keeps running.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_db
env_snmpd
rrdcached_start "$ENV_DIR" || { tap_fail "environment: rrdcached"; exit 1; }
snmp_set "$ENV_DIR" 1 gauge 10
snmp_set "$ENV_DIR" 2 gauge 20
snmp_set "$ENV_DIR" 3 gauge 30

CONF=$ENV_DIR/itsmd.conf
cat >"$CONF" <<EOF
database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
rrd-dir "$ENV_DIR/rrd"
rrdcached "unix:$RRDCACHED_SOCK"
host "agent" {
    address 127.0.0.1
    snmp-port $SNMP_PORT
    community "public"
    probe "demo" snmp {
        oid value .1.3.6.1.4.1.99999.1
        oid b .1.3.6.1.4.1.99999.2
        oid c .1.3.6.1.4.1.99999.3
        interval 1s
    }
}
EOF
RRD=$ENV_DIR/rrd/agent/demo/value.rrd
# fetch_rows FROM TO: "time value" of the 1 s archive, read from the file
# as it is on disk (rrdcached, when up, is asked to flush it first).
fetch_rows() {
	rrdtool fetch "$RRD" AVERAGE -r 1 -s "$1" -e "$2" ${RRDCACHED_SOCK:+--daemon "unix:$RRDCACHED_SOCK"} 2>/dev/null |
	    awk -F': ' 'NF == 2 { print $1, $2 }'
}
known_between() { fetch_rows "$1" "$2" | awk '$2 != "-nan" && $2 != "nan" { n++ } END { print n + 0 }'; }
# Samples land at fractions of a second, so a row mixes two of them.
has_value() { fetch_rows "$1" "$2" | awk -v v="$3" '$2 + 0 > v - 1 && $2 + 0 < v + 1 { f = 1 } END { exit !f }'; }
stop_rrdcached() {
	kill -TERM "$RRDCACHED_PID"
	env_wait_gone 10 "$RRDCACHED_PID"
}

itsmd_start "$CONF"
wait_until 10 test -f "$RRD"
# The three files of the probe go to rrdcached in one BATCH per round:
# each must hold its own value.
holds() { rrdtool lastupdate "$ENV_DIR/rrd/agent/demo/$1.rrd" --daemon "unix:$RRDCACHED_SOCK" 2>/dev/null |
    awk -F': ' -v v="$2" 'NF == 2 && $2 + 0 == v { f = 1 } END { exit !f }'; }
both() { holds b 20 && holds c 30; }
if wait_until 10 both; then tap_ok "one batch, several files: each gets its own values"
else tap_fail "one batch, several files: each gets its own values" "b.rrd/c.rrd lack 20/30"; fi
sleep 1
stop_rrdcached
DOWN=$(date +%s)
for v in 101 102 103 104 105 106; do
	snmp_set "$ENV_DIR" 1 gauge $v
	sleep 1
done
if wait_until 5 log_has "rrdcached .*(cannot connect|connection lost).*holding updates"; then tap_ok "rrdcached gone: logged, updates held"
else tap_fail "rrdcached gone: logged, updates held" "no 'holding updates' line"; fi
tap_check "the daemon keeps running without rrdcached" env_alive "$ITSMD_PID"
UP=$(date +%s)
rrdcached_start "$ENV_DIR" || { tap_fail "environment: rrdcached again"; exit 1; }
if wait_until 10 log_has "rrdcached .*connected; writing the updates held"; then tap_ok "rrdcached back: the held updates are written"
else tap_fail "rrdcached back: the held updates are written" "no 'connected' line"; fi
sleep 2
n=$(known_between $((DOWN + 1)) $((UP - 1)))
want=$(( UP - DOWN - 3 ))
if [ "$n" -ge "$want" ]; then tap_ok "no gap while rrdcached was down ($n of $((UP - DOWN - 1)) seconds have a value)"
else tap_fail "no gap while rrdcached was down" "$n known rows, wanted at least $want"; fi
if has_value "$DOWN" "$UP" 103; then tap_ok "a value served during the outage is in the file"
else tap_fail "a value served during the outage is in the file" "103 not found"; fi

# Down again, and itsmd stops before it returns: written directly.
stop_rrdcached
snmp_set "$ENV_DIR" 1 gauge 777
sleep 3
itsmd_stop 15
rc=$?
tap_check "SIGTERM with rrdcached down exits 0" test "$rc" = 0
tap_check "the held updates are written directly at stop" log_has "unreachable at stop: writing [0-9]+ updates directly"
RRDCACHED_SOCK=""
last=$(rrdtool lastupdate "$RRD" 2>/dev/null | awk -F': ' 'NF == 2 { print $2 + 0 }')
tap_check "the last sample accepted before the stop is in the file ($last)" test "$last" = 777
tap_done
