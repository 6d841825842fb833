#!/usr/bin/env bash
# db_itsmctl.sh: itsmctl against a real PostgreSQL 15: migrations apply once
# (also when three race), the partial unique index holds one open incident per
# host+check, and `itsmctl incidents` shows what is in the table.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/env/lib.sh

CTL=$BUILD/itsmctl
env_init
if [ ! -x "$CTL" ]; then
	tap_fail "itsmctl is built" "no $CTL"
	exit 1
fi
if ! pg_start "$ENV_DIR"; then
	tap_fail "postgres starts" "see the messages above"
	exit 1
fi
DB="dbname=itsmd"		# PGHOST, PGPORT, PGUSER come from pg_start
OUT=$ENV_DIR/out
ERR=$ENV_DIR/err

sql() {
	psql -XqtA -v ON_ERROR_STOP=1 -d itsmd -c "$1"
}

# expect NAME WANT_RC PATTERN CMD...: CMD exits WANT_RC and its stdout+stderr
# match the grep -E PATTERN.
expect() {
	local name=$1 want=$2 pat=$3 rc
	shift 3
	"$@" >"$OUT" 2>"$ERR"
	rc=$?
	if [ "$rc" != "$want" ]; then
		tap_fail "$name" "exit $rc, want $want: $(head -c 300 "$ERR" "$OUT" | tr '\n' ' ')"
	elif ! cat "$OUT" "$ERR" | grep -qE -- "$pat"; then
		tap_fail "$name" "no /$pat/ in: $(cat "$OUT" "$ERR" | head -c 300 | tr '\n' ' ')"
	else
		tap_ok "$name"
	fi
}

# ------------------------------------------------------------- migrate
# Later issues add schema files: count them rather than assume one.
NSCHEMA=$(ls "$ENV_ROOT"/schema/[0-9]*_*.sql | wc -l)
LAST=$(ls "$ENV_ROOT"/schema/[0-9]*_*.sql | sed 's|.*/0*\([0-9]*\)_.*|\1|' | sort -n | tail -n 1)
expect "migrate applies 001" 0 '^applied 001_incidents\.sql$' \
    "$CTL" -d "$DB" db migrate -s "$ENV_ROOT/schema"
v=$(sql "SELECT version || ' ' || name FROM schema_version ORDER BY version LIMIT 1")
n=$(sql "SELECT count(*) FROM schema_version")
[ "$v" = "1 001_incidents.sql" ] && [ "$n" = "$NSCHEMA" ] && tap_ok "schema_version records 001" ||
    tap_fail "schema_version records 001" "got '$v', $n rows for $NSCHEMA files"
expect "second migrate is up to date" 0 '^schema is up to date \(version '"$LAST"'\)$' \
    env ITSMD_SCHEMADIR="$ENV_ROOT/schema" "$CTL" -d "$DB" db migrate
# 006 drops itsmd_event(), which nothing calls; itsmd_change() stays.
fn=$(sql "SELECT string_agg(proname, ' ' ORDER BY proname) FROM pg_proc WHERE proname IN ('itsmd_event', 'itsmd_change')")
[ "$fn" = "itsmd_change" ] && tap_ok "migrations leave itsmd_change and drop itsmd_event" ||
    tap_fail "migrations leave itsmd_change and drop itsmd_event" "functions: '$fn'"
expect "migrate without a schema dir fails" 1 '^itsmctl: schema directory .*/nonexistent' \
    "$CTL" -d "$DB" db migrate -s "$ENV_DIR/nonexistent"

# Three migrates at once on an empty database: the advisory lock lets one
# apply, the others wait and find the row.
createdb itsmd_race
for i in 1 2 3; do
	"$CTL" -d "dbname=itsmd_race" db migrate -s "$ENV_ROOT/schema" \
	    >"$ENV_DIR/race$i" 2>&1 &
	pids[i]=$!
done
race_rc=0
for i in 1 2 3; do
	wait "${pids[i]}" || race_rc=1
done
napplied=$(cat "$ENV_DIR"/race? | grep -c '^applied 001_incidents.sql$')
nrows=$(psql -XqtA -d itsmd_race -c "SELECT count(*) FROM schema_version")
if [ $race_rc = 0 ] && [ "$napplied" = 1 ] && [ "$nrows" = "$NSCHEMA" ]; then
	tap_ok "concurrent migrates apply 001 once"
else
	tap_fail "concurrent migrates apply 001 once" \
	    "rc $race_rc, $napplied applied, $nrows rows: $(cat "$ENV_DIR"/race? | tr '\n' ' ')"
fi

# ----------------------------------------------------- one open incident
expect "no open incidents" 0 '^no open incidents$' "$CTL" -d "$DB" incidents

