#!/usr/bin/env bash
# snmp.sh: SNMP polling benchmark, itsmd against collectd 5.12 on the same
# workload in the same run (method: /work/shared/peer-baseline.md).  Run by
# hand as root, never by `make test`:
#
#	tests/bench/snmp.sh			# defaults below
#	H=2000 M=10 I=10 WINDOW=60 tests/bench/snmp.sh
#
# H hosts x M scalar OIDs every I seconds; SILENT percent of the hosts point
# at a UDP port that drops every packet; the rest are spread over AGENTS
# snmpd instances on 127.0.0.1.  Both pollers write through one rrdcached.
# For each: values stored per second (rrdcached UpdatesReceived, and values
# the agents answered: snmpInTotalReqVars), CPU of the poller alone (utime +
# stime from /proc over WINDOW s after WARMUP s), CPU of the agents and of
# rrdcached, missed values and overruns for real and silent hosts, and RSS.
#
# Disk: both keep one archive of RRD_SPAN seconds (default 3600) at full
# resolution (itsmd: a global `rrd { }` layout; collectd: RRATimespan), so
# H x M files of about 8 B x RRD_SPAN / I must fit; their creation is part
# of the warm-up.  The simulated hosts share a few agents, so itsmd's
# per-agent in-flight limit is raised (INFLIGHT) to what a real fleet of
# distinct devices would have.  PEER=none skips collectd; PERF=1 records a
# perf profile of itsmd over the window (report in the output; PERF_OUT=FILE
# keeps perf.data).
set -u
. "$(dirname "$0")/../env/lib.sh"

H=${H:-1000}
M=${M:-10}
I=${I:-10}
SILENT=${SILENT:-10}
AGENTS=${AGENTS:-2}
WARMUP=${WARMUP:-40}
WINDOW=${WINDOW:-60}
TIMEOUT=${TIMEOUT:-1}		# seconds, both pollers
RETRIES=${RETRIES:-1}
RRD_SPAN=${RRD_SPAN:-3600}
INFLIGHT=${INFLIGHT:-1000}
PEER=${PEER:-collectd}
PERF=${PERF:-0}
[ "$(id -u)" = 0 ] || { echo "snmp.sh: run as root (services run as other users)" >&2; exit 1; }
[ "$M" -le 15 ] || { echo "snmp.sh: M is at most 15" >&2; exit 1; }
if ! command -v collectd >/dev/null; then
	echo "# installing collectd-core (the peer)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	    collectd-core >/dev/null || { echo "snmp.sh: cannot install collectd-core" >&2; exit 1; }
fi
[ -x "$BUILD/itsmd" ] || { echo "snmp.sh: build itsmd first (make)" >&2; exit 1; }
ulimit -n 65536 2>/dev/null

env_init
NSILENT=$(( H * SILENT / 100 ))
NREAL=$(( H - NSILENT ))
# Scalars every snmpd serves cheaply, none a counter (so itsmd adds no
# sysUpTime to its PDUs and both pollers ask exactly the same values).
ALL=(1.3.6.1.2.1.2.2.1.1.1 1.3.6.1.2.1.2.2.1.3.1 1.3.6.1.2.1.2.2.1.4.1 1.3.6.1.2.1.2.2.1.5.1
    1.3.6.1.2.1.2.2.1.7.1 1.3.6.1.2.1.2.2.1.8.1 1.3.6.1.2.1.2.2.1.9.1 1.3.6.1.2.1.2.1.0
    1.3.6.1.2.1.1.7.0 1.3.6.1.2.1.4.1.0 1.3.6.1.2.1.4.2.0 1.3.6.1.2.1.6.1.0
    1.3.6.1.2.1.6.2.0 1.3.6.1.2.1.6.3.0 1.3.6.1.2.1.6.4.0)
OIDS=("${ALL[@]:0:M}")

# ---------------------------------------------------------------- agents
APORTS=() APIDS=()
for (( a = 0; a < AGENTS; a++ )); do
	d=$ENV_DIR/agent$a
	mkdir -p "$d/persist"
	p=$(free_port udp)
	printf 'agentAddress udp:127.0.0.1:%s\nrocommunity public 127.0.0.1\n' "$p" >"$d/snmpd.conf"
	MIBS= SNMP_PERSISTENT_DIR=$d/persist snmpd -f -Ln -C -c "$d/snmpd.conf" \
	    -p "$d/pid" </dev/null >/dev/null 2>&1 &
	APIDS+=($!)
	env_record $! "snmpd $a"
	APORTS+=("$p")
