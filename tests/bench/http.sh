#!/usr/bin/env bash
# http.sh: HTTP probe throughput and cost, itsmd against collectd's curl
# plugin on the same workload in the same run (run by hand, never by make test).
#
#   tests/bench/http.sh [N] [INTERVAL_S] [WINDOW_S] [HANG_PCT]
#
# N distinct URLs on a local nginx (one worker, keep-alive, stub_status),
# probed every INTERVAL_S; HANG_PCT % of the targets accept and never answer
# (tests/env/hostile_httpd.py /hang).  For each daemon, after WARM s
# (default 20): probes per second answered by nginx over WINDOW_S, CPU per
# probe from utime+stime in /proc/PID/stat (all threads), nginx CPU, RSS;
# for itsmd also the overruns it logged.  Method: /work/shared/peer-baseline.md.
#
# STORE=rrdcached (default, as issue 6 asks) stores through rrdcached in
# both (itsmd's RRD writer: every metric of a probe, 7 files per http://
# target; collectd's rrdcached plugin: its response time), one archive of
# RRD_SPAN s (default 3600) at full resolution, about 30 kB a file at a 1 s
# step; rrdcached's CPU is printed.  WARM must cover the files' creation
# (105,000 at 15,000 targets: the default WARM is 60 s then).  STORE=none
# leaves storage out of both (itsmd: an rrd-dir that cannot be made, so its
# writer only fails), to compare the probe engines alone.
# PEER=no skips collectd (for quick runs while tuning; not for figures).
# PER_ORIGIN=K sets itsmd's http-max-per-origin (default 64); LOG_LEVEL=debug
# shows every run's reason in itsmd's log (KEEP_TMP=1 keeps it).
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

N=${1:-15000}
I=${2:-1}
W=${3:-60}
HANG=${4:-0}
STORE=${STORE:-rrdcached}
RRD_SPAN=${RRD_SPAN:-3600}
if [ "$STORE" = rrdcached ] && [ "$N" -ge 5000 ]; then WARM=${WARM:-60}; else WARM=${WARM:-20}; fi
TICK_US=$((1000000 / $(getconf CLK_TCK)))

for pkg in nginx-light:nginx collectd-core:collectd; do
	command -v "${pkg#*:}" >/dev/null ||
	    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkg%%:*}" \
	    >/dev/null || { echo "cannot install ${pkg%%:*}" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)"

NHANG=$((N * HANG / 100))
NGOOD=$((N - NHANG))
PORT=$(free_port tcp)
HPORT=$(free_port tcp)
APORT=$(free_port tcp)
TMO_MS=$((I * 1000 / 2))

# ---------------------------------------------------------------- nginx
mkdir -p "$ENV_DIR/nginx"
cat >"$ENV_DIR/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $ENV_DIR/nginx/nginx.pid;
error_log $ENV_DIR/nginx/error.log;
worker_rlimit_nofile $((N + 4096));
events { worker_connections $((N + 2048)); }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_body_temp_path $ENV_DIR/nginx;
    proxy_temp_path $ENV_DIR/nginx;
    fastcgi_temp_path $ENV_DIR/nginx;
    uwsgi_temp_path $ENV_DIR/nginx;
    scgi_temp_path $ENV_DIR/nginx;
    server {
        listen 127.0.0.1:$PORT backlog=4096;
        location = /nginx_status { stub_status; }
        location / { default_type text/plain; return 200 "itsmd bench ok\n"; }
    }
}
EOF
nginx -c "$ENV_DIR/nginx/nginx.conf" -g 'daemon off;' &
NGINX_MASTER=$!
env_record $NGINX_MASTER nginx
wait_until 10 env_tcp_open "$PORT" || { echo "nginx did not start" >&2; exit 1; }
NGINX_WORKER=$(pgrep -P "$NGINX_MASTER" | head -n 1)
if [ "$NHANG" -gt 0 ]; then
	hostile_httpd_start "$ENV_DIR" "$HPORT" || exit 1
fi
RRDC_PID=""
if [ "$STORE" = rrdcached ]; then
	rrdcached_start "$ENV_DIR" || exit 1
	RRDC_PID=$RRDCACHED_PID
fi

