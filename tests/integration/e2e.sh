#!/usr/bin/env bash
# e2e.sh: the whole path on real parts: snmpd and an HTTP server as targets,
# itsmd polling them, rrdcached storing samples, PostgreSQL holding incidents.
# Each check asserts what an operator would see: rows, files, log lines, exit codes.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_db
SNMP_PORT=$(free_port udp)
HTTP_PORT=$(free_port tcp)
snmpd_start "$ENV_DIR" "$SNMP_PORT" || { tap_fail "environment: snmpd"; exit 1; }
httpd_start "$ENV_DIR" "$HTTP_PORT" || { tap_fail "environment: httpd"; exit 1; }
rrdcached_start "$ENV_DIR" || { tap_fail "environment: rrdcached"; exit 1; }
snmp_set "$ENV_DIR" 1 gauge 10
http_set "$ENV_DIR" status 200

CONF=$ENV_DIR/itsmd.conf
write_conf() {	# write_conf CRITICAL-LIMIT [EXTRA-LINE]
	cat >"$CONF" <<-EOF
	database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
	rrd-dir "$ENV_DIR/rrd"
	rrdcached "unix:$RRDCACHED_SOCK"
	user itsmd
	${2:-}
	template "demo" {
	    probe "demo" snmp {
	        oid value .1.3.6.1.4.1.99999.1
	        interval 1s
	        timeout 900ms
	        warning > 70
	        critical > $1
	    }
	}
	host "agent" {
	    address 127.0.0.1
	    snmp-port $SNMP_PORT
	    community "public"
	    snmp-retries 0
	    use "demo"
	    probe "web" http {
	        url "http://127.0.0.1:$HTTP_PORT/"
	        interval 1s
	        timeout 1s
	        critical time > 5s
	    }
	}
	EOF
}
write_conf 90

open_count() { q "SELECT count(*) FROM incidents WHERE host = 'agent' AND check_name = '$1' AND resolved_at IS NULL"; }
all_count() { q "SELECT count(*) FROM incidents WHERE host = 'agent' AND check_name = '$1'"; }
is_open() { [ "$(open_count "$1")" = 1 ]; }
is_clear() { [ "$(open_count "$1")" = 0 ]; }
open_summary_has() { q "SELECT summary FROM incidents WHERE check_name = '$1' AND resolved_at IS NULL" | grep -q -- "$2"; }
open_severity_is() { [ "$(q "SELECT severity FROM incidents WHERE check_name = '$1' AND resolved_at IS NULL")" = "$2" ]; }

tap_check "itsmd -t accepts the test configuration" "$BUILD/itsmd" -t -c "$CONF"
itsmd_start "$CONF"
RRD=$ENV_DIR/rrd/agent/demo/value.rrd
if wait_until 15 test -f "$RRD"; then tap_ok "RRD file created for agent/demo/value"
else tap_fail "RRD file created for agent/demo/value" "no $RRD"; fi
for m in time status size; do
	wait_until 5 test -f "$ENV_DIR/rrd/agent/web/$m.rrd"
	tap_check "RRD file for http metric $m" test -f "$ENV_DIR/rrd/agent/web/$m.rrd"
done
tap_check "no incident while everything is fine" is_clear demo
sleep 2

# --- SNMP value crosses critical: one row within two poll intervals (+ margin)
snmp_set "$ENV_DIR" 1 gauge 95
if wait_until 3 is_open demo; then tap_ok "snmp breach opens an incident within two intervals"
else tap_fail "snmp breach opens an incident within two intervals" "open=$(open_count demo)"; fi
tap_check "incident is critical and names the value" open_summary_has demo "value = 95 > 90"
tap_check "log shows the incident opening" log_has "incident #[0-9]+ opened: agent/demo critical"
sleep 4
if [ "$(all_count demo)" = 1 ] && [ "$(q "SELECT updates > 0 FROM incidents WHERE check_name='demo'")" = t ]; then
	tap_ok "repeated breaches update the one row, never add a second"
else
	tap_fail "repeated breaches update the one row, never add a second" "rows=$(all_count demo)"
fi
snmp_set "$ENV_DIR" 1 gauge 20
if wait_until 4 is_clear demo; then tap_ok "recovery resolves the incident"
else tap_fail "recovery resolves the incident" "open=$(open_count demo)"; fi
tap_check "resolved row has resolved_at and a resolution" test "$(q "SELECT count(*) FROM incidents WHERE check_name='demo' AND resolved_at IS NOT NULL AND resolution IS NOT NULL")" = 1
tap_check "log shows the incident resolving" log_has "incident #[0-9]+ resolved: agent/demo"

