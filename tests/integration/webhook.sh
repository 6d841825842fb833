#!/usr/bin/env bash
# webhook.sh: webhook receivers.  One records every call: open, escalate,
# acknowledge (itsmctl) and resolve arrive, each once, in order, as JSON.  A
# second one fails (HTTP 500) through a whole incident and then recovers:
# it still gets every notification, once each, retried with backoff.  A
# third filters on priority and gets nothing; a check in maintenance and a
# child attached to its parent's incident notify no one; an incident whose
# open was sent gets its resolve even after a restart and a fall in priority;
# a receiver filtered on the check (its category) hears of that check only.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_db
env_snmpd
snmp_set "$ENV_DIR" 1 gauge 10
mkdir -p "$ENV_DIR/rrd"
chown itsmd: "$ENV_DIR/rrd"

rx_start() {	# NAME PORT
	local pid
	python3 "$ENV_BIN/webhook_rx.py" --port "$2" --record "$ENV_DIR/$1.jsonl" \
	    --fail "$ENV_DIR/$1.fail" >"$ENV_DIR/$1.log" 2>&1 </dev/null &
	pid=$!
	env_record $pid "webhook_rx $1"
	env_wait_for 10 $pid env_http_ok "$2" || { tap_fail "environment: receiver $1"; exit 1; }
}
P1=$(free_port tcp); rx_start good "$P1"
P2=$(free_port tcp); rx_start flaky "$P2"
P3=$(free_port tcp); rx_start picky "$P3"
P4=$(free_port tcp); rx_start p2 "$P4"
P5=$(free_port tcp); rx_start cat "$P5"
for i in 2 3 4 5 6; do snmp_set "$ENV_DIR" $i gauge 10; done
NOW=$(date +%s)
touch "$ENV_DIR/flaky.fail"

CONF=$ENV_DIR/itsmd.conf
cat >"$CONF" <<EOF2
database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
rrd-dir "$ENV_DIR/rrd"
receiver "good" { url "http://127.0.0.1:$P1/hook" }
receiver "flaky" { url "http://127.0.0.1:$P2/hook"; timeout 2s }
receiver "picky" { url "http://127.0.0.1:$P3/hook"; min-priority 1; events open resolve }
receiver "p2" { url "http://127.0.0.1:$P4/hook"; min-priority 2; events open resolve }
receiver "cat" { url "http://127.0.0.1:$P5/hook"; checks "v"; events open }
maintenance "works" { hosts "maint"; once "@$((NOW - 60))" "@$((NOW + 3600))" }
EOF2
for h in drop:2 router:3 child:4 maint:5 hand:6; do
	cat >>"$CONF" <<EOF2
