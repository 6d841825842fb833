#!/usr/bin/env bash
# snmp_pack.sh: many OIDs per host against scripted agents (env/snmp_agent.py).
# An agent that answers tooBig above 8 varbinds still gives every one of a
# probe's 40 values (requests halved until they fit), and the per-agent
# in-flight limit holds: six probes of two hosts sharing one slow agent
# (it answers after 200 ms) with snmp-max-inflight 2 never have more than 2
# requests out at once; the rest wait in turn, and every run still ends on
# time with its value.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_db
LIVE_PORT=$(free_port udp)
python3 "$ENV_BIN/snmp_agent.py" "$LIVE_PORT" "$ENV_DIR/live.log" --max-varbinds 8 \
    </dev/null >/dev/null 2>&1 &
env_record $! "agent answering tooBig above 8 varbinds"
SLOW_PORT=$(free_port udp)
python3 "$ENV_BIN/snmp_agent.py" "$SLOW_PORT" "$ENV_DIR/slow.log" --delay 0.2 \
    </dev/null >/dev/null 2>&1 &
env_record $! "agent answering after 200 ms"
agent_up() { env_snmpget "$LIVE_PORT" .1.3.6.1.4.1.99999.4 | grep -q "Gauge32: 40"; }
wait_until 10 agent_up || { tap_fail "environment: scripted agent"; exit 1; }
API_PORT=$(free_port tcp)

CONF=$ENV_DIR/itsmd.conf
{
	echo "database \"dbname=itsmd host=$PGHOST port=$PGPORT user=postgres\""
	echo "rrd-dir \"$ENV_DIR/rrd\""
	echo "listen 127.0.0.1:$API_PORT"
	echo "interval 1s"
	echo "timeout 800ms"
	echo "host \"many\" { address 127.0.0.1; snmp-port $LIVE_PORT; community public"
	echo "  snmp-retries 0; snmp-max-inflight 1"
	echo "  probe \"p\" snmp {"
	for i in $(seq 1 40); do echo "    oid v$i .1.3.6.1.4.1.99999.$i"; done
	echo "  }"
	echo "}"
	# two hosts, one agent: six probes share its two slots
	for h in busy twin; do
		echo "host \"$h\" { address 127.0.0.1; snmp-port $SLOW_PORT; community public"
		echo "  snmp-retries 0; snmp-max-inflight 2"
		n=4; [ $h = twin ] && n=2
		for i in $(seq 1 $n); do
			echo "  probe \"b$i\" snmp { oid .1.3.6.1.4.1.99999.$i }"
		done
		echo "}"
	done
} >"$CONF"
itsmd_start "$CONF"
T0=$(date +%s)
all_stored() { [ -f "$ENV_DIR/rrd/many/p/v40.rrd" ]; }
wait_until 10 all_stored
sleep $((T0 + 8 - $(date +%s)))

wrong=""
for i in $(seq 1 40); do
	v=$(rrdtool lastupdate "$ENV_DIR/rrd/many/p/v$i.rrd" 2>/dev/null | awk -F': ' 'NR==3 { print $2 }')
	[ "${v%%.*}" = $((10 * i)) ] || [ "$v" = "$((10 * i)).0000000000e+00" ] ||
	    python3 -c "import sys; sys.exit(float('$v') != $((10 * i)))" 2>/dev/null ||
	    wrong="$wrong v$i=$v"
done
if [ -z "$wrong" ]; then tap_ok "all 40 values of one probe stored despite tooBig above 8 varbinds"
else tap_fail "all 40 values of one probe stored despite tooBig above 8 varbinds" "$wrong"; fi
tap_check "the agent was asked for more than 8 varbinds at first (and said tooBig)" \
    awk '$3 > 8 { f = 1 } END { exit !f }' "$ENV_DIR/live.log"
tap_check "from the second second on, every request fits (8 varbinds or fewer)" \
    awk -v t=$((T0 + 2)) '$1 >= t && $3 > 8 { bad = 1 } END { exit bad }' "$ENV_DIR/live.log"
tap_check "no value of the probe failed" sh -c "! grep -E 'many/p: (critical|unknown)' '$ITSMD_LOG'"

# What reached the slow agent, seconds 2 to 8: each request is out for
# 200 ms, so at most 2 may arrive in any 0.18 s, yet the six probes' 6 a
# second all get through (1.2 s of agent time per second: the 2 slots are
# shared, not idle).
cat >"$ENV_DIR/window.py" <<'PY'
import sys
t0, t1 = float(sys.argv[2]), float(sys.argv[3])
ts = sorted(float(l.split()[0]) for l in open(sys.argv[1]) if t0 <= float(l.split()[0]) < t1)
most = max((sum(1 for u in ts if t <= u < t + 0.18) for t in ts), default=0)
print(len(ts), most)
PY
read -r total most < <(python3 "$ENV_DIR/window.py" "$ENV_DIR/slow.log" $((T0 + 2)) $((T0 + 8)))
tap_check "never more than 2 requests out to the shared agent (most arriving in 0.18 s: $most)" \
    test "${most:-99}" -le 2
tap_check "every probe's request gets through in turn: $total in 6 s (6/s due)" \
    test "${total:-0}" -ge 33
tap_check "no run of the six probes failed while waiting for a slot" \
    sh -c "! grep -E '(busy|twin)/b[0-9]: (critical|unknown)' '$ITSMD_LOG'"
curl -s --max-time 5 "http://127.0.0.1:$API_PORT/status" >"$ENV_DIR/status.txt"
tap_check "/status lists every check with its runs" \
    test "$(grep -cE '^(many/p|busy/b[1-4]|twin/b[12]) runs=[1-9]' "$ENV_DIR/status.txt")" = 7
tap_check "no overrun anywhere (log and /status)" \
    sh -c "! grep -q overrun '$ITSMD_LOG' && ! grep -q 'overruns=[1-9]' '$ENV_DIR/status.txt'"
itsmd_stop
tap_check "itsmd stops cleanly" test $? = 0
tap_done
