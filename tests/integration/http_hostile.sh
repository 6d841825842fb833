#!/usr/bin/env bash
# run.sh: alone (it asserts every probe stays on schedule)
# http_hostile.sh: hostile HTTP targets (slow drip, endless and huge bodies,
# redirect loop, bad certificate, reset, garbage, accept-and-never-answer)
# probed while 200 healthy probes run every second.  Each hostile probe must
# end with its own reason within its timeout; the healthy ones must stay on
# schedule (no overrun, no state change, a run every second in the debug
# log); the daemon's memory must stay bounded (read from /proc).
#
# The healthy checks' RRD directory is made unwritable on purpose: 1400 RRD
# files at a 1 s step are 6 GB (2 days at full resolution each), which no
# test should write.  The writer runs in its own thread; the loop is what is
# under test here.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

NHEALTHY=${NHEALTHY:-200}
RUN_S=${RUN_S:-12}

env_db
openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$ENV_DIR/self.key" \
    -out "$ENV_DIR/self.pem" -days 30 -subj "/CN=localhost" \
    -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1 ||
	{ tap_fail "environment: openssl"; exit 1; }
GOOD=$(free_port tcp)
BAD=$(free_port tcp)
TLS=$(free_port tcp)
hostile_httpd_start "$ENV_DIR" "$GOOD" || { tap_fail "environment: healthy server"; exit 1; }
hostile_httpd_start "$ENV_DIR" "$BAD" || { tap_fail "environment: hostile server"; exit 1; }
hostile_httpd_start "$ENV_DIR" "$TLS" --cert "$ENV_DIR/self.pem" --key "$ENV_DIR/self.key" ||
	{ tap_fail "environment: hostile TLS server"; exit 1; }

CONF=$ENV_DIR/itsmd.conf
{
	cat <<-EOF
	database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
	rrd-dir "$ENV_DIR/rrd"
	user itsmd
	host "healthy" {
	    address 127.0.0.1
	EOF
	for i in $(seq -w 1 "$NHEALTHY"); do
		printf '    probe "h%s" http { url "http://127.0.0.1:%s/ok?n=%s"; interval 1s; timeout 900ms }\n' \
		    "$i" "$GOOD" "$i"
	done
	echo '}'
	echo 'host "hostile" {'
	echo '    address 127.0.0.1'
	while read -r name path extra; do
		printf '    probe "%s" http { url "http://127.0.0.1:%s%s"; interval 2s; timeout 1500ms; %s }\n' \
		    "$name" "$BAD" "$path" "$extra"
	done <<-EOF
	drip /slow-drip
	endless /endless
	huge /huge
	loop /redirect-loop follow-redirects yes
	reset /reset
	garbage /garbage
	hang /hang
	EOF
	printf '    probe "badcert" http { url "https://127.0.0.1:%s/ok"; interval 2s; timeout 1500ms }\n' "$TLS"
	echo '}'
} >"$CONF"
tap_check "itsmd -t accepts $NHEALTHY healthy and 8 hostile probes" "$BUILD/itsmd" -t -c "$CONF"
mkdir -p "$ENV_DIR/rrd"
: >"$ENV_DIR/rrd/healthy"
itsmd_start "$CONF" -d

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$ITSMD_PID/status"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$ITSMD_PID/status"; }

# Every healthy check has run once: the daemon is up to speed.
all_started() {
	[ "$(grep -oE 'healthy/h[0-9]+: HTTP 200$' "$ITSMD_LOG" | sort -u | wc -l)" -ge "$NHEALTHY" ]
}
tap_check "all $NHEALTHY healthy checks have run" wait_until 20 all_started
sleep 2
RSS0=$(rss_kb)
START=$(date +%s)
sleep "$RUN_S"
END=$(date +%s)
RSS1=$(rss_kb)
HWM=$(hwm_kb)
env_say "itsmd RSS ${RSS0} kB after warm-up, ${RSS1} kB after ${RUN_S}s of hostile targets, peak ${HWM} kB"

