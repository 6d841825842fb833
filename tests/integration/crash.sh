#!/usr/bin/env bash
# crash.sh: itsmd is SIGKILLed at random moments, 20 times, while four
# checks change state.  After each restart the open incidents equal the
# truth; no incident is opened twice, no event is written twice, every
# timeline alternates open/resolve, and the partial unique index never fires.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

KILLS=20
env_db
env_snmpd
declare -a VAL
for i in 1 2 3 4; do VAL[$i]=10; snmp_set "$ENV_DIR" $i gauge 10; done
mkdir -p "$ENV_DIR/rrd"
chown itsmd: "$ENV_DIR/rrd"

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
	for i in 1 2 3 4; do
		cat <<-EOF
		    probe "c$i" snmp {
		        oid value .1.3.6.1.4.1.99999.$i
		        interval 1s
		        critical > 90
		    }
		EOF
	done
	echo "}"
} >"$CONF"

truth() {
	local i s=""
	for i in 1 2 3 4; do [ "${VAL[$i]}" -gt 90 ] && s="$s${s:+ }c$i"; done
	printf '%s' "$s"
}
open_set() { q "SELECT coalesce(string_agg(check_name, ' ' ORDER BY check_name), '')
	FROM incidents WHERE resolved_at IS NULL"; }
open_is_truth() { [ "$(open_set)" = "$(truth)" ]; }

RANDOM=4242		# the same "random" run every time, so a failure can be replayed
mismatch=0
itsmd_start "$CONF"
wait_until 10 log_has "postgres: connected"
for k in $(seq 1 $KILLS); do
	# flip one or two checks, then kill after a random 0-1.5 s
	for n in $(seq 1 $((RANDOM % 2 + 1))); do
		i=$((RANDOM % 4 + 1))
		if [ "${VAL[$i]}" -gt 90 ]; then VAL[$i]=10; else VAL[$i]=95; fi
		snmp_set "$ENV_DIR" $i gauge ${VAL[$i]}
	done
	sleep "$((RANDOM % 16 / 10)).$((RANDOM % 10))"
	kill -KILL "$ITSMD_PID"
	wait "$ITSMD_PID" 2>/dev/null
	env_forget "$ITSMD_PID"
	ITSMD_PID=
	itsmd_start "$CONF" >/dev/null 2>&1
	if ! wait_until 8 open_is_truth; then
		mismatch=$((mismatch + 1))
		echo "# after kill $k: open '$(open_set)', truth '$(truth)'"
	fi
done
if [ $mismatch = 0 ]; then tap_ok "after each of $KILLS restarts the open incidents equal the truth"
else tap_fail "after each of $KILLS restarts the open incidents equal the truth" "$mismatch mismatches"; fi

tap_check "no check has two open incidents" test "$(q "SELECT count(*) FROM (SELECT 1
	FROM incidents WHERE resolved_at IS NULL GROUP BY host, check_name HAVING count(*) > 1) d")" = 0
tap_check "no event written twice" test "$(q "SELECT count(*) FROM (SELECT 1 FROM incident_events
	GROUP BY incident_id, kind, at, new_value HAVING count(*) > 1) d")" = 0
# opened/reopened and resolved must alternate in every timeline, starting open
bad=$(q "SELECT count(*) FROM (SELECT kind, lag(kind) OVER (PARTITION BY incident_id
	ORDER BY at, id) AS prev FROM incident_events
	WHERE kind IN ('opened', 'reopened', 'resolved')) e
	WHERE (kind = 'resolved') = (coalesce(prev, 'resolved') = 'resolved')")
tap_check "every timeline alternates open and resolve" test "$bad" = 0
if log_has "unique|duplicate key|statement failed"; then
	tap_fail "no unique violation or failed statement in the log" \
	    "$(grep -m1 -E "unique|duplicate key|statement failed" "$ITSMD_LOG")"
else
	tap_ok "no unique violation or failed statement in the log"
fi
tap_check "incidents were really opened and resolved" \
	test "$(q "SELECT count(*) FROM incident_events WHERE kind = 'resolved'")" -ge 3
itsmd_stop 15
tap_check "SIGTERM exits 0" test $? = 0
tap_done