url() {		# url I: the i-th target
	if [ "$1" -le "$NHANG" ]; then echo "http://127.0.0.1:$HPORT/hang?t=$1"
	else echo "http://127.0.0.1:$PORT/t/$1"; fi
}
requests() {	# requests [accepts]: nginx's request (or connection) count
	python3 - "$PORT" "${1:-}" <<'PY'
import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:%s/nginx_status" % sys.argv[1], timeout=5).read().decode()
print(t.splitlines()[2].split()[0 if sys.argv[2] == "accepts" else 2])
PY
}
# overruns: itsmd's overrun count per check (GET /status), "tN COUNT" lines
overruns() {
	curl -s --max-time 10 "http://127.0.0.1:$APORT/status" |
	    sed -n 's|^bench/t\([0-9]*\) runs=[0-9]* overruns=\([0-9]*\) .*|\1 \2|p'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# measure NAME PID: sets R_PPS R_US R_NGINX_US R_RSS R_RRDC_US over the window
measure() {
	local pid=$2 r0 r1 c0 c1 n0 n1 d0 d1 a0 a1 l0 l1 t0 t1 w
	sleep "$WARM"
	[ "$1" = itsmd ] && overruns >"$ENV_DIR/over0"
	a0=$(requests accepts)
	# the counters back to back, the clock read with them: the window is
	# what elapsed between the two reads, not W (python's start-up and the
	# /status fetch would add a second)
	r0=$(requests); t0=$(date +%s.%N); c0=$(cpu_ticks "$pid")
	n0=$(cpu_ticks "$NGINX_WORKER"); l0=$(cpu_ticks "$pid/task/$pid")
	d0=$([ -n "$RRDC_PID" ] && cpu_ticks "$RRDC_PID" || echo 0)
	sleep "$W"
	r1=$(requests); t1=$(date +%s.%N); c1=$(cpu_ticks "$pid")
	n1=$(cpu_ticks "$NGINX_WORKER"); l1=$(cpu_ticks "$pid/task/$pid")
	d1=$([ -n "$RRDC_PID" ] && cpu_ticks "$RRDC_PID" || echo 0)
	a1=$(requests accepts)
	[ "$1" = itsmd ] && overruns >"$ENV_DIR/over1"
	w=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	R_CONN=$(awk -v a="$a0" -v b="$a1" -v w="$w" 'BEGIN { printf "%.0f", (b - a) / w }')
	# the main thread alone: for itsmd the event loop, where probes run
	R_LOOP_US=$(awk -v a="$l0" -v b="$l1" -v r="$((r1 - r0 - 1))" -v t="$TICK_US" \
	    'BEGIN { printf "%.1f", (r > 0 ? (b - a) * t / r : 0) }')
	R_RSS=$(rss_kb "$pid")
	R_PPS=$(awk -v a="$r0" -v b="$r1" -v w="$w" 'BEGIN { printf "%.0f", (b - a - 1) / w }')
	R_US=$(awk -v a="$c0" -v b="$c1" -v r="$((r1 - r0 - 1))" -v t="$TICK_US" \
	    'BEGIN { printf "%.1f", (r > 0 ? (b - a) * t / r : 0) }')
	R_NGINX_US=$(awk -v a="$n0" -v b="$n1" -v r="$((r1 - r0 - 1))" -v t="$TICK_US" \
	    'BEGIN { printf "%.1f", (r > 0 ? (b - a) * t / r : 0) }')
	R_CORE=$(awk -v a="$c0" -v b="$c1" -v w="$w" -v t="$TICK_US" \
	    'BEGIN { printf "%.0f", (b - a) * t / w / 10000 }')
	R_RRDC=$(awk -v a="$d0" -v b="$d1" -v w="$w" -v t="$TICK_US" \
	    'BEGIN { printf "%.0f", (b - a) * t / w / 10000 }')
	echo "# $1: $R_PPS probes/s answered, $R_US us CPU per probe ($R_CORE% of a core)," \
	    "main thread $R_LOOP_US us per probe, $R_CONN new connections/s," \
	    "nginx $R_NGINX_US us per request, RSS $R_RSS kB, rrdcached $R_RRDC% of a core" >&2
}

# ---------------------------------------------------------------- itsmd
CONF=$ENV_DIR/itsmd.conf
{
	echo "database \"dbname=none host=$ENV_DIR/no-postgres\""
	if [ "$STORE" = rrdcached ]; then
		echo "rrd-dir \"$ENV_DIR/rrd\""
		echo "rrdcached \"unix:$RRDCACHED_SOCK\""
		echo "rrd { archive ${RRD_SPAN}s@step; consolidate average }"
	else
		echo "rrd-dir \"$ENV_DIR/no-rrd/rrd\""	# under a file: nothing stored
	fi
	echo "user itsmd"
	echo "listen 127.0.0.1:$APORT"
	[ -n "${PER_ORIGIN:-}" ] && echo "http-max-per-origin $PER_ORIGIN"
	[ -n "${LOG_LEVEL:-}" ] && echo "log-level $LOG_LEVEL"
	echo 'host "bench" {'
	echo '    address 127.0.0.1'
	for ((i = 1; i <= N; i++)); do
		printf '    probe "t%d" http { url "%s"; interval %ds; timeout %dms }\n' \
		    "$i" "$(url $i)" "$I" "$TMO_MS"
	done
	echo '}'
} >"$CONF"
: >"$ENV_DIR/no-rrd"
"$BUILD/itsmd" -t -c "$CONF" >/dev/null || exit 1
itsmd_start "$CONF"
measure itsmd "$ITSMD_PID"
I_PPS=$R_PPS I_US=$R_US I_NG=$R_NGINX_US I_RSS=$R_RSS I_CORE=$R_CORE I_RRDC=$R_RRDC
I_LOOP=$R_LOOP_US I_CONN=$R_CONN
# overruns in the window, from GET /status (the log says the first 20 of a
# 10 s window only); hanging targets are t1 .. tNHANG: the others matter
read -r I_OVER I_OVER_GOOD I_OVER_WARM < <(awk -v h="$NHANG" '
    FNR == NR { a[$1] = $2; next }
    { d = $2 - a[$1]; all += d; if ($1 + 0 > h) good += d; warm += a[$1] }
    END { print all + 0, good + 0, warm + 0 }' "$ENV_DIR/over0" "$ENV_DIR/over1")
kill -TERM "$ITSMD_PID"
env_wait_gone 20 "$ITSMD_PID" || kill -KILL "$ITSMD_PID"

# ------------------------------------------------------------- collectd
C_PPS=0 C_US=0 C_NG=0 C_RSS=0 C_CORE=0 C_RRDC=0 C_LOOP=0 C_CONN=0
CCONF=$ENV_DIR/collectd.conf
if [ "${PEER:-yes}" != no ]; then
{
	echo "Interval $I"
	echo "MaxReadInterval $I"
	echo "Timeout 2"
	echo "ReadThreads $(( NHANG > 0 ? NHANG + 16 : 16 ))"
	echo "WriteThreads 4"
	echo "BaseDir \"$ENV_DIR/collectd\""
	echo "PIDFile \"$ENV_DIR/collectd.pid\""
	echo "PluginDir \"/usr/lib/collectd\""
	echo "LoadPlugin logfile"
	echo "<Plugin logfile>"
	echo "  LogLevel warning"
	echo "  File \"$ENV_DIR/collectd.log\""
	echo "</Plugin>"
	if [ "$STORE" = rrdcached ]; then
		echo "LoadPlugin rrdcached"
		echo "<Plugin rrdcached>"
		echo "  DaemonAddress \"unix:$RRDCACHED_SOCK\""
		echo "  DataDir \"$ENV_DIR/rrd/collectd\""
		echo "  CreateFiles true"
		echo "  RRATimespan $RRD_SPAN"
		echo "</Plugin>"
	fi
	echo "LoadPlugin curl"
	echo "<Plugin curl>"
	for ((i = 1; i <= N; i++)); do
		printf '  <Page "t%d">\n    URL "%s"\n    MeasureResponseTime true\n    Timeout %d\n  </Page>\n' \
		    "$i" "$(url $i)" "$TMO_MS"
	done
	echo "</Plugin>"
} >"$CCONF"
mkdir -p "$ENV_DIR/collectd"
collectd -f -C "$CCONF" >>"$ENV_DIR/collectd.out" 2>&1 </dev/null &
CPID=$!
env_record $CPID collectd
measure collectd "$CPID"
C_PPS=$R_PPS C_US=$R_US C_NG=$R_NGINX_US C_RSS=$R_RSS C_CORE=$R_CORE C_RRDC=$R_RRDC
C_LOOP=$R_LOOP_US C_CONN=$R_CONN
kill -TERM "$CPID"
env_wait_gone 20 "$CPID" || kill -KILL "$CPID"
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
cat <<EOF
HTTP benchmark: $N targets ($NHANG hanging), interval ${I}s, timeout ${TMO_MS}ms, window ${W}s after ${WARM}s, store $STORE
                     itsmd      collectd   itsmd/collectd
probes/s answered    $(printf '%-10s %-10s %s' "$I_PPS" "$C_PPS" "$(ratio "$I_PPS" "$C_PPS")")
expected probes/s    $((NGOOD / I))
CPU us per probe     $(printf '%-10s %-10s %s' "$I_US" "$C_US" "$(ratio "$I_US" "$C_US")")
% of a core          $(printf '%-10s %-10s' "$I_CORE" "$C_CORE")
main thread us/probe $(printf '%-10s %-10s' "$I_LOOP" "$C_LOOP")
new connections/s    $(printf '%-10s %-10s' "$I_CONN" "$C_CONN")
nginx us / request   $(printf '%-10s %-10s' "$I_NG" "$C_NG")
RSS kB               $(printf '%-10s %-10s %s' "$I_RSS" "$C_RSS" "$(ratio "$I_RSS" "$C_RSS")")
rrdcached % core     $(printf '%-10s %-10s' "$I_RRDC" "$C_RRDC")
itsmd overruns in the window: $I_OVER (of answering targets: $I_OVER_GOOD); in the warm-up: $I_OVER_WARM
EOF
