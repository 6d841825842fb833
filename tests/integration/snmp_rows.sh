#!/usr/bin/env bash
# snmp_rows.sh: against a real snmpd.  Table rows come and go between
# rediscovery intervals (a pass_persist script serves a table whose rows
# are lines of a file): a new row is picked up at the next rediscovery and
# a removed one stops.  The shipped cpu and load templates (UCD-SNMP-MIB)
# give what the machine says: CPU ticks as rates that add up to 100 per
# second per core, load averages as /proc/loadavg has them.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

PORT=$(free_port udp)
SD=$ENV_DIR/agent
mkdir -p "$SD/persist"
env_rundir "$SD"
# pass_persist: .1.3.6.1.4.1.99998.1.C.IDX, C 1 = name, 2 = value, one row
# per line "IDX NAME VALUE" of $SD/rows, read at every request.
cat >"$SD/rows.py" <<'PY'
import sys
BASE = [1, 3, 6, 1, 4, 1, 99998, 1]
def table():
    t = {}
    try:
        for line in open(sys.argv[1]):
            idx, name, value = line.split()
            t[tuple(BASE + [1, int(idx)])] = ("string", name)
            t[tuple(BASE + [2, int(idx)])] = ("gauge", value)
    except (OSError, ValueError):
        pass
    return t
def key(o): return tuple(int(x) for x in o.strip(".").split("."))
def show(o, v): return "." + ".".join(map(str, o)) + "\n" + v[0] + "\n" + v[1]
while True:
    l = sys.stdin.readline()
    if not l:
        break
    l = l.strip()
    if l == "PING":
        print("PONG", flush=True)
    elif l in ("get", "getnext"):
        o, t = key(sys.stdin.readline()), table()
        if l == "get":
            print(show(o, t[o]) if o in t else "NONE", flush=True)
        else:
            after = sorted(k for k in t if k > o)
            print(show(after[0], t[after[0]]) if after else "NONE", flush=True)
    elif l == "set":
        sys.stdin.readline(); sys.stdin.readline()
        print("not-writable", flush=True)
    else:
        print("NONE", flush=True)
PY
printf '1 alpha 11\n2 bravo 22\n' >"$SD/rows"
cat >"$SD/snmpd.conf" <<EOF
agentAddress udp:127.0.0.1:$PORT
rocommunity public 127.0.0.1
pass_persist .1.3.6.1.4.1.99998 /usr/bin/python3 $SD/rows.py $SD/rows
EOF
MIBS= SNMP_PERSISTENT_DIR=$SD/persist snmpd -f -Lo -C -c "$SD/snmpd.conf" \
    -p "$SD/run/snmpd.pid" >"$SD/snmpd.log" 2>&1 </dev/null &
SNMPD_PID=$!
env_record $SNMPD_PID snmpd
agent_up() { env_snmpget "$PORT" .1.3.6.1.4.1.99998.1.1.2 | grep -q bravo; }
env_wait_for 10 $SNMPD_PID agent_up || { tap_fail "environment: snmpd with the rows script"; exit 1; }
env_db

CONF=$ENV_DIR/itsmd.conf
cat >"$CONF" <<EOF
database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
rrd-dir "$ENV_DIR/rrd"
interval 1s
timeout 800ms
include "$ENV_ROOT/conf/templates/snmp.conf"
template "rows" {
	probe "rows" snmp {
		label .1.3.6.1.4.1.99998.1.1
		column value .1.3.6.1.4.1.99998.1.2 gauge
		rediscover 4s
	}
}
host "dev" { address 127.0.0.1; snmp-port $PORT; community public; use "rows"; use "cpu"; use "load" }
EOF
itsmd_start "$CONF"
R=$ENV_DIR/rrd/dev/rows
last() {	# last ROW: the row's latest stored value and its time
	rrdtool lastupdate "$R/$1/value.rrd" 2>/dev/null | awk -F': ' 'NR == 3 { print $1, $2 }'
}
both() { [ -f "$R/alpha/value.rrd" ] && [ -f "$R/bravo/value.rrd" ]; }
wait_until 10 both
tap_check "the table's two rows are discovered and stored" both

