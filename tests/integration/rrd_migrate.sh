#!/usr/bin/env bash
# rrd_migrate.sh: `itsmctl rrd migrate`: files made in an older layout (a
# 5-minute step, no bounds) are listed by --dry-run and left alone, then
# rebuilt in the conf's `rrd { }` layout by librrd's create --source, with
# their history kept and their owner unchanged; a second run finds nothing
# to do.  No daemon: the tool works on the files.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

RRD=$ENV_DIR/rrd
mkdir -p "$RRD/h/web" "$RRD/h/other"
NOW=$(date +%s)
T0=$(( (NOW - 86400) / 300 * 300 ))
# old: a 5-minute step, unbounded, MIN/AVERAGE/MAX for 2 days; 7.0 every 5 minutes
old() {
	rrdtool create "$1" --start $((T0 - 300)) --step 300 DS:value:GAUGE:600:U:U \
	    RRA:MIN:0.5:1:576 RRA:AVERAGE:0.5:1:576 RRA:MAX:0.5:1:576 || return 1
	awk -v t0=$T0 -v now=$NOW 'BEGIN { for (t = t0; t < now - 300; t += 300) printf "%d:7\n", t }' |
	    xargs -n 500 rrdtool update "$1"
}
old "$RRD/h/web/time.rrd" && old "$RRD/h/other/time.rrd" ||
	{ tap_fail "environment: old files"; exit 1; }
chown -R itsmd: "$RRD"
SUM0=$(md5sum <"$RRD/h/web/time.rrd")

CONF=$ENV_DIR/itsmd.conf
cat >"$CONF" <<EOF
database "dbname=unused"
rrd-dir "$RRD"
rrd { archive 2d@step 1y@1d; consolidate average }
host "h" {
    address 127.0.0.1
    probe "web" tcp { port 1; interval 60s }
    probe "other" tcp { port 1; interval 5m; rrd { archive 2d@step; consolidate min average max } }
}
EOF
CTL() { "$BUILD/itsmctl" -c "$CONF" "$@"; }

out=$(CTL rrd migrate --dry-run 2>&1)
rc=$?
if [ $rc = 0 ] && [[ $out == *"/h/web/time.rrd: step 300s; the configuration now says 60s"* ]] &&
    [[ $out == *"/h/other/time.rrd: bounds U..U; the configuration now says 0..U"* ]] &&
    [[ $out == *"2 files to migrate, 0 already as configured"* ]]; then
	tap_ok "--dry-run names each file and how it differs"
else tap_fail "--dry-run names each file and how it differs" "rc $rc: $out"; fi
tap_check "--dry-run leaves the files alone" test "$(md5sum <"$RRD/h/web/time.rrd")" = "$SUM0"

out=$(CTL rrd migrate h web 2>&1)
rc=$?
tap_check "migrating one probe: exit 0 ($out)" test $rc = 0
INFO=$(rrdtool info "$RRD/h/web/time.rrd")
info_has() { printf '%s\n' "$INFO" | grep -qxF "$1"; }
tap_check "the new step is the probe's interval" info_has "step = 60"
tap_check "the new archives are the conf's (full 2 days, daily 1 year, AVERAGE)" \
    test "$(printf '%s\n' "$INFO" | grep -E '^rra\[[0-9]+\]\.(cf|rows|pdp_per_row) ' | tr '\n' ' ')" = \
    'rra[0].cf = "AVERAGE" rra[0].rows = 2880 rra[0].pdp_per_row = 1 rra[1].cf = "AVERAGE" rra[1].rows = 366 rra[1].pdp_per_row = 1440 '
tap_check "and the bounds of a duration (min 0)" info_has "ds[value].min = 0.0000000000e+00"
# the history came along: the last 12 hours at full resolution are 7
hist() {
	rrdtool fetch "$RRD/h/web/time.rrd" AVERAGE -r 60 -s $((NOW - 43200)) -e $((NOW - 3600)) |
	    awk -F': ' 'NF == 2 && $2 !~ /nan/ { n++; if ($2 + 0 != 7) bad++ } END { print n + 0 ":" bad + 0 }'
}
h=$(hist)
if [ "${h%%:*}" -gt 500 ] && [ "${h#*:}" = 0 ]; then tap_ok "its history is kept ($h values of 7)"
else tap_fail "its history is kept" "known:bad = $h"; fi
tap_check "the owner is kept" test "$(stat -c %U "$RRD/h/web/time.rrd")" = itsmd
tap_check "the other probe's file is untouched" sh -c "rrdtool info '$RRD/h/other/time.rrd' | grep -qx 'ds\[value\].min = NaN'"

out=$(CTL rrd migrate 2>&1)
tap_check "migrating all: the rest ($out)" test "$(printf '%s\n' "$out" | tail -n 1)" = "1 file migrated, 1 already as configured"
out=$(CTL rrd migrate 2>&1)
tap_check "a second run has nothing to do" test "$out" = "0 files migrated, 2 already as configured"
out=$(CTL rrd migrate nosuch 2>&1)
rc=$?
tap_check "an unknown host: exit 1 with the reason" test "$rc:$out" = "1:itsmctl: rrd migrate: no host 'nosuch' in $CONF"
tap_done