# state_is CHECK SEVERITY REASON-PATTERN
state_is() { log_has "hostile/$1: $2: $3"; }
while IFS='|' read -r name sev reason text; do
	if state_is "$name" "$sev" "$reason"; then tap_ok "$text"
	else
		tap_fail "$text" "no 'hostile/$name: $sev: $reason' in the log"
		grep "hostile/$name:" "$ITSMD_LOG" | tail -n 2 | sed 's/^/#   /'
	fi
done <<'EOF'
drip|critical|timed out after 1500ms: Operation timed out after 1[0-9]{3} milliseconds with [0-9]+ out of 100000 bytes|slow drip: timed out within its timeout
endless|unknown|body exceeds 1048576 bytes|endless body: stops at the 1 MiB cap
huge|unknown|body exceeds 1048576 bytes|huge body (64 MiB): refused at the 1 MiB cap
loop|unknown|bad response: more than 5 redirects|redirect loop: stops after 5 redirects
reset|unknown|bad response: Recv failure: Connection reset by peer|reset connection: named as such
garbage|unknown|bad response: Received HTTP/0.9 when not allowed|garbage instead of HTTP: bad response
hang|critical|timed out after 1500ms: Operation timed out after 1[0-9]{3} milliseconds with 0 bytes received|accept and never answer: timed out within its timeout
badcert|critical|SSL certificate problem: self-signed certificate|bad certificate: TLS failure with curl's reason
EOF

tap_check "no overrun logged" bash -c "! grep -q 'overrun' '$ITSMD_LOG'"
tap_check "no healthy check changed state" bash -c "! grep -qE 'healthy/h[0-9]+: (critical|warning|unknown)' '$ITSMD_LOG'"

# A run every second inside the window, for every healthy check: the debug
# log has one line per run, stamped to the second.
runs_in_window() {
	awk -v s="$(date -d @$((START + 1)) '+%H:%M:%S')" -v e="$(date -d @$((END - 1)) '+%H:%M:%S')" '
	    $2 >= s && $2 <= e && $3 ~ /^healthy\/h[0-9]+:$/ && $4 == "HTTP" { n[$3]++ }
	    END { min = -1; for (k in n) if (min < 0 || n[k] < min) min = n[k]; print length(n), min }' "$ITSMD_LOG"
}
read -r nchecks minruns <<<"$(runs_in_window)"
want=$((END - START - 2))
if [ "$nchecks" = "$NHEALTHY" ] && [ "$minruns" -ge "$want" ]; then
	tap_ok "every healthy check ran every second ($nchecks checks, at least $minruns runs in $((END - START - 1)) s)"
else
	tap_fail "every healthy check ran every second" "$nchecks checks ran, fewest runs $minruns, want $NHEALTHY checks with >= $want"
fi

# Memory: no growth with the bodies (1 MiB cap, nothing buffered), and a peak
# far below what the targets sent (the huge one alone offers 64 MiB a run).
# Under AddressSanitizer freed memory sits in its quarantine: not a measure.
if [[ $BUILD == *asan* ]]; then
	tap_ok "RSS bounded # SKIP AddressSanitizer build ($RSS0 -> $RSS1 kB, peak $HWM kB)"
elif [ $((RSS1 - RSS0)) -lt 16384 ]; then tap_ok "RSS grew less than 16 MiB under hostile targets ($RSS0 -> $RSS1 kB)"
else tap_fail "RSS grew less than 16 MiB under hostile targets" "$RSS0 -> $RSS1 kB"; fi
if [[ $BUILD == *asan* ]]; then :
elif [ "$HWM" -lt 131072 ]; then tap_ok "peak RSS below 128 MiB ($HWM kB)"
else tap_fail "peak RSS below 128 MiB" "$HWM kB"; fi

itsmd_stop 15
tap_check "itsmd stops cleanly (exit 0)" test $? = 0
tap_done
