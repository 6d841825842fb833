#!/usr/bin/env bash
# rrd.sh: RRD writes at 10,000 and 100,000 files, each updated once a minute
# (100,000 files = 1,667 updates/s), itsmd's writer (rrd_writer.c) against
# collectd 5.12 on the same update stream in the same run:
#   thread     itsmd's writer thread, librrd       collectd's rrdtool plugin
#              (both by default: a librrd call per update)
#   delay      the same, holding a file's updates  the same, CacheTimeout DELAY
#              DELAY s (rrd-write-delay DELAY)
#   rrdcached  itsmd's writer, BATCH to rrdcached  collectd's rrdcached plugin
# Prints updates/s, CPU per update of each daemon (and of rrdcached, which
# both feed), the ratios, itsmd's loop lag (p99 of a 10 ms timer), bytes per
# file, and the time of a one-year `itsmctl graph`.  Run by hand (never by
# make test), as root, after `make`:
#
#	tests/bench/rrd.sh [SECONDS]	# default 60 s per run, after 60 s of warm-up
#	SIZES="10000" tests/bench/rrd.sh 30
#	SIZES=100000 WINDOW=30 RUNS="thread delay" tests/bench/rrd.sh   # quick
#
# RUNS picks the pairs (default: thread delay rrdcached, plus the loop and
# receive baselines); DELAY (default 300 s) is itsmd's rrd-write-delay and
# collectd's CacheTimeout in the delay pair, whose warm-up is DELAY + PERIOD
# so both hold and write at their steady pace in the window (collectd
# writes nothing before a file's first value is DELAY old).
#
# The stream: tests/bench/rrd_bench.c, one program, calls rrdw_update() in
# process for itsmd (as check.c does), or sends the same updates at the same
# times to collectd's network plugin as binary packets (host, plugin, type
# once per packet, about 25 values per packet).  collectd's CPU thus
# includes receiving and parsing them, as itsmd's includes the driver's
# loop: a collectd run with the network plugin and no writer, and an itsmd
# run with the writer off, show each side's share outside its writer
# (context only: both are noisy on a loaded machine, so no subtraction).
# Both daemons find the same files already made (same bench layout), so
# neither is measured creating files.  rrdcached runs with -w 3600, so in
# the window it caches (its disk writes come later, for both alike).
set -u
. "$(dirname "$0")/../env/lib.sh"
[ "$(id -u)" = 0 ] || { echo "rrd.sh: run as root (services run as other users)" >&2; exit 1; }
if ! command -v collectd >/dev/null; then
	echo "# installing collectd-core (the peer)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	    collectd-core >/dev/null || { echo "rrd.sh: cannot install collectd-core" >&2; exit 1; }
fi
# Its own dir (not itsmd-test.*, which test runs may sweep), removed at the end.
BENCH_DIR=$(mktemp -d /tmp/itsmd-bench.XXXXXX)
chmod 755 "$BENCH_DIR"
env_init "$BENCH_DIR"
SECS=${WINDOW:-${1:-60}}
PERIOD=${PERIOD:-60}
SIZES=${SIZES:-"10000 100000"}
DELAY=${DELAY:-300}
RUNS=${RUNS:-"thread delay rrdcached loop receive"}
runs() { [[ " $RUNS " == *" $1 "* ]]; }
ulimit -n 65536 2>/dev/null