host "${h%%:*}" {
    address 127.0.0.1
    snmp-port $SNMP_PORT
    community "public"
    $([ "${h%%:*}" = child ] && echo 'parent "router"')
    probe "v" snmp {
        oid value .1.3.6.1.4.1.99999.${h##*:}
        interval 1s
        warning > 50
        critical > 90
    }
}
EOF2
done
cat >>"$CONF" <<EOF2
host "agent" {
    address 127.0.0.1
    snmp-port $SNMP_PORT
    community "public"
    probe "load" snmp {
        oid value .1.3.6.1.4.1.99999.1
        interval 1s
        warning > 50
        critical > 90
    }
}
EOF2

events() { [ -f "$ENV_DIR/$1.jsonl" ] && python3 -c '
import json, sys
print(" ".join(json.loads(l)["event"] for l in open(sys.argv[1])))' "$ENV_DIR/$1.jsonl"; }
events_are() { [ "$(events "$1")" = "$2" ]; }
# RECEIVER HOST: that host's events, in order
host_events() { [ -f "$ENV_DIR/$1.jsonl" ] && python3 -c '
import json, sys
print(" ".join(d["event"] for d in map(json.loads, open(sys.argv[1])) if d["host"] == sys.argv[2]))' \
    "$ENV_DIR/$1.jsonl" "$2"; }
host_events_are() { [ "$(host_events "$1" "$2")" = "$3" ]; }
# nothing in any receiver names HOST
silent_on() { ! cat "$ENV_DIR"/*.jsonl | grep -q "\"host\": *\"$1\""; }

itsmd_start "$CONF"
wait_until 10 log_has "postgres: connected"
sleep 1
snmp_set "$ENV_DIR" 1 gauge 60
wait_until 10 events_are good "open"
snmp_set "$ENV_DIR" 1 gauge 95
wait_until 10 events_are good "open escalate"
ID=$(q "SELECT id FROM incidents WHERE check_name = 'load' AND resolved_at IS NULL")
sleep 1
"$BUILD/itsmctl" -d "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres" \
    incident ack "$ID" -u carol 'on it "now"' >/dev/null
wait_until 10 events_are good "open escalate acknowledge"
snmp_set "$ENV_DIR" 1 gauge 10
if wait_until 10 events_are good "open escalate acknowledge resolve"; then
	tap_ok "receiver gets open, escalate, acknowledge and resolve, in order"
else
	tap_fail "receiver gets open, escalate, acknowledge and resolve, in order" "got: $(events good)"
fi
tap_check "the failing receiver was told about, loudly and once" \
	test "$(grep -c 'receiver flaky: delivery failed' "$ITSMD_LOG")" = 1
if grep -q "127.0.0.1:$P2" "$ITSMD_LOG"; then tap_fail "receiver urls are not logged" "url in log"
else tap_ok "receiver urls are not logged"; fi

rm -f "$ENV_DIR/flaky.fail"
if wait_until 40 events_are flaky "open escalate acknowledge resolve"; then
	tap_ok "a receiver that failed then recovered gets every notification once, in order"
else
	tap_fail "a receiver that failed then recovered gets every notification once, in order" \
	    "got: $(events flaky)"
fi
tap_check "recovery of the receiver is logged" log_has "receiver flaky: delivering again"

check_json() {
	python3 - "$ENV_DIR/good.jsonl" "$ID" <<'PY'
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
ack = [d for d in docs if d["event"] == "acknowledge"][0]
assert all(d["_content_type"] == "application/json" for d in docs), "content type"
assert all(d["incident"] == int(sys.argv[2]) for d in docs), "incident id"
assert all(d["host"] == "agent" and d["check"] == "load" for d in docs), "ci"
assert docs[1]["severity"] == "critical", "escalate severity"
assert ack["who"] == "carol" and ack["comment"] == 'on it "now"', "ack who/comment"
assert len({d["id"] for d in docs}) == len(docs), "delivery ids unique"
PY
}
tap_check "JSON carries incident, CI, severity, who and comment" check_json
PRIO=$(q "SELECT priority FROM incidents WHERE id = $ID")
tap_check "the incident's priority is stored (P$PRIO)" test -n "$PRIO"
if [ -n "$PRIO" ] && [ "$PRIO" -gt 1 ] && [ ! -s "$ENV_DIR/picky.jsonl" ]; then
	tap_ok "a receiver with min-priority 1 gets nothing of a P$PRIO incident"
else
	tap_fail "a receiver with min-priority 1 gets nothing of a P$PRIO incident" \
	    "got: $(events picky)"
fi


# --- a P2 incident, a router with an attached child, a check in maintenance
snmp_set "$ENV_DIR" 2 gauge 95
snmp_set "$ENV_DIR" 6 gauge 95
snmp_set "$ENV_DIR" 3 gauge 95
snmp_set "$ENV_DIR" 4 gauge 95
snmp_set "$ENV_DIR" 5 gauge 95
tap_check "p2 (min-priority 2) gets the open of a P2 incident" wait_until 10 host_events_are p2 drop open
tap_check "the router's incident is told" wait_until 10 host_events_are good router open
# First that both did go bad, or the silence below would prove nothing.
attached() { [ "$(q "SELECT count(*) FROM incident_cis WHERE host = 'child' AND detached_at IS NULL")" = 1 ]; }
tap_check "the child is attached to the router's incident" wait_until 10 attached
child_ci() { q "SELECT severity || ': ' || summary FROM incident_cis WHERE host = 'child'
    AND detached_at IS NULL"; }
tap_check "... with its own breach: critical, value = 95 > 90" \
    test "$(child_ci)" = "critical: value = 95 > 90"
tap_check "the check in maintenance breached its critical threshold" wait_until 10 \
    log_has "maint/v: critical in maintenance window 'works': no new incident"
sleep 3
tap_check "the attached child notifies no one" silent_on child
tap_check "the check in maintenance notifies no one" silent_on maint
tap_check "and opened no incident" test "$(q "SELECT count(*) FROM incidents WHERE host = 'maint'")" = 0
snmp_set "$ENV_DIR" 2 gauge 60
snmp_set "$ENV_DIR" 6 gauge 60
prio3() { [ "$(q "SELECT string_agg(priority::text, ',') FROM incidents WHERE host IN ('drop', 'hand')
    AND resolved_at IS NULL")" = 3,3 ]; }
tap_check "warning: the incidents fall to P3" wait_until 10 prio3
itsmd_stop 15
tap_check "SIGTERM exits 0" test $? = 0
itsmd_start "$CONF"
wait_until 10 log_has "postgres: connected"
sleep 2
for i in 2 3 4 5; do snmp_set "$ENV_DIR" $i gauge 10; done
tap_check "after a restart, a P3 resolve still follows the P2 open that was sent" \
    wait_until 10 host_events_are p2 drop "open resolve"
HID=$(q "SELECT id FROM incidents WHERE host = 'hand' AND resolved_at IS NULL")
"$BUILD/itsmctl" -d "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres" \
    incident resolve "${HID:-0}" -u dave "replaced" >/dev/null
tap_check "... and so does a resolve by hand (itsmctl)" \
    wait_until 10 host_events_are p2 hand "open resolve"
tap_check "the router's resolve is told" wait_until 10 host_events_are good router "open resolve"
tap_check "picky (min-priority 1) got nothing at all" test ! -s "$ENV_DIR/picky.jsonl"
tap_check "the child and the maintenance check never notified anyone" \
    eval "silent_on child && silent_on maint"
tap_check "a receiver for checks \"v\" got the opens of drop, hand and router, nothing of load" \
    test "$(events cat)" = "open open open"
itsmd_stop 15
tap_check "SIGTERM exits 0" test $? = 0
tap_done
