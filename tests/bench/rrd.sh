#!/usr/bin/env bash
# rrd.sh: RRD write throughput of itsmd's writer (rrd_writer.c) at 10,000 and
# 100,000 files, each updated once a minute (100,000 files = 1,667 updates/s),
# through the writer thread's own librrd path and through rrdcached.  Prints
# updates/s, CPU per 1,000 updates (itsmd, and rrdcached's own), the loop lag
# (p99 of a 10 ms timer) and bytes per file; then a one-year itsmctl graph.
# Run by hand (never by make test), as root, after `make`:
#
#	tests/bench/rrd.sh [SECONDS]		# default 60 s per run, after 60 s of warm-up
#
# Not measured yet: collectd's rrdtool/rrdcached plugins on the same stream
# (see /work/shared/peer-baseline.md for its expected figures).
set -u
. "$(dirname "$0")/../env/lib.sh"
# Its own dir (not itsmd-test.*, which test runs may sweep), removed at the end.
BENCH_DIR=$(mktemp -d /tmp/itsmd-bench.XXXXXX)
chmod 755 "$BENCH_DIR"
env_init "$BENCH_DIR"
SECS=${1:-60}
PERIOD=60

OBJS=$(ls "$BUILD"/daemon/*.o "$BUILD"/probes/*.o | grep -v -e /daemon/itsmd.o -e /daemon/itsmctl.o)
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$ENV_ROOT/include" \
    $(pkg-config --cflags libevent librrd) -O2 -o "$ENV_DIR/rrd_bench" \
    "$ENV_ROOT/tests/bench/rrd_bench.c" $OBJS \
    $(pkg-config --libs libevent netsnmp libcurl librrd libpq libsystemd) -levent_pthreads -lpthread -lm ||
	{ echo "rrd.sh: cannot build the driver (run make first)" >&2; exit 1; }

# ticks of utime+stime of PID
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

printf '%-8s %-10s %9s %9s %12s %14s %10s %10s %9s\n' files path "upd/s" offered "cpu/1k upd" "rrdcached/1k" "lag p99" "lag max" "B/file"
for n in 10000 100000; do
	for path in thread rrdcached; do
		# rrdcached (-B) takes only files under its base dir, ENV_DIR/rrd
		dir=$ENV_DIR/rrd
		rm -rf "$dir"
		mkdir -p "$dir"
		chown itsmd: "$dir"
		extra=""
		if [ $path = rrdcached ]; then
			rrdcached_start "$ENV_DIR" >/dev/null || { echo "rrdcached failed" >&2; exit 1; }
			extra="unix:$RRDCACHED_SOCK"
			c0=$(ticks "$RRDCACHED_PID")
			# rrdcached's CPU is taken over the measured window only
			( sleep $((PERIOD + 1)); ticks "$RRDCACHED_PID" >"$ENV_DIR/c0" ) &
			sampler=$!
		fi
		# rrdcached runs as itsmd: the driver makes the files, so they must be its
		out=$(runuser -u itsmd -- "$ENV_DIR/rrd_bench" "$dir" $n $PERIOD "$SECS" $extra 2>"$ENV_DIR/bench.log") ||
			{ cat "$ENV_DIR/bench.log" >&2; exit 1; }
		rc_per=-
		if [ $path = rrdcached ]; then
			c1=$(ticks "$RRDCACHED_PID")
			wait $sampler
			c0=$(cat "$ENV_DIR/c0")
			kill -TERM "$RRDCACHED_PID"; env_wait_gone 60 "$RRDCACHED_PID"
			upd=$(sed 's/.*updates=\([0-9]*\).*/\1/' <<<"$out")
			rc_per=$(awk -v c=$((c1 - c0)) -v hz=$HZ -v u="$upd" 'BEGIN { printf "%.1f ms", u ? c / hz * 1000 / u * 1000 : 0 }')
		fi
		eval "$(tr ' ' '\n' <<<"$out" | sed 's/^/b_/')"
		bytes=$(du -sb "$dir" | awk -v n=$n '{ printf "%d", $1 / n }')
		printf '%-8s %-10s %9s %9s %12s %14s %10s %10s %9s\n' $n $path "$b_rate" \
		    "$(( n / PERIOD ))" "$(awk -v u="$b_us_per_update" 'BEGIN { printf "%.1f ms", u }')" \
		    "$rc_per" "${b_lag_p99_ms} ms" "${b_lag_max_ms} ms" "$bytes"
		rm -rf "$dir"
	done
done
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
