#!/usr/bin/env bash
# tcp_probe.sh: the tcp probe against a real listener, a closed port, a
# server that greets with a banner and one that never speaks.  Asserted:
# the state line in the log with its reason, the connect time in the RRD
# file, the incident rows in PostgreSQL.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_db
OPEN=$(free_port tcp)
BANNER=$(free_port tcp)
CLOSED=$(free_port tcp)	# nothing listens here
hostile_httpd_start "$ENV_DIR" "$OPEN" || { tap_fail "environment: listener"; exit 1; }
hostile_httpd_start "$ENV_DIR" "$BANNER" --banner "SSH-2.0-itsmd-test" ||
	{ tap_fail "environment: banner server"; exit 1; }

CONF=$ENV_DIR/itsmd.conf
cat >"$CONF" <<EOF
database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
rrd-dir "$ENV_DIR/rrd"
user itsmd
interval 1s
timeout 800ms
host "box" {
    address 127.0.0.1
    probe "open" tcp { port $OPEN; critical time > 1s }
    probe "closed" tcp { port $CLOSED }
    probe "ssh" tcp { port $BANNER; expect "SSH-2.0-" }
    probe "smtp" tcp { port $BANNER; expect "220 " }
    probe "silent" tcp { port $OPEN; expect "hello" }
}
host "byname" {
    address localhost
    probe "open" tcp { port $OPEN }
}
EOF
tap_check "itsmd -t accepts the tcp configuration" "$BUILD/itsmd" -t -c "$CONF"
itsmd_start "$CONF"

state_is() { log_has "$1: $2: $3"; }
expect_state() {	# expect_state HOST/CHECK SEVERITY REASON-PATTERN TEXT
	if wait_until 8 state_is "$1" "$2" "$3"; then tap_ok "$4"
	else
		tap_fail "$4" "no '$1: $2: $3' in the log"
		grep "$1:" "$ITSMD_LOG" | tail -n 2 | sed 's/^/#   /'
	fi
}
expect_state box/closed critical "connect to 127\.0\.0\.1:$CLOSED: Connection refused" \
    "closed port: critical, connection refused"
expect_state box/smtp critical "no \"220 \" from 127\.0\.0\.1:$BANNER in 800 ms \(20 bytes read\)" \
    "wrong banner: critical once the timeout is spent, naming what was read"
expect_state box/silent critical "no \"hello\" from 127\.0\.0\.1:$OPEN in 800 ms \(0 bytes read\)" \
    "silent server: times out waiting for the banner"

lastval() {
	rrdtool lastupdate "$ENV_DIR/rrd/$1/$2.rrd" 2>/dev/null | awk -F': ' 'NF == 2 { v = $2 } END { print v }'
}
connect_time_ok() {	# a real, small, positive connect time
	awk -v v="$(lastval box/open time)" 'BEGIN { exit !(v != "" && v > 0 && v < 0.5) }'
}
tap_check "open port: connect time stored in box/open/time.rrd" wait_until 5 connect_time_ok
banner_ok() {
	awk -v v="$(lastval box/ssh response)" 'BEGIN { exit !(v != "" && v > 0 && v < 0.5) }'
}
tap_check "banner expected and seen: response time stored" wait_until 5 banner_ok
tap_check "a host given by name is resolved without blocking (localhost)" wait_until 5 test -s "$ENV_DIR/rrd/byname/open/time.rrd"
for c in box/open box/ssh byname/open; do
	tap_check "$c: no state change (it is up)" bash -c "! grep -qE '$c: (critical|warning|unknown)' '$ITSMD_LOG'"
done
closed_row() {
	q "SELECT summary FROM incidents WHERE host = 'box' AND check_name = 'closed' AND resolved_at IS NULL" |
	    grep -q "Connection refused"
}
tap_check "closed port: an open incident row saying connection refused" wait_until 5 closed_row
itsmd_stop 15
tap_check "itsmd stops cleanly (exit 0)" test $? = 0
tap_done
