#!/usr/bin/env bash
# flapping.sh: a value alternating across its threshold every poll gives one
# incident marked flapping, not a stream of open/resolve pairs; once the
# value settles on OK the flapping ends and the incident resolves.  A check
# that is already flapping when its incident opens (it flapped inside a
# maintenance window) has "flapping started" in the incident's timeline, and
# "flapping stopped" when it settles.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_db
env_snmpd
snmp_set "$ENV_DIR" 1 gauge 10

snmp_set "$ENV_DIR" 2 gauge 10
snmp_set "$ENV_DIR" 3 gauge 10
LATE_END=$(($(date +%s) + 20))
CONF=$ENV_DIR/itsmd.conf
cat >"$CONF" <<EOF
database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
rrd-dir "$ENV_DIR/rrd"
user itsmd
maintenance "late" { hosts "late"; once "@$((LATE_END - 60))" "@$LATE_END" }
host "late" {
    address 127.0.0.1
    snmp-port $SNMP_PORT
    community "public"
    snmp-retries 0
    probe "v" snmp {
        oid value .1.3.6.1.4.1.99999.3
        interval 1s
        timeout 900ms
        critical > 90
        flap-low 25%
        flap-high 50%
    }
}
host "flappy" {
    address 127.0.0.1
    snmp-port $SNMP_PORT
    community "public"
    snmp-retries 0
    probe "v" snmp {
        oid value .1.3.6.1.4.1.99999.1
        interval 1s
        timeout 900ms
        critical > 90
        flap-low 25%
        flap-high 50%
    }
}
host "hyst" {
    address 127.0.0.1
    snmp-port $SNMP_PORT
    community "public"
    snmp-retries 0
    probe "v" snmp {
        oid value .1.3.6.1.4.1.99999.2
        interval 1s
        timeout 900ms
        critical > 90 recover < 85
    }
}
EOF

rows() { q "SELECT count(*) FROM incidents WHERE host = '${1:-flappy}'"; }
open_hyst() { [ "$(q "SELECT count(*) FROM incidents WHERE host = 'hyst' AND resolved_at IS NULL")" = 1 ]; }
open_summary_88() { q "SELECT summary FROM incidents WHERE host = 'hyst' AND resolved_at IS NULL" | grep -q "value = 88, not yet < 85"; }
clear_hyst() { [ "$(q "SELECT count(*) FROM incidents WHERE host = 'hyst' AND resolved_at IS NULL")" = 0 ]; }
is_flapping() { [ "$(q "SELECT flapping FROM incidents WHERE host = 'flappy' AND resolved_at IS NULL")" = t ]; }
is_clear() { [ "$(q "SELECT count(*) FROM incidents WHERE host = 'flappy' AND resolved_at IS NULL")" = 0 ]; }
# Resolutions logged after "flapping started": while it flaps, none; after
# it stops, the one that ends it.  $1: count only before "flapping stopped".
resolves_since_flap() {
	awk -v upto="${1:-}" '/flappy\/v: flapping started/ { on = 1 }
	    /flappy\/v: flapping stopped/ && upto != "" { on = 0 }
	    on && /incident #[0-9]+ resolved: flappy\/v/ { n++ }
	    END { print n + 0 }' "$ITSMD_LOG"
}

itsmd_start "$CONF"
wait_until 10 test -f "$ENV_DIR/rrd/flappy/v/value.rrd"
sleep 1

# --- alternate every poll (1 s) for 30 polls
FLIPS=20
for i in $(seq 1 $FLIPS); do
	if [ $((i % 2)) = 1 ]; then snmp_set "$ENV_DIR" 1 gauge 99; else snmp_set "$ENV_DIR" 1 gauge 10; fi
	sleep 1
done &
FLIPPER=$!
env_record $FLIPPER flipper
# "late" flaps inside its window (ending at LATE_END) and on past its end
for i in $(seq 1 32); do
	if [ $((i % 2)) = 1 ]; then snmp_set "$ENV_DIR" 3 gauge 99; else snmp_set "$ENV_DIR" 3 gauge 10; fi
	sleep 1