# --- the agent serves no such instance: UNKNOWN, never a zero value
snmp_unset "$ENV_DIR" 1
if wait_until 4 is_open demo && open_severity_is demo unknown && open_summary_has demo "noSuch"; then
	tap_ok "noSuchInstance gives an unknown incident naming the reason"
else
	tap_fail "noSuchInstance gives an unknown incident naming the reason" \
	    "$(q "SELECT severity, summary FROM incidents WHERE check_name='demo' AND resolved_at IS NULL")"
fi
snmp_set "$ENV_DIR" 1 gauge 20
wait_until 4 is_clear demo

# --- HTTP: 500, then a time-out, then recovery
http_set "$ENV_DIR" status 500
if wait_until 4 is_open web && open_summary_has web "HTTP 500"; then tap_ok "HTTP 500 opens an incident naming the status"
else tap_fail "HTTP 500 opens an incident naming the status" "open=$(open_count web)"; fi
http_set "$ENV_DIR" status 200
http_set "$ENV_DIR" delay 3
if wait_until 6 open_summary_has web "timed out"; then tap_ok "HTTP time-out updates the incident with the time-out"
else tap_fail "HTTP time-out updates the incident with the time-out" "$(q "SELECT summary FROM incidents WHERE check_name='web'")"; fi
tap_check "still one incident row for web" test "$(all_count web)" = 1
http_set "$ENV_DIR" delay 0
if wait_until 8 is_clear web; then tap_ok "HTTP recovery resolves the incident"
else tap_fail "HTTP recovery resolves the incident" "open=$(open_count web)"; fi

# --- RRD holds what the agent served
FETCH=$(rrdtool fetch --daemon "unix:$RRDCACHED_SOCK" "$RRD" AVERAGE -r 1 -s -60 2>&1)
for v in 1.0000000000e+01 9.5000000000e+01 2.0000000000e+01; do
	if grep -q "$v" <<<"$FETCH"; then tap_ok "rrdtool fetch shows the served value $v"
	else tap_fail "rrdtool fetch shows the served value $v" "$(tail -n 3 <<<"$FETCH")"; fi
done
if grep -q "nan" <<<"$FETCH"; then tap_ok "rrdtool fetch shows a gap (no zero) while noSuchInstance"
else tap_fail "rrdtool fetch shows a gap (no zero) while noSuchInstance" "no nan row"; fi
tap_check "RRD step is the probe interval (1 s)" grep -q "^step = 1$" <(rrdtool info "$RRD")
tap_check "RRD keeps 2 days at full resolution" grep -q "rra\[1\].rows = 172800" <(rrdtool info "$RRD")
tap_check "RRD has hourly MAX for 13 months" grep -q 'rra\[.*\].pdp_per_row = 3600' <(rrdtool info "$RRD")

# --- SIGHUP with a broken file keeps the old configuration running
cp "$CONF" "$CONF.good"
echo "intervall 5s" >>"$CONF"
kill -HUP "$ITSMD_PID"
wait_until 3 log_has "keeping the running configuration"
tap_check "broken reload is refused and said so" log_has "itsmd.conf:[0-9]+:1: unknown key 'intervall'"
snmp_set "$ENV_DIR" 1 gauge 95
if wait_until 4 is_open demo; then tap_ok "probes keep running after a refused reload"
else tap_fail "probes keep running after a refused reload" "open=$(open_count demo)"; fi

# --- a valid reload applies new thresholds and keeps the incident
write_conf 99
kill -HUP "$ITSMD_PID"
if wait_until 4 log_has "reloaded: 1 hosts, 2 checks"; then tap_ok "valid reload is applied"
else tap_fail "valid reload is applied" "no 'reloaded' line"; fi
if wait_until 4 open_severity_is demo warning; then tap_ok "after reload the same incident follows the new threshold (warning)"
else tap_fail "after reload the same incident follows the new threshold (warning)" "$(q "SELECT severity FROM incidents WHERE check_name='demo' AND resolved_at IS NULL")"; fi
tap_check "reload did not open a second incident" test "$(open_count demo)" = 1

# --- reload that removes the check resolves its incident
write_conf 99
sed -i '/use "demo"/d' "$CONF"
kill -HUP "$ITSMD_PID"
if wait_until 4 is_clear demo; then tap_ok "removing a check from the conf resolves its incident"
else tap_fail "removing a check from the conf resolves its incident" "open=$(open_count demo)"; fi

# --- SIGTERM: clean exit, nothing left behind
PID=$ITSMD_PID
itsmd_stop 15
rc=$?
tap_check "SIGTERM exits 0" test "$rc" = 0
tap_check "no itsmd process left behind" bash -c "! kill -0 $PID 2>/dev/null"
tap_check "the stop is logged" log_has "stopped"
tap_done
