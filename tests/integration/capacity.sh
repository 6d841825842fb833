#!/usr/bin/env bash
# capacity.sh: forecasts on synthetic RRD series (written through librrd's
# own update path, timestamps in the past) and capacity records in real
# PostgreSQL: a flat noisy series opens nothing, a growing one opens a
# record with the exhaustion date within one step, flattening resolves it;
# `itsmctl capacity` shows it as a table, --json and --csv, most urgent
# first.  An interface's rate file bounded by its speed, with a Holt-Winters
# archive: `capacity in 80% of-speed` gives the date the daily peak reaches
# 80% (within one step); the daemon leaves that file's layout alone (and says
# so); a file it makes itself has the conf's `rrd { }` layout and bounds.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_db
env_snmpd
snmp_set "$ENV_DIR" 1 gauge 78
mkdir -p "$ENV_DIR/rrd/agent/disk"
chown -R itsmd: "$ENV_DIR/rrd"
RRD=$ENV_DIR/rrd/agent/disk/used.rrd
NOW=$(date +%s)
T0=$(( NOW - 14 * 86400 ))

# series FILE KIND: 14 days at one value a minute, in the default layout
# (step 60 s), made beside FILE and renamed over it in one step.
#   grow: 50 + 2/day, so 78 now and 90 six days from now
#   flat: 60 with +-3 of deterministic noise, no trend
series() {
	local tmp=$1.new
	rrdtool create "$tmp" --start $((T0 - 60)) --step 60 DS:value:GAUGE:120:U:U \
	    RRA:MIN:0.5:1:2880 RRA:AVERAGE:0.5:1:2880 RRA:MAX:0.5:1:2880 \
	    RRA:MIN:0.5:5:4032 RRA:AVERAGE:0.5:5:4032 RRA:MAX:0.5:5:4032 \
	    RRA:MIN:0.5:60:9480 RRA:AVERAGE:0.5:60:9480 RRA:MAX:0.5:60:9480 \
	    RRA:MIN:0.5:1440:1826 RRA:AVERAGE:0.5:1440:1826 RRA:MAX:0.5:1440:1826 || return 1
	awk -v t0=$T0 -v now=$NOW -v kind="$2" 'BEGIN {
		for (t = t0; t < now - 60; t += 60) {
			if (kind == "grow") v = 50 + 2 * (t - t0) / 86400
			else v = 60 + 3 * sin(t * 7.1) * cos(t / 977)
			printf "%d:%.6f\n", t, v
		}
	}' | xargs -n 2000 rrdtool update "$tmp" || return 1
	chown itsmd: "$tmp"
	mv -f "$tmp" "$1"
}
series "$RRD" flat || { tap_fail "environment: synthetic flat series"; exit 1; }

# The interface: hourly, bounded 0..1000 B/s (its speed), a daily HW season;
# (40 + 1/day + 5 sin(hour)) % of the speed, so 80% is first reached by a
# daily peak, days before the average gets there.
mkdir -p "$ENV_DIR/rrd/agent/net"
IFRRD=$ENV_DIR/rrd/agent/net/in.rrd
H0=$(( T0 / 3600 * 3600 ))
rrdtool create "$IFRRD" --start $((H0 - 3600)) --step 3600 DS:value:GAUGE:7200:0:1000 \
    RRA:AVERAGE:0.5:1:720 RRA:HWPREDICT:720:0.1:0.0035:24 ||
	{ tap_fail "environment: interface file"; exit 1; }
awk -v h0=$H0 -v now=$NOW 'BEGIN {
	for (i = 0; h0 + i * 3600 < now - 3600; i++)
		printf "%d:%.6f\n", h0 + i * 3600, (40 + i / 24 + 5 * sin(6.283185307179586 * (i % 24) / 24)) * 10
}' | xargs -n 2000 rrdtool update "$IFRRD" || { tap_fail "environment: interface series"; exit 1; }
chown -R itsmd: "$ENV_DIR/rrd/agent/net"
IF_EXPECT=$(awk -v h0=$H0 -v now=$NOW 'BEGIN {
	for (i = 0; h0 + i * 3600 < now - 3600; i++) ;
	for (; 40 + i / 24 + 5 * sin(6.283185307179586 * (i % 24) / 24) < 80; i++) ;
	print h0 + i * 3600
}')