done &
FLIPPER2=$!
env_record $FLIPPER2 flipper2
if wait_until 25 log_has "flappy/v: flapping started"; then tap_ok "flapping is detected"
else tap_fail "flapping is detected" "no 'flapping started' in the log"; fi
if wait_until 5 is_flapping; then tap_ok "the open incident is marked flapping"
else tap_fail "the open incident is marked flapping" "$(q "SELECT id, flapping, resolved_at FROM incidents")"; fi
wait "$FLIPPER"
OPENS=$(grep -cE "incident #[0-9]+ (opened|reopened): flappy/v" "$ITSMD_LOG")
tap_check "one incident row for $FLIPS alternations" test "$(rows)" = 1
if [ "$OPENS" -le 6 ]; then tap_ok "at most 6 opens before detection, not dozens ($OPENS)"
else tap_fail "at most 6 opens before detection, not dozens" "$OPENS opens"; fi
tap_check "no resolve while flapping" test "$(resolves_since_flap)" = 0

# --- "late": flapping already when its window ends and its incident opens
late_open() { [ "$(q "SELECT count(*) FROM incidents WHERE host = 'late' AND resolved_at IS NULL")" = 1 ]; }
tap_check "late: flapping inside the maintenance window" wait_until 20 log_has "late/v: flapping started"
tap_check "late: the window ends, the incident opens" wait_until 20 late_open
# the case under test: flapping began before the incident opened
flap_before_open() { awk '/late\/v: flapping started/ && !f { f = NR }
    /incident #[0-9]+ opened: late\/v/ && !o { o = NR } END { exit !(f && o && f < o) }' "$ITSMD_LOG"; }
tap_check "late: it was flapping before its incident opened" wait_until 5 flap_before_open
LID=$(q "SELECT id FROM incidents WHERE host = 'late'")
late_events() { q "SELECT string_agg(kind || ':' || coalesce(text, ''), ' ' ORDER BY at, id)
    FROM incident_events WHERE incident_id = ${LID:-0} AND kind IN ('opened', 'flapping', 'resolved')" |
    sed 's/:value = [0-9]* > 90/:/g'; }
tap_check "late: opened flapping, and the timeline says so" \
    test "$(q "SELECT flapping FROM incidents WHERE id = ${LID:-0}"):$(late_events)" = \
    "t:opened: flapping:flapping started"
"$BUILD/itsmctl" -d "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres" incident show "${LID:-0}" \
    >"$ENV_DIR/late.txt" 2>&1
tap_check "late: incident show lists 'flapping started'" grep -q "flapping started" "$ENV_DIR/late.txt"

# --- the value settles on OK: flapping stops, the incident resolves
snmp_set "$ENV_DIR" 1 gauge 10
if wait_until 30 is_clear; then tap_ok "settled: the incident resolves"
else tap_fail "settled: the incident resolves" "$(q "SELECT id, flapping, resolved_at FROM incidents")"; fi
tap_check "the log says flapping stopped" log_has "flappy/v: flapping stopped"
tap_check "no resolve until flapping stopped" test "$(resolves_since_flap upto)" = 0
tap_check "exactly one resolve after the flapping" test "$(resolves_since_flap)" = 1
tap_check "still one incident row" test "$(rows)" = 1
wait "$FLIPPER2"
snmp_set "$ENV_DIR" 3 gauge 10
late_clear() { [ "$(q "SELECT count(*) FROM incidents WHERE host = 'late' AND resolved_at IS NULL")" = 0 ]; }
tap_check "late: settles and resolves" wait_until 30 late_clear
tap_check "late: the whole timeline (opened, flapping started/stopped, resolved)" \
    test "$(late_events)" = "opened: flapping:flapping started flapping:flapping stopped resolved:recovered"

# --- hysteresis: critical > 90 recover < 85
snmp_set "$ENV_DIR" 2 gauge 95
if wait_until 5 open_hyst; then tap_ok "hysteresis: 95 > 90 opens"
else tap_fail "hysteresis: 95 > 90 opens" "rows=$(rows hyst)"; fi
snmp_set "$ENV_DIR" 2 gauge 88
tap_check "hysteresis: at 88 (under 90, not under 85) it stays critical" \
    wait_until 5 open_summary_88
tap_check "hysteresis: and the incident stays open" open_hyst
snmp_set "$ENV_DIR" 2 gauge 80
if wait_until 5 clear_hyst; then tap_ok "hysteresis: 80 < 85 resolves"
else tap_fail "hysteresis: 80 < 85 resolves" "still open"; fi
tap_check "hysteresis: one incident row" test "$(rows hyst)" = 1
itsmd_stop 15
tap_check "itsmd stops cleanly" test $? = 0
tap_done