sql "INSERT INTO incidents (host, check_name, severity, summary, opened_at, last_seen_at)
     VALUES ('web1', 'load', 'critical', 'load1 5.2 > 4', now(), now())" >/dev/null
expect "itsmctl incidents shows a row" 0 \
    '^[0-9]+ +web1 +load +new +- +critical +[0-9-]+ [0-9:]+ +[0-9-]+ [0-9:]+ +0 +load1 5\.2 > 4$' \
    "$CTL" -d "$DB" incidents
grep -qE '^ID +HOST +CHECK +STATUS +PRIO +SEVERITY +OPENED +LAST-SEEN +CIS +SUMMARY$' "$OUT" &&
    tap_ok "incidents has a header" ||
    tap_fail "incidents has a header" "$(head -n 1 "$OUT")"

if sql "INSERT INTO incidents (host, check_name, severity, summary, opened_at, last_seen_at)
    VALUES ('web1', 'load', 'warning', 'second', now(), now())" >"$OUT" 2>&1; then
	tap_fail "second open incident for web1/load rejected" "the INSERT succeeded"
elif grep -q 'incidents_one_open' "$OUT"; then
	tap_ok "second open incident for web1/load rejected"
else
	tap_fail "second open incident for web1/load rejected" "$(tr '\n' ' ' <"$OUT")"
fi
if sql "INSERT INTO incidents (host, check_name, severity, summary, opened_at, last_seen_at)
    VALUES ('web2', 'load', 'warning', 'other host', now(), now())" >/dev/null 2>&1; then
	tap_ok "another host may have its own open incident"
else
	tap_fail "another host may have its own open incident" "INSERT failed"
fi

sql "UPDATE incidents SET resolved_at = now(), resolution = 'load1 0.3'
     WHERE host = 'web1' AND check_name = 'load'" >/dev/null
if sql "INSERT INTO incidents (host, check_name, severity, summary, opened_at, last_seen_at)
    VALUES ('web1', 'load', 'warning', 'load1 2.5 > 2', now(), now())" >"$OUT" 2>&1; then
	tap_ok "new open incident allowed once the first is resolved"
else
	tap_fail "new open incident allowed once the first is resolved" "$(tr '\n' ' ' <"$OUT")"
fi
if sql "INSERT INTO incidents (host, check_name, severity, summary, opened_at, last_seen_at)
    VALUES ('web3', 'load', 'ok', 'x', now(), now())" >/dev/null 2>&1; then
	tap_fail "severity must be warning, critical or unknown" "'ok' was accepted"
else
	tap_ok "severity must be warning, critical or unknown"
fi

expect "incidents -a shows the resolved one" 0 \
    '^[0-9]+ +web1 +load +resolved +- +critical( +[0-9-]+ [0-9:]+){3} +0 +load1 5\.2 > 4$' \
    "$CTL" -d "$DB" incidents -a
grep -qE '^ID +HOST +CHECK +STATUS +PRIO +SEVERITY +OPENED +LAST-SEEN +RESOLVED +CIS +SUMMARY$' "$OUT" &&
    grep -qE '^[0-9]+ +web1 +load +new +- +warning .* - +0 +load1 2\.5 > 2$' "$OUT" &&
    tap_ok "incidents -a lists open ones with RESOLVED -" ||
    tap_fail "incidents -a lists open ones with RESOLVED -" "$(tr '\n' '|' <"$OUT")"

# ------------------------------------------------- conninfo and errors
cat >"$ENV_DIR/itsmd.conf" <<EOF
database "host=$PGHOST port=$PGPORT user=postgres dbname=itsmd"
rrd-dir "rrd"
EOF
expect "database comes from the conf" 0 ' web2 +load +new +- +warning ' \
    "$CTL" -c "$ENV_DIR/itsmd.conf" incidents
expect "cannot connect: clear error, exit 1" 1 '^itsmctl: cannot connect to database: ' \
    "$CTL" -d "dbname=nosuchdb password=hunter2secret" incidents
cat "$OUT" "$ERR" | grep -q hunter2secret &&
    tap_fail "password not shown" "itsmctl printed the password" ||
    tap_ok "password not shown"
expect "malformed conninfo does not echo it" 1 'invalid connection string' \
    "$CTL" -d "dbname=itsmd password hunter2secret" incidents
cat "$OUT" "$ERR" | grep -q hunter2secret &&
    tap_fail "password not shown in a parse error" "itsmctl printed the password" ||
    tap_ok "password not shown in a parse error"
expect "unknown command: usage, exit 1" 1 '^usage: itsmctl' "$CTL" -d "$DB" frobnicate
expect "-V prints the version" 0 '^itsmctl [0-9]+\.[0-9]+' "$CTL" -V

tap_done
