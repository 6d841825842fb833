#!/usr/bin/env bash
# rrd_bounds.sh: a `bounds` line changed for a metric whose file exists.
# itsmd writes 50s into a file bounded 0..100; restarted with bounds
# -10..1000 it tunes the file in place (rrd_tune): `rrdtool info` shows the
# new min and max, the 50s are still there, and a 500, beyond the old max,
# is stored instead of turning unknown; a reload with bounds -10..2000
# tunes it again, without a restart.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

# A database, though no check goes bad: without one, a stop waits 10 s
# for the statements it cannot write.
env_db
env_snmpd
snmp_set "$ENV_DIR" 1 gauge 50
mkdir -p "$ENV_DIR/rrd"
chown itsmd: "$ENV_DIR/rrd"
RRD=$ENV_DIR/rrd/h/g/value.rrd

CONF=$ENV_DIR/itsmd.conf
conf() {	# conf MIN MAX
	cat >"$CONF" <<-EOF
	database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
	rrd-dir "$ENV_DIR/rrd"
	host "h" {
	    address 127.0.0.1
	    snmp-port $SNMP_PORT
	    community "public"
	    probe "g" snmp {
	        oid value .1.3.6.1.4.1.99999.1
	        interval 1s
	        rrd { archive 1h@step; consolidate average; bounds value $1 $2 }
	    }
	}
	EOF
}
info_is() {	# info_is KEY VALUE: as `rrdtool info` prints it
	rrdtool info "$RRD" 2>/dev/null | grep -qxF "ds[value].$1 = $2"
}
# known_values V: how many rows of the last 2 minutes hold V (1 s rows)
known_values() {
	rrdtool fetch "$RRD" AVERAGE -r 1 -s -120 -e now 2>/dev/null |
	    awk -F': ' -v v="$1" 'NF == 2 && $2 !~ /nan/ && $2 + 0 == v { n++ } END { print n + 0 }'
}
at_least() {	# at_least N V
	[ "$(known_values "$2")" -ge "$1" ]
}

conf 0 100
itsmd_start "$CONF"
tap_check "itsmd makes the file bounded 0..100" wait_until 10 info_is max 1.0000000000e+02
tap_check "and stores 50s in it" wait_until 10 at_least 3 50
itsmd_stop 10
tap_check "SIGTERM exits 0" test $? = 0
N50=$(known_values 50)

conf -10 1000
snmp_set "$ENV_DIR" 1 gauge 500
itsmd_start "$CONF"
tuned() { log_has "rrd: $RRD: bounds 0\.\.100; the configuration now says -10\.\.1000: bounds tuned in place"; }
tap_check "after a restart with bounds -10 1000, the log says the file was tuned in place" \
    wait_until 10 tuned
tap_check "rrdtool info shows the new minimum, -10" info_is min -1.0000000000e+01
tap_check "and the new maximum, 1000" info_is max 1.0000000000e+03
tap_check "a 500, beyond the old maximum, is stored, not unknown" wait_until 10 at_least 2 500
n=$(known_values 50)
tap_check "the file keeps its earlier data ($n of $N50 values of 50)" test "$n" -ge "$N50"
tap_check "no 'keeps its layout' for a change of bounds alone" \
    bash -c "! grep -q 'keeps its layout' '$ITSMD_LOG'"

# a reload tunes too: no restart needed for new bounds
conf -10 2000
snmp_set "$ENV_DIR" 1 gauge 1500
kill -HUP "$ITSMD_PID"
retuned() { log_has "rrd: $RRD: bounds -10\.\.1000; the configuration now says -10\.\.2000: bounds tuned in place"; }
tap_check "after a reload with bounds -10 2000, the file is tuned in place" wait_until 10 retuned
tap_check "rrdtool info shows the reloaded maximum, 2000" info_is max 2.0000000000e+03
tap_check "a 1500, beyond the maximum before the reload, is stored" wait_until 10 at_least 2 1500
itsmd_stop 10
tap_check "SIGTERM exits 0" test $? = 0
tap_done
