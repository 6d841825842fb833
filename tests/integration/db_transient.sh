#!/usr/bin/env bash
# db_transient.sh: PostgreSQL refuses a change for the moment (a lock held
# by another session past itsmd's lock_timeout: SQLSTATE 55P03, the same
# path as a deadlock, a serialization failure or a full disk on the server).
# itsmd keeps the change and retries it; once the lock is gone the incident
# is there.  Dropping the change, as for an error of the statement itself,
# would lose the incident.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_db
env_snmpd
snmp_set "$ENV_DIR" 1 gauge 10
mkdir -p "$ENV_DIR/rrd"
chown itsmd: "$ENV_DIR/rrd"
# itsmd's sessions give up on a lock after 300 ms
q "ALTER DATABASE itsmd SET lock_timeout = '300ms'" >/dev/null

CONF=$ENV_DIR/itsmd.conf
cat >"$CONF" <<EOF
database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
rrd-dir "$ENV_DIR/rrd"
host "agent" {
    address 127.0.0.1
    snmp-port $SNMP_PORT
    community "public"
    probe "p1" snmp {
        oid value .1.3.6.1.4.1.99999.1
        interval 1s
        critical > 90
    }
}
EOF
open_rows() { q "SELECT count(*) FROM incidents WHERE host = 'agent' AND resolved_at IS NULL"; }
one_open() { [ "$(open_rows)" = 1 ]; }

itsmd_start "$CONF"
tap_check "itsmd connects" wait_until 10 log_has "postgres: connected"
sleep 2

# Another session holds the incidents table for 6 s, then lets go.
psql -Xq -c "BEGIN; LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(6); COMMIT;" \
    >/dev/null 2>&1 &
LOCKER=$!
env_record $LOCKER "psql holding a lock"
locked() { [ "$(q "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
	WHERE c.relname = 'incidents' AND l.mode = 'AccessExclusiveLock' AND l.granted")" = 1 ]; }
tap_check "another session holds the incidents table" wait_until 5 locked
snmp_set "$ENV_DIR" 1 gauge 95

retried() { log_has "postgres: statement failed for now \(.*SQLSTATE 55P03\); kept and retried"; }
tap_check "the refused change is kept and retried, saying why" wait_until 10 retried
tap_check "once the lock is gone the incident is there" wait_until 20 one_open
tap_check "nothing was dropped" sh -c "! grep -q 'dropped' '$ITSMD_LOG'"
wait "$LOCKER" 2>/dev/null
itsmd_stop 10
tap_check "SIGTERM exits 0" test $? = 0
tap_done