# A third row appears: the walk every 4 s finds it, not before.
sleep 1
printf '1 alpha 11\n2 bravo 22\n3 charlie 33\n' >"$SD/rows.tmp" && mv "$SD/rows.tmp" "$SD/rows"
T_ADD=${EPOCHREALTIME/./}
charlie() { [ "$(last charlie | awk '{ print $2 + 0 }')" = 33 ]; }
if wait_until 8 charlie; then
	s=$(( (${EPOCHREALTIME/./} - T_ADD) / 1000 ))
	tap_check "a row added on the device is polled after the next rediscovery (${s} ms, rediscover 4s)" \
	    test "$s" -le 6500
else
	tap_fail "a row added on the device is polled after the next rediscovery" "$(ls "$R")"
fi

tap_check "the rediscovery says what it found" \
    log_has "dev/rows: rediscovery: 1 new row \(charlie\), 0 gone"

# bravo leaves: its columns vanish, so it stops at once and the walk that
# follows drops it.
printf '1 alpha 11\n3 charlie 33\n' >"$SD/rows.tmp" && mv "$SD/rows.tmp" "$SD/rows"
T_DEL=$(date +%s)
forgotten() { log_has "dev/rows: rediscovery: 0 new rows, 1 gone \(bravo\)"; }
tap_check "a row removed from the device is dropped by the next walk" wait_until 6 forgotten
sleep 3
t_b=$(last bravo | awk '{ print $1 }')
t_a=$(last alpha | awk '{ print $1 }')
tap_check "the removed row stores nothing more while the others go on (bravo $((t_b - T_DEL)) s, alpha $((t_a - T_DEL)) s after the removal)" \
    test "$t_b" -le "$((T_DEL + 1))" -a "$t_a" -ge "$((T_DEL + 2))"
tap_check "no value of a kept row went missing" sh -c "! grep -E 'dev/rows\[(alpha|charlie)\]: (critical|unknown)' '$ITSMD_LOG'"

# cpu: UCD-SNMP-MIB ssCpuRaw* are tick counters (USER_HZ 100 per core);
# user + system + idle + wait per second is close to 100 x cores.  A fresh
# snmpd answers 0 until its first read of /proc/stat, and that first jump
# gives no rate, so wait until every metric has rates in the window.
cores=$(nproc)
cpu_sum() {
	local m v
	sum=0
	for m in user system idle wait; do
		v=$(rrdtool fetch "$ENV_DIR/rrd/dev/cpu/$m.rrd" AVERAGE -r 1 -s -6 -e -2 2>/dev/null |
		    awk -F': ' 'NR > 2 && $2 !~ /nan/ { s += $2; n++ } END { if (n) printf "%.1f", s / n }')
		[ -n "$v" ] || return 1
		sum=$(python3 -c "print($sum + $v)")
	done
	python3 -c "import sys; sys.exit(not (70 * $cores <= $sum <= 130 * $cores))"
}
tap_check "cpu template: ticks per second add up to about 100 x $cores cores" wait_until 20 cpu_sum
# snmpd refreshes these counters every 5 s, so a 1 s rate may hold 5 s of
# ticks (up to 500 x cores); the total since boot read as one second's
# rate (the spike of a counter leaving 0) is hundreds of times more.
cpu_no_spike() {
	local m
	for m in user system idle wait; do
		rrdtool fetch "$ENV_DIR/rrd/dev/cpu/$m.rrd" MAX -s -10min 2>/dev/null |
		    awk -F': ' -v lim=$((600 * cores)) 'NR > 2 && $2 !~ /nan/ && $2 + 0 > lim { bad = 1 }
			END { exit bad }' || return 1
	done
}
tap_check "cpu template: no stored tick rate above 600 x $cores (no spike when snmpd's counters leave 0)" \
    cpu_no_spike
read -r l1 l5 _ </proc/loadavg
got=$(rrdtool lastupdate "$ENV_DIR/rrd/dev/load/load1.rrd" 2>/dev/null | awk -F': ' 'NR == 3 { print $2 }')
tap_check "load template: load1 is the machine's ($got stored, /proc/loadavg says $l1)" \
    python3 -c "import sys; g, p = float('${got:-nan}'), $l1; sys.exit(not abs(g - p) <= 0.5 + 0.3 * p)"
l5got=$(rrdtool lastupdate "$ENV_DIR/rrd/dev/load/load5.rrd" 2>/dev/null | awk -F': ' 'NR == 3 { print $2 }')
tap_check "load template: load5 is stored as a number ($l5got; /proc/loadavg says $l5)" \
    python3 -c "import math, sys; sys.exit(not math.isfinite(float('${l5got:-nan}')))"
itsmd_stop
tap_check "itsmd stops cleanly" test $? = 0
tap_done