CONF=$ENV_DIR/itsmd.conf
cat >"$CONF" <<EOF
database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
rrd-dir "$ENV_DIR/rrd"
capacity-every 2s
capacity-window 14d
capacity-horizon 30d
host "agent" {
    address 127.0.0.1
    snmp-port $SNMP_PORT
    community "public"
    probe "disk" snmp {
        oid used .1.3.6.1.4.1.99999.1
        interval 60s
        capacity used 90%
    }
    probe "net" snmp {
        oid in .1.3.6.1.4.1.99999.9
        interval 2s
        capacity in 80% of-speed
    }
    probe "pg" tcp {
        port $PGPORT
        interval 1s
        rrd { archive 1d@step 1w@1h; consolidate average; bounds time 0 5 }
    }
}
EOF
open_count() { q "SELECT count(*) FROM capacity_records WHERE host = 'agent' AND metric = 'disk/used' AND resolved_at IS NULL"; }
open_is() { [ "$(open_count)" = "$1" ]; }

itsmd_start "$CONF"
# Three forecast runs on the flat series.
sleep 8

# The interface: Holt-Winters, 80% of the file's maximum.
if_open() { [ "$(q "SELECT count(*) FROM capacity_records WHERE metric = 'net/in' AND resolved_at IS NULL")" = 1 ]; }
if wait_until 15 if_open; then tap_ok "capacity in 80% of-speed: a record for the interface"
else tap_fail "capacity in 80% of-speed: a record for the interface" "$(q "SELECT * FROM capacity_records")"; fi
PRED=$(q "SELECT extract(epoch FROM predicted_at)::bigint FROM capacity_records WHERE metric = 'net/in' AND resolved_at IS NULL")
if [ -n "$PRED" ] && [ $(( PRED > IF_EXPECT ? PRED - IF_EXPECT : IF_EXPECT - PRED )) -le 3600 ]; then
	tap_ok "Holt-Winters: the daily peak reaches 80% of the speed on the date, within one step"
else tap_fail "Holt-Winters: the daily peak reaches 80% of the speed on the date, within one step" "predicted ${PRED:-none}, expected $IF_EXPECT"; fi
IFSUM=$(q "SELECT summary FROM capacity_records WHERE metric = 'net/in'")
case $IFSUM in
"net/in reaches 800 (80% of 1000) on "*"Holt-Winters, season 24 points)") tap_ok "its summary names the limit's origin and the method: $IFSUM" ;;
*) tap_fail "its summary names the limit's origin and the method" "'$IFSUM'" ;;
esac
tap_check "its limit is 80% of the 1000 B/s speed" \
    test "$(q "SELECT capacity_limit FROM capacity_records WHERE metric = 'net/in'")" = 800
# Only now, with a run's record of the interface in, has a run looked at
# the disk too: its silence before could be no run at all.
tap_check "a flat noisy series opens no capacity record" eval 'if_open && open_is 0'
tap_check "nor a row of any kind for it" test "$(q "SELECT count(*) FROM capacity_records WHERE metric = 'disk/used'")" = 0
tap_check "the interface file keeps its own layout, and that is logged" \
    log_has "rrd: .*/agent/net/in.rrd keeps its layout \(step 3600s; the configuration now says 2s\)"
tap_check "its bounds are untouched (rrdtool info)" \
    sh -c "rrdtool info '$IFRRD' | grep -qx 'ds\[value\].max = 1.0000000000e+03'"

# A file itsmd makes: the probe's `rrd { }` layout and bounds (rrdtool info).
PGRRD=$ENV_DIR/rrd/agent/pg/time.rrd
wait_until 10 test -f "$PGRRD"
INFO=$(rrdtool info "$PGRRD" 2>&1)
info_has() { printf '%s\n' "$INFO" | grep -qxF "$1"; }
tap_check "a new file has the conf's bounds: time 0..5 s" \
    eval 'info_has "ds[value].min = 0.0000000000e+00" && info_has "ds[value].max = 5.0000000000e+00"'
tap_check "and the conf's archives: 1 day at the step, 1 week hourly, AVERAGE only" \
    test "$(printf '%s\n' "$INFO" | grep -E '^rra\[[0-9]+\]\.(cf|rows|pdp_per_row) ' | tr '\n' ' ')" = \
    'rra[0].cf = "AVERAGE" rra[0].rows = 86400 rra[0].pdp_per_row = 1 rra[1].cf = "AVERAGE" rra[1].rows = 168 rra[1].pdp_per_row = 3600 '
tap_check "and a heartbeat of two steps" info_has "ds[value].minimal_heartbeat = 2"

