#!/usr/bin/env bash
# problems.sh: recurring incidents of one check make a problem record that
# links them and that later ones join (`itsmctl problems`); one incident's
# whole timeline (opened, severity, acknowledged with who and comment,
# resolved by recovery, reopened, resolved by hand) in `itsmctl incident
# show`; and on start, the open incident of a check removed from the conf
# while itsmd was down is resolved while the others stay open, none twice.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_db
env_snmpd
snmp_set "$ENV_DIR" 1 gauge 10
snmp_set "$ENV_DIR" 2 gauge 10
snmp_set "$ENV_DIR" 3 gauge 95

# $1: with the host "gone" (yes/no)
conf() {
	cat <<-EOF
	database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
	rrd-dir "$ENV_DIR/rrd"
	user itsmd
	reopen-window 5s
	problem-after 3 in 1h
	EOF
	for h in rec:1 life:2 gone:3; do
		[ "${h%%:*}" = gone ] && [ "$1" = no ] && continue
		cat <<-EOF
		host "${h%%:*}" {
		    address 127.0.0.1
		    snmp-port $SNMP_PORT
		    community "public"
		    snmp-retries 0
		    probe "p" snmp {
		        oid value .1.3.6.1.4.1.99999.${h##*:}
		        interval 1s
		        timeout 900ms
		        warning > 80
		        critical > 90
		        flap-high 0%
		    }
		}
		EOF
	done
}
CONF=$ENV_DIR/itsmd.conf
conf yes >"$CONF"

CTL() { "$BUILD/itsmctl" -d "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres" "$@"; }
nopen() { q "SELECT count(*) FROM incidents WHERE host = '$1' AND resolved_at IS NULL"; }
is_open() { [ "$(nopen "$1")" = 1 ]; }
is_clear() { [ "$(nopen "$1")" = 0 ]; }
sev_is() { [ "$(q "SELECT severity FROM incidents WHERE host = '$1' AND resolved_at IS NULL")" = "$2" ]; }
rows() { q "SELECT count(*) FROM incidents WHERE host = '$1'"; }
# the timeline of incident $1 as "event who text" lines
timeline() { CTL incident show "$1" | sed -n '/^timeline:/,/^$/p'; }
has_event() { timeline "$1" | grep -E -- "$2" >/dev/null; }

tap_check "itsmd -t takes the conf" "$BUILD/itsmd" -t -c "$CONF"
itsmd_start "$CONF"
tap_check "a check failing from the start opens" wait_until 15 is_open gone

# One failure of "rec": opens, recovers, and waits out the reopen window so
# that the next failure is a new incident, not a reopen.
rec_cycle() {
	snmp_set "$ENV_DIR" 1 gauge 95
	wait_until 8 is_open rec || return 1
	snmp_set "$ENV_DIR" 1 gauge 10
	wait_until 8 is_clear rec || return 1
	sleep 5.5
}

# --- the lifecycle of one incident, between the first failures of "rec"
snmp_set "$ENV_DIR" 2 gauge 95
tap_check "life: critical opens" wait_until 8 is_open life
LID=$(q "SELECT id FROM incidents WHERE host = 'life' AND resolved_at IS NULL")
snmp_set "$ENV_DIR" 2 gauge 85
tap_check "life: severity follows the check (warning)" wait_until 8 sev_is life warning
tap_check "life: acknowledged" CTL incident ack "$LID" -u alice "looking into it"
tap_check "rec: first incident" rec_cycle
snmp_set "$ENV_DIR" 2 gauge 10
tap_check "life: recovery resolves" wait_until 8 is_clear life
snmp_set "$ENV_DIR" 2 gauge 95
tap_check "life: a recurrence within the window reopens" wait_until 8 is_open life
tap_check "life: the same incident, not a new one" test "$(rows life)" = 1
tap_check "life: resolved by hand" CTL incident resolve "$LID" -u bob "fixed the fan"
timeline "$LID" >"$ENV_DIR/timeline.txt"
for ev in "opened .*critical" "severity .*critical .*warning" \
    "acknowledged .*alice .*looking into it" "resolved .*recovered" "reopened .*critical" \
    "resolved .*bob .*fixed the fan"; do
	tap_check "incident show: timeline has '$ev'" grep -E -- "$ev" "$ENV_DIR/timeline.txt"
done
tap_check "incident show: the events in order" test "$(awk '/^[0-9]/ &&
    $3 ~ /^(opened|severity|acknowledged|resolved|reopened)$/ { print $3 }' \
    "$ENV_DIR/timeline.txt" | tr '\n' ' ')" = "opened severity acknowledged resolved reopened resolved "

# --- problems: the third incident within the window makes one
tap_check "rec: second incident" rec_cycle
tap_check "no problem after two incidents" test "$(q "SELECT count(*) FROM problems")" = 0
tap_check "rec: third incident" rec_cycle
tap_check "rec: three incident rows, none reopened" test "$(rows rec)" = 3
PID=$(q "SELECT id FROM problems WHERE host = 'rec' AND check_name = 'p' AND status = 'open'")
if [ -n "$PID" ]; then tap_ok "three incidents within the window make a problem"
else tap_fail "three incidents within the window make a problem" "$(q "SELECT * FROM problems")"; fi
tap_check "the problem links all three" \
    test "$(q "SELECT count(*) FROM incidents WHERE problem_id = ${PID:-0}")" = 3
CTL problems >"$ENV_DIR/problems.txt"
tap_check "itsmctl problems shows it with its 3 incidents" \
    grep -E "^ *${PID:-x} +rec +p +open .* 3 " "$ENV_DIR/problems.txt"
snmp_set "$ENV_DIR" 1 gauge 95
tap_check "rec: fourth incident opens" wait_until 8 is_open rec
R4=$(q "SELECT id FROM incidents WHERE host = 'rec' AND resolved_at IS NULL")
tap_check "a later incident joins the open problem" \
    test "$(q "SELECT problem_id FROM incidents WHERE id = ${R4:-0}")" = "${PID:-x}"
tap_check "its timeline says so" has_event "${R4:-0}" "problem .* ${PID:-x}( |\$)"
tap_check "still one problem" test "$(q "SELECT count(*) FROM problems")" = 1
tap_check "life: resolved by hand while failing, it stayed resolved" is_clear life
snmp_set "$ENV_DIR" 2 gauge 10

# --- reconcile at start: "gone" leaves the conf while itsmd is down
itsmd_stop 15
tap_check "itsmd stops cleanly" test $? = 0
conf no >"$CONF"
itsmd_start "$CONF"
tap_check "the removed check's incident is resolved at start" wait_until 10 is_clear gone
tap_check "with the reason" test "$(q "SELECT resolution FROM incidents WHERE host = 'gone'")" = \
    "check no longer in the configuration"
tap_check "the log says so" wait_until 5 log_has "reconcile: 1 open incidents of checks no longer configured"
sleep 3
tap_check "the check still failing keeps its one open incident" is_open rec
tap_check "nothing opened twice" test "$(rows rec):$(rows gone):$(rows life)" = 4:1:1
snmp_set "$ENV_DIR" 1 gauge 10
tap_check "and it resolves on recovery" wait_until 8 is_clear rec
itsmd_stop 15
tap_check "SIGTERM exits 0" test $? = 0
no_sql_error() { ! log_has "duplicate key|statement failed"; }
tap_check "no duplicate-key or failed statement in the log" no_sql_error
tap_done