OBJS=$(ls "$BUILD"/daemon/*.o "$BUILD"/probes/*.o | grep -v -e /daemon/itsmd.o -e /daemon/itsmctl.o)
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$ENV_ROOT/include" \
    $(pkg-config --cflags libevent librrd) -O2 -o "$ENV_DIR/rrd_bench" \
    "$ENV_ROOT/tests/bench/rrd_bench.c" $OBJS \
    $(pkg-config --libs libevent netsnmp libcurl librrd libpq libsystemd) -levent_pthreads -lpthread -lm ||
	{ echo "rrd.sh: cannot build the driver (run make first)" >&2; exit 1; }

DIR=$ENV_DIR/rrd		# rrdcached (-B) takes only files under its base dir
# The driver runs as itsmd: rrdcached does, and the files it makes must be its.
bench() { runuser -u itsmd -- "$ENV_DIR/rrd_bench" "$@" 2>>"$ENV_DIR/bench.log"; }
fresh_dir() { rm -rf "$DIR"; mkdir -p "$DIR"; chown itsmd: "$DIR"; }
stop_pid() { kill -TERM "$1" 2>/dev/null; env_wait_gone 120 "$1" || kill -KILL "$1" 2>/dev/null; }

# collectd_start WRITER [CACHETIMEOUT]: rrdtool, rrdcached or none; sets CPID.
collectd_start() {
	local conf=$ENV_DIR/collectd.conf
	CPORT=$(free_port udp)		# now: tests running meanwhile take ports too
	{
		echo 'Hostname "bench"'
		echo 'FQDNLookup false'
		echo "Interval $PERIOD"
		echo 'LoadPlugin logfile'
		echo "<Plugin logfile>"
		echo "  LogLevel warning"
		echo "  File \"$ENV_DIR/collectd.log\""
		echo "</Plugin>"
		echo 'LoadPlugin network'
		echo "<Plugin network>"
		echo "  Listen \"127.0.0.1\" \"$CPORT\""
		echo "</Plugin>"
		case $1 in
		rrdtool)
			echo 'LoadPlugin rrdtool'
			echo "<Plugin rrdtool>"
			echo "  DataDir \"$DIR\""
			[ -n "${2:-}" ] && echo "  CacheTimeout $2"
			echo "</Plugin>" ;;
		rrdcached)
			echo 'LoadPlugin rrdcached'
			echo "<Plugin rrdcached>"
			echo "  DaemonAddress \"unix:$RRDCACHED_SOCK\""
			echo "  DataDir \"$DIR\""
			echo "  CreateFiles false"
			echo "  CollectStatistics false"
			echo "</Plugin>" ;;
		esac
	} >"$conf"
	collectd -f -C "$conf" </dev/null >>"$ENV_DIR/collectd.out" 2>&1 &
	CPID=$!
	env_record $CPID collectd
	if ! wait_until 10 sh -c "ss -lunpH | grep ':$CPORT ' | grep -q 'pid=$CPID,'" || ! env_alive $CPID; then
		echo "rrd.sh: collectd does not listen on udp $CPORT" >&2
		cat "$ENV_DIR/collectd.out" "$ENV_DIR/collectd.log" >&2
		exit 1
	fi
}

# Of 200 files spread over the set, how many have a value from the last
# period (a writer that fell behind would leave old ones)?
current() {
	local n=$1 fmt=$2 lag=${3:-0} now fresh=0
	now=$(date +%s)
	for (( i = 0; i < n; i += n / 200 )); do
		f=$(printf "$fmt" $((i / 1000)) $((i % 1000)))
		t=$(rrdtool last "$f" 2>/dev/null || echo 0)
		[ $((now - t)) -le $((PERIOD + lag + 5)) ] && fresh=$((fresh + 1))
	done
	echo "$fresh/200"
}

num() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
us() { awk -v c="$1" -v u="$2" 'BEGIN { printf "%.1f", u ? c * 1e6 / u : 0 }'; }
declare -A R T
row() {	# row FILES WHO PATH OUT [RRDCACHED_CPU_KEY] [DAEMON_CPU_KEY]
	local n=$1 who=$2 path=$3 out=$4 upd cpu rc=- tot
	upd=$(num "$out" updates)
	if [ "$who" = itsmd ]; then cpu=$(num "$out" cpu_s); else cpu=$(num "$out" "${6:-cpu_pid0}"); fi
	[ -n "${5:-}" ] && rc=$(us "$(num "$out" "$5")" "$upd")
	R[$n,$who,$path]=$(us "$cpu" "$upd")
	tot=$(awk -v a="${R[$n,$who,$path]}" -v b="$rc" 'BEGIN { printf "%.1f", a + (b == "-" ? 0 : b) }')
	T[$n,$who,$path]=$tot
	printf '%-7s %-9s %-10s %7s %8s %9s %9s %9s %13s %8s %s\n' "$n" "$who" "$path" \
	    "$(num "$out" rate)" "$(( n / PERIOD ))" "${R[$n,$who,$path]}" "$rc" "$tot" \
	    "$( [ "$who" = itsmd ] && echo "$(num "$out" lag_p99_ms) ($(num "$out" lag_max_ms))" || echo -)" \
	    "$(du -sb "$DIR" | awk -v n="$n" '{ printf "%d", $1 / n }')" "${7:-}"
}

echo "# $(date -u '+%F %T') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg), ${SECS}s windows after ${PERIOD}s of warm-up ($((DELAY + PERIOD))s for the delay pair, DELAY=${DELAY}s); collectd $(collectd -h 2>/dev/null | awk '/^collectd/ { sub(",$", "", $2); print $2; exit }')"
printf '%-7s %-9s %-10s %7s %8s %9s %9s %9s %13s %8s %s\n' files daemon path "upd/s" offered \
    "µs/upd" "rrdcached" "total" "lag p99(max)" "B/file" "check"
for n in $SIZES; do
	if runs thread; then
		# itsmd, writer thread, as by default: every update written at once
		fresh_dir
		out=$(bench "$DIR" "$n" $PERIOD "$SECS") || { tail "$ENV_DIR/bench.log" >&2; exit 1; }
		row "$n" itsmd thread "$out" "" "" "drained in $(num "$out" drain_s) s, RSS $(num "$out" rss_kib) KiB"
	fi
	if runs delay; then
		# itsmd, writer thread, rrd-write-delay DELAY
		fresh_dir
		out=$(bench -d "$DELAY" -w $((DELAY + PERIOD)) "$DIR" "$n" $PERIOD "$SECS") ||
			{ tail "$ENV_DIR/bench.log" >&2; exit 1; }
		row "$n" itsmd delay "$out" "" "" "held ones written at stop in $(num "$out" drain_s) s, RSS $(num "$out" rss_kib) KiB"
	fi
	if runs loop; then
		# the same loop and driver with the writer off: their share of the above
		out=$(bench -n -w 10 "$DIR" "$n" $PERIOD "$SECS") || { tail "$ENV_DIR/bench.log" >&2; exit 1; }
		row "$n" itsmd loop "$out" "" "" "(driver and loop only, writer off)"
	fi
	if runs thread; then
		# collectd, rrdtool plugin, as by default (CacheTimeout 0)
		fresh_dir
		collectd_start rrdtool
		out=$(bench -c "$CPORT" -p "$CPID" "$DIR" "$n" $PERIOD "$SECS") || { tail "$ENV_DIR/bench.log" >&2; exit 1; }
		sleep 2
		row "$n" collectd thread "$out" "" "" "current files $(current "$n" "$DIR/h/p-%d/gauge-m%d.rrd")"
		stop_pid "$CPID"
	fi
	if runs delay; then
		# collectd, rrdtool plugin, CacheTimeout DELAY
		fresh_dir
		collectd_start rrdtool "$DELAY"
		out=$(bench -c "$CPORT" -p "$CPID" -w $((DELAY + PERIOD)) "$DIR" "$n" $PERIOD "$SECS") ||
			{ tail "$ENV_DIR/bench.log" >&2; exit 1; }
		sleep 2
		row "$n" collectd delay "$out" "" "" "current files (within DELAY) $(current "$n" "$DIR/h/p-%d/gauge-m%d.rrd" "$DELAY")"
		stop_pid "$CPID"
	fi
	if runs rrdcached; then
		# itsmd through rrdcached
		fresh_dir
		rrdcached_start "$ENV_DIR" >/dev/null || { echo "rrdcached failed" >&2; exit 1; }
		out=$(bench -p "$RRDCACHED_PID" -s "unix:$RRDCACHED_SOCK" "$DIR" "$n" $PERIOD "$SECS" "unix:$RRDCACHED_SOCK") ||
			{ tail "$ENV_DIR/bench.log" >&2; exit 1; }
		row "$n" itsmd rrdcached "$out" cpu_pid0 "" "rrdcached got $(num "$out" rrdcached_received)"
		stop_pid "$RRDCACHED_PID"
		# collectd through rrdcached
		fresh_dir
		rrdcached_start "$ENV_DIR" >/dev/null || { echo "rrdcached failed" >&2; exit 1; }
		collectd_start rrdcached
		out=$(bench -c "$CPORT" -p "$CPID" -p "$RRDCACHED_PID" -s "unix:$RRDCACHED_SOCK" "$DIR" "$n" $PERIOD "$SECS") ||
			{ tail "$ENV_DIR/bench.log" >&2; exit 1; }
		row "$n" collectd rrdcached "$out" cpu_pid1 cpu_pid0 "rrdcached got $(num "$out" rrdcached_received)"
		stop_pid "$CPID"
		stop_pid "$RRDCACHED_PID"
	fi
	if runs receive; then
		# collectd receiving the same stream, no writer: its share of the above
		fresh_dir
		collectd_start none
		out=$(bench -w 10 -c "$CPORT" -p "$CPID" "$DIR" "$n" $PERIOD "$SECS") || { tail "$ENV_DIR/bench.log" >&2; exit 1; }
		row "$n" collectd receive "$out" "" "" "(network plugin only, no writer)"
		stop_pid "$CPID"
	fi
	rm -rf "$DIR"
done
echo
echo "# CPU per update, itsmd / collectd: the daemons' processes, and with rrdcached's CPU added:"
for n in $SIZES; do
	for path in thread delay rrdcached; do
		runs $path || continue
		awk -v n="$n" -v p="$path" -v i="${R[$n,itsmd,$path]}" -v c="${R[$n,collectd,$path]}" \
		    -v ti="${T[$n,itsmd,$path]}" -v tc="${T[$n,collectd,$path]}" 'BEGIN {
			printf "%-7s %-10s itsmd %5.1f µs, collectd %5.1f µs: %.2f;", n, p, i, c, (c ? i / c : 0)
			printf " with rrdcached: %5.1f / %5.1f µs: %.2f\n", ti, tc, (tc ? ti / tc : 0)
		}'
	done
done
echo "(thread: both as by default, an rrd_update call per update; delay: itsmd's rrd-write-delay"
echo " and collectd's CacheTimeout both ${DELAY}s, each file's updates written in one call)"
echo "(the loop and receive rows say what each side spends outside its writer: itsmd's driver"
echo " and loop with the writer off, collectd's network plugin with no writer loaded)"
echo "(bench layout: step 60 s, a day at full resolution and a week hourly, AVERAGE only)"
echo "(default layout at a 60 s step: about $(( (2880 + 4032 + 9480 + 1826) * 3 * 8 / 1024 + 1 )) KiB per file)"

# One year of a default-layout file, drawn by itsmctl.
dir=$ENV_DIR/year/h/p
mkdir -p "$dir"
now=$(date +%s)
rrdtool create "$dir/m.rrd" --start $((now - 366 * 86400)) --step 60 DS:value:GAUGE:120:U:U \
    RRA:MIN:0.5:1:2880 RRA:AVERAGE:0.5:1:2880 RRA:MAX:0.5:1:2880 \
    RRA:MIN:0.5:5:4032 RRA:AVERAGE:0.5:5:4032 RRA:MAX:0.5:5:4032 \
    RRA:MIN:0.5:60:9480 RRA:AVERAGE:0.5:60:9480 RRA:MAX:0.5:60:9480 \
    RRA:MIN:0.5:1440:1826 RRA:AVERAGE:0.5:1440:1826 RRA:MAX:0.5:1440:1826
awk -v s=$((now - 365 * 86400)) -v e=$now 'BEGIN { for (t = s; t < e; t += 600) printf "%d:%f\n", t, 50 + 40 * sin(t / 86400) }' |
    xargs -n 5000 rrdtool update "$dir/m.rrd"
cat >"$ENV_DIR/c.conf" <<EOF
rrd-dir "$ENV_DIR/year"
EOF
best=999999
for i in 1 2 3 4 5; do
	t0=${EPOCHREALTIME/./}
	"$BUILD/itsmctl" -c "$ENV_DIR/c.conf" graph h p/m --range 1y -o "$ENV_DIR/y.png" || exit 1
	ms=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
	[ $ms -lt $best ] && best=$ms
done
echo "itsmctl graph, one year (52,560 points in the file's archives): best of 5 ${best} ms"
rm -rf "$BENCH_DIR"
