#!/usr/bin/env bash
# rrd_storage.sh: the RRD directory on a tiny tmpfs that fills up.  itsmd
# logs each failing file at most once per interval, opens an incident on
# its own storage (host itsmd, check storage), keeps probing and keeps
# incident management working, and resolves the storage incident once
# there is room again.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init
MNT=$ENV_DIR/rrd
# Stop itsmd before unmounting (it holds files open), then the usual cleanup.
storage_cleanup() {
	local rc=$?
	if [ -n "$ITSMD_PID" ] && env_alive "$ITSMD_PID"; then
		kill -TERM "$ITSMD_PID" 2>/dev/null
		env_wait_gone 10 "$ITSMD_PID" || kill -KILL "$ITSMD_PID" 2>/dev/null
	fi
	mountpoint -q "$MNT" && umount "$MNT"
	(exit $rc)
	env_cleanup
}
trap storage_cleanup EXIT

env_db
env_snmpd
for n in 1 2 3 4; do snmp_set "$ENV_DIR" $n gauge 10; done
mkdir -p "$MNT"
# A file of the default layout at a 2 s step is about 2.4 MB: two fit.
mount -t tmpfs -o size=6m,mode=0755 tmpfs "$MNT" || { tap_fail "environment: mount tmpfs"; exit 1; }
chown itsmd: "$MNT"

CONF=$ENV_DIR/itsmd.conf
cat >"$CONF" <<EOF
database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
rrd-dir "$MNT"
host "agent" {
    address 127.0.0.1
    snmp-port $SNMP_PORT
    community "public"
    probe "four" snmp {
        oid a .1.3.6.1.4.1.99999.1
        oid b .1.3.6.1.4.1.99999.2
        oid c .1.3.6.1.4.1.99999.3
        oid d .1.3.6.1.4.1.99999.4
        interval 2s
        critical a > 90
    }
}
EOF
open_is() { [ "$(q "SELECT count(*) FROM incidents WHERE host = '$1' AND check_name = '$2' AND resolved_at IS NULL")" = "$3" ]; }

itsmd_start "$CONF"
if wait_until 15 open_is itsmd storage 1; then tap_ok "a full RRD directory opens an incident on itsmd/storage"
else tap_fail "a full RRD directory opens an incident on itsmd/storage" "none open"; fi
SUMMARY=$(q "SELECT summary FROM incidents WHERE host = 'itsmd' AND check_name = 'storage'")
case $SUMMARY in
*"cannot write $MNT/agent/four/"*"no space left"*) tap_ok "its summary names the file and the reason: $SUMMARY" ;;
*) tap_fail "its summary names the file and the reason" "'$SUMMARY'" ;;
esac
tap_check "the storage failure is logged" log_has "rrd: storage failing in $MNT"
sleep 6
# Each failing file complains at most once per 2 s interval: over about
# 10 s that is at most 6 lines for any one file.
worst=$(grep -oE "rrd: $MNT/agent/four/[a-d]\.rrd: cannot create" "$ITSMD_LOG" | sort | uniq -c | sort -rn | awk 'NR == 1 { print $1 + 0 }')
if [ -n "$worst" ] && [ "$worst" -ge 1 ] && [ "$worst" -le 7 ]; then tap_ok "each failing file is logged once per interval at most ($worst lines)"
else tap_fail "each failing file is logged once per interval at most" "worst file: '${worst:-none}' lines"; fi
tap_check "and one summary line per interval counts them" \
    log_has "rrd: [0-9]+ files? failed in the last 2s \\(first: cannot create: "

# Probing and incidents go on.
snmp_set "$ENV_DIR" 1 gauge 95
if wait_until 10 open_is agent four 1; then tap_ok "probing and incident management go on with the disk full"
else tap_fail "probing and incident management go on with the disk full" "no agent/four incident"; fi
tap_check "the daemon keeps running" env_alive "$ITSMD_PID"

# Room again: the missing files are made and the storage incident resolves.
mount -o remount,size=64m "$MNT"
sleep 1
if wait_until 20 open_is itsmd storage 0; then tap_ok "room again: the storage incident resolves"
else tap_fail "room again: the storage incident resolves" "still open"; fi
all_files() { test -f "$MNT/agent/four/a.rrd" -a -f "$MNT/agent/four/b.rrd" -a \
    -f "$MNT/agent/four/c.rrd" -a -f "$MNT/agent/four/d.rrd"; }
tap_check "and the missing files are made" wait_until 10 all_files
itsmd_stop 15
rc=$?
tap_check "SIGTERM exits 0" test "$rc" = 0
tap_done