done
for p in "${APORTS[@]}"; do
	wait_until 10 env_snmpget "$p" .1.3.6.1.2.1.1.3.0 || { echo "snmpd on $p did not start" >&2; exit 1; }
done
SILENT_PORT=$(free_port udp)
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    s.recvfrom(65535)
' "$SILENT_PORT" </dev/null >/dev/null 2>&1 &
env_record $! "silent port"
rrdcached_start "$ENV_DIR" || exit 1
pg_start "$ENV_DIR" || exit 1
ITSMD_SCHEMADIR=$ENV_ROOT/schema "$BUILD/itsmctl" -d "dbname=itsmd" db migrate >/dev/null || exit 1

# ---------------------------------------------------------------- probes
cpu_ticks() {	# cpu_ticks PID...: utime + stime, all threads, in clock ticks
	local t=0 p
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] || continue
		t=$(( t + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat") ))
	done
	echo $t
}
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
rrdc_updates() {
	python3 - "$RRDCACHED_SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"STATS\n")
buf = b""
while True:
    buf += s.recv(65536)
    lines = buf.decode().split("\n")
    if lines and lines[0] and len(lines) > int(lines[0].split()[0]):
        break
print(next(l.split(":")[1].strip() for l in lines if l.startswith("UpdatesReceived")))
PY
}
agent_vars() {	# values the agents answered so far (snmpInTotalReqVars)
	local n=0 p v
	for p in "${APORTS[@]}"; do
		v=$(env_snmpget "$p" .1.3.6.1.2.1.11.13.0 | awk '{ print $NF }')
		n=$(( n + ${v:-0} ))
	done
	echo $n
}
HZ=$(getconf CLK_TCK)
# measure NAME PID LOG: WINDOW s of figures after WARMUP s; sets R_* for the table.
measure() {
	local name=$1 pid=$2 log=$3 t0 t1 u0 u1 v0 v1 c0 c1 a0 a1 r0 r1 o0 o1 s0 s1
	sleep "$WARMUP"
	if ! env_alive "$RRDCACHED_PID" || ! env_alive "$pid"; then
		echo "snmp.sh: rrdcached or $name died during the warm-up" >&2
		tail -n 5 "$ENV_DIR/rrdcached.log" "$log" >&2
		exit 1
	fi
	t0=${EPOCHREALTIME/./}; u0=$(rrdc_updates); v0=$(agent_vars)
	c0=$(cpu_ticks "$pid"); a0=$(cpu_ticks "${APIDS[@]}"); r0=$(cpu_ticks "$RRDCACHED_PID")
	o0=$(grep -c "overrun" "$log"); s0=$(grep -cE "silent[0-9]+.*overrun" "$log")
	if [ "$PERF" = 1 ] && [ "$name" = itsmd ]; then
		perf record -q -g -p "$pid" -o "$ENV_DIR/perf.data" -- sleep "$WINDOW" \
		    >/dev/null 2>&1
	else
		sleep "$WINDOW"
	fi
	t1=${EPOCHREALTIME/./}; u1=$(rrdc_updates); v1=$(agent_vars)
	c1=$(cpu_ticks "$pid"); a1=$(cpu_ticks "${APIDS[@]}"); r1=$(cpu_ticks "$RRDCACHED_PID")
	o1=$(grep -c "overrun" "$log"); s1=$(grep -cE "silent[0-9]+.*overrun" "$log")
	python3 - "$name" "$t0" "$t1" "$u0" "$u1" "$v0" "$v1" "$c0" "$c1" "$a0" "$a1" "$r0" "$r1" \
	    "$((o1 - o0 - (s1 - s0)))" "$((s1 - s0))" "$(rss_kib "$pid")" "$HZ" "$NREAL" "$NSILENT" \
	    "$M" "$I" >>"$ENV_DIR/results" <<'PY'
import sys
(name, t0, t1, u0, u1, v0, v1, c0, c1, a0, a1, r0, r1, ov_real, ov_silent, rss, hz,
 nreal, nsilent, m, i) = sys.argv[1:]
secs = (int(t1) - int(t0)) / 1e6
hz = int(hz)
upd = (int(u1) - int(u0)) / secs
ans = (int(v1) - int(v0)) / secs
exp_real = int(nreal) * int(m) / int(i)
cpu = (int(c1) - int(c0)) / hz / secs
print("\t".join(str(x) for x in (name, f"{upd:.0f}", f"{ans:.0f}", f"{exp_real:.0f}",
      f"{100 * max(0, exp_real - ans) / exp_real:.1f}",
      f"{cpu * 1e6 / max(min(ans, exp_real), 1):.2f}", f"{100 * cpu:.1f}",
      f"{100 * (int(a1) - int(a0)) / hz / secs:.1f}",
      f"{100 * (int(r1) - int(r0)) / hz / secs:.1f}",
      ov_real, ov_silent, rss,
      f"{int(rss) * 1024 / ((int(nreal) + int(nsilent)) * int(m)):.0f}")))
PY
}

# ---------------------------------------------------------------- itsmd
mkdir -p "$ENV_DIR/rrd/itsmd" && chown itsmd: "$ENV_DIR/rrd/itsmd"
CONF=$ENV_DIR/itsmd.conf
{
	echo "database \"dbname=itsmd host=$PGHOST port=$PGPORT user=postgres\""
	echo "rrd-dir \"$ENV_DIR/rrd/itsmd\""
	echo "rrdcached \"unix:$RRDCACHED_SOCK\""
	echo "log-level warning"
	echo "interval ${I}s"
	echo "timeout ${TIMEOUT}s"
	echo "rrd { archive ${RRD_SPAN}s@step; consolidate average }"
	echo "template \"bench\" { probe \"p\" snmp {"
	for (( k = 0; k < M; k++ )); do echo "  oid v$k ${OIDS[k]}"; done
	echo "} }"
	for (( h = 0; h < NREAL; h++ )); do
		echo "host \"real$h\" { address 127.0.0.1; snmp-port ${APORTS[h % AGENTS]}; community public; snmp-retries $RETRIES; snmp-max-inflight $INFLIGHT; use \"bench\" }"
	done
	for (( h = 0; h < NSILENT; h++ )); do
		echo "host \"silent$h\" { address 127.0.0.1; snmp-port $SILENT_PORT; community public; snmp-retries $RETRIES; snmp-max-inflight $INFLIGHT; use \"bench\" }"
	done
} >"$CONF"
echo "# itsmd: $H hosts ($NSILENT silent) x $M OIDs every ${I}s; warm-up ${WARMUP}s, window ${WINDOW}s" >&2
ITSMD_LOG=$ENV_DIR/itsmd.log
itsmd_start "$CONF"
measure itsmd "$ITSMD_PID" "$ITSMD_LOG"
itsmd_stop 30 >/dev/null
if [ "$PERF" = 1 ]; then
	perf report -i "$ENV_DIR/perf.data" --stdio --no-children --percent-limit 0.7 \
	    -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 45 >"$ENV_DIR/perf.txt"
	[ -n "${PERF_OUT:-}" ] && cp "$ENV_DIR/perf.data" "$PERF_OUT"
fi
if [ "$PEER" = collectd ]; then

# ---------------------------------------------------------------- collectd
mkdir -p "$ENV_DIR/rrd/collectd" && chown itsmd: "$ENV_DIR/rrd/collectd"
# A silent host holds a read thread for Timeout x (Retries + 1): enough
# threads that real hosts never wait (peer-baseline.md), plus a margin.
THREADS=$(( NSILENT * TIMEOUT * (RETRIES + 1) / I + 2 * (NREAL / I / 50 + 5) ))
CCONF=$ENV_DIR/collectd.conf
{
	echo "Hostname \"bench\""
	echo "FQDNLookup false"
	echo "Interval $I"
	echo "MaxReadInterval $I"
	echo "ReadThreads $THREADS"
	echo "WriteThreads 4"
	echo "LoadPlugin logfile"
	echo "<Plugin logfile>"
	echo "  LogLevel warning"
	echo "  File \"$ENV_DIR/collectd.log\""
	echo "</Plugin>"
	echo "LoadPlugin snmp"
	echo "LoadPlugin rrdcached"
	echo "<Plugin rrdcached>"
	echo "  DaemonAddress \"unix:$RRDCACHED_SOCK\""
	echo "  DataDir \"$ENV_DIR/rrd/collectd\""
	echo "  CreateFiles true"
	echo "  RRATimespan $RRD_SPAN"
	echo "</Plugin>"
	echo "<Plugin snmp>"
	for (( k = 0; k < M; k++ )); do
		echo "  <Data \"v$k\">"
		echo "    Type \"gauge\""
		echo "    Table false"
		echo "    Instance \"v$k\""
		echo "    Values \"${OIDS[k]}\""
		echo "  </Data>"
	done
	host_block() {	# host_block NAME PORT
		echo "  <Host \"$1\">"
		echo "    Address \"127.0.0.1:$2\""
		echo "    Version 2"
		echo "    Community \"public\""
		echo -n "    Collect"
		for (( k = 0; k < M; k++ )); do echo -n " \"v$k\""; done
		echo
		echo "    Interval $I"
		echo "    Timeout $TIMEOUT"
		echo "    Retries $RETRIES"
		echo "  </Host>"
	}
	for (( h = 0; h < NREAL; h++ )); do host_block "real$h" "${APORTS[h % AGENTS]}"; done
	for (( h = 0; h < NSILENT; h++ )); do host_block "silent$h" "$SILENT_PORT"; done
	echo "</Plugin>"
} >"$CCONF"
echo "# collectd $(collectd -h 2>/dev/null | awk '/^collectd/ { print $2; exit }'): same workload, ReadThreads $THREADS" >&2
collectd -f -C "$CCONF" </dev/null >"$ENV_DIR/collectd.out" 2>&1 &
CPID=$!
env_record $CPID collectd
: >"$ENV_DIR/collectd.log"
measure collectd "$CPID" "$ENV_DIR/collectd.log"
kill -TERM $CPID 2>/dev/null
env_wait_gone 20 $CPID
fi

# ---------------------------------------------------------------- report
echo
echo "SNMP benchmark: $H hosts ($NSILENT silent) x $M OIDs every ${I}s, $AGENTS snmpd, $(nproc) cores, window ${WINDOW}s"
printf '%-9s %10s %10s %10s %8s %9s %8s %8s %8s %8s %8s %9s %9s\n' poller \
    "stored/s" "answered/s" "expected/s" "missed%" "µs/value" "cpu%" "agents%" "rrdc%" \
    "ovr-real" "ovr-sil" "RSS KiB" "B/item"
while IFS=$'\t' read -r n a b c d e f g hh ii jj kk ll; do
	printf '%-9s %10s %10s %10s %8s %9s %8s %8s %8s %8s %8s %9s %9s\n' "$n" "$a" "$b" "$c" \
	    "$d" "$e" "$f" "$g" "$hh" "$ii" "$jj" "$kk" "$ll"
done <"$ENV_DIR/results"
python3 - "$ENV_DIR/results" <<'PY'
import sys
r = {l.split("\t")[0]: l.rstrip("\n").split("\t") for l in open(sys.argv[1])}
if "itsmd" in r and "collectd" in r:
    i, c = float(r["itsmd"][5]), float(r["collectd"][5])
    print(f"CPU per value: itsmd {i:.2f} µs, collectd {c:.2f} µs: itsmd uses {i / c:.2f} of "
          f"collectd's ({c / i:.1f}x less)")
    ai, ac = float(r["itsmd"][2]), float(r["collectd"][2])
    print(f"values answered/s: itsmd {ai:.0f}, collectd {ac:.0f} (ratio {ai / max(ac, 1):.2f})")
    ag = float(r["itsmd"][7]) / 100
    if ai > 0 and ag > 0:
        print(f"agents: {ag * 1e6 / ai:.1f} µs of agent CPU per value answered: "
              f"their ceiling is about {ai / ag:.0f} values/s per core")
PY
[ -s "$ENV_DIR/perf.txt" ] && { echo "itsmd profile over the window (self time):"; cat "$ENV_DIR/perf.txt"; }
echo "(stored/s: rrdcached updates, itsmd's U updates for silent hosts included; answered/s:"
echo " values the agents served (snmpInTotalReqVars); missed%: answered vs the real hosts' due"
echo " values; µs/value: poller CPU per value answered; ovr-real/ovr-sil: itsmd overrun log lines"
echo " for real and silent hosts in the window (collectd logs none: see missed%))"