series "$RRD" grow || { tap_fail "environment: synthetic growth series"; exit 1; }
if wait_until 15 open_is 1; then tap_ok "a growing series opens a capacity record"
else tap_fail "a growing series opens a capacity record" "open=$(open_count)"; fi
EXPECT=$(( T0 + 20 * 86400 ))
PRED=$(q "SELECT extract(epoch FROM predicted_at)::bigint FROM capacity_records WHERE metric = 'disk/used' AND resolved_at IS NULL")
if [ -n "$PRED" ] && [ $(( PRED > EXPECT ? PRED - EXPECT : EXPECT - PRED )) -le 3600 ]; then
	tap_ok "the exhaustion date is right within one step (off by $((PRED - EXPECT)) s)"
else tap_fail "the exhaustion date is right within one step" "predicted $PRED, expected $EXPECT"; fi
ROW=$(q "SELECT category, urgency, round(trend_per_day::numeric, 2), capacity_limit, confidence > 0.99 FROM capacity_records WHERE metric = 'disk/used' AND resolved_at IS NULL")
tap_check "category capacity, low urgency, +2/day toward 90, high confidence ($ROW)" \
    test "$ROW" = "capacity|low|2.00|90|t"
SUMMARY=$(q "SELECT summary FROM capacity_records WHERE metric = 'disk/used' AND resolved_at IS NULL")
case $SUMMARY in
"disk/used reaches 90 on "*" in "*" days"*) tap_ok "the summary carries the forecast: $SUMMARY" ;;
*) tap_fail "the summary carries the forecast" "'$SUMMARY'" ;;
esac
sleep 3
tap_check "later runs update the same record, not new ones" \
    test "$(q "SELECT count(*) || ':' || (max(updates) > 0)::text FROM capacity_records WHERE metric = 'disk/used'")" = "1:true"
tap_check "opening is logged" log_has "capacity record #[0-9]+ opened: agent disk/used reaches 90"

CTL() { "$BUILD/itsmctl" -c "$CONF" "$@"; }
out=$(CTL capacity 2>&1)
if [[ $out == *HOST*METRIC*CURRENT*LIMIT*TREND/DAY*PREDICTED* ]] && [[ $out == *agent*disk/used*90*2.000* ]]; then
	tap_ok "itsmctl capacity: host, metric, current, limit, trend per day, predicted date"
else tap_fail "itsmctl capacity: host, metric, current, limit, trend per day, predicted date" "$out"; fi
out=$(CTL capacity --json 2>&1)
if printf '%s' "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r[0]["host"]=="agent" and r[0]["metric"]=="disk/used" and r[0]["predicted"]' 2>/dev/null; then
	tap_ok "itsmctl capacity --json is JSON with the record"
else tap_fail "itsmctl capacity --json is JSON with the record" "$out"; fi
out=$(CTL capacity --csv 2>&1)
if [ "$(printf '%s\n' "$out" | head -n 1)" = "host,metric,current,limit,trend_per_day,predicted,days,confidence,state" ] &&
    [ "$(printf '%s\n' "$out" | sed -n 2p | cut -d, -f1,2,4)" = "agent,disk/used,90.000" ]; then
	tap_ok "itsmctl capacity --csv: a header and one line per record"
else tap_fail "itsmctl capacity --csv: a header and one line per record" "$out"; fi
tap_check "most urgent first: the disk (6 days) before the interface (3 weeks)" \
    test "$(printf '%s\n' "$out" | sed -n 3p | cut -d, -f1,2,4)" = "agent,net/in,800.000"

series "$RRD" flat || { tap_fail "environment: synthetic flat series"; exit 1; }
# resolved, not merely none open (which no record at all would be too)
disk_resolved() { [ "$(q "SELECT count(*) FILTER (WHERE resolved_at IS NULL) || ':' || count(*)
    FROM capacity_records WHERE metric = 'disk/used'")" = 0:1 ]; }
if wait_until 15 disk_resolved; then tap_ok "the series flattening resolves the record"
else tap_fail "the series flattening resolves the record" "open=$(open_count)"; fi
tap_check "with a resolution" test "$(q "SELECT resolution FROM capacity_records WHERE metric = 'disk/used'")" = "no growth toward the limit"
tap_check "resolving is logged" log_has "capacity record #[0-9]+ resolved: agent disk/used"
tap_check "itsmctl capacity no longer lists it" sh -c "! '$BUILD/itsmctl' -c '$CONF' capacity | grep -q 'disk/used'"

itsmd_stop 15
rc=$?
tap_check "SIGTERM exits 0" test "$rc" = 0
tap_done
