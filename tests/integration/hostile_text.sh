#!/usr/bin/env bash
# hostile_text.sh: a summary (from an HTTP probe's reason) and operator
# comments holding quotes, SQL, newlines, terminal escapes and invalid UTF-8
# are stored intact (bad bytes as U+FFFD, since PostgreSQL takes only UTF-8)
# and shown safely: one table line per row, no control bytes reach the
# terminal, --json parses, and the table the SQL names is still there.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_db
HTTP_PORT=$(free_port tcp)
httpd_start "$ENV_DIR" "$HTTP_PORT" || { tap_fail "environment: httpd"; exit 1; }
mkdir -p "$ENV_DIR/rrd"
chown itsmd: "$ENV_DIR/rrd"

# In the conf: a quote, SQL, a newline (\n escape) and a byte that is not UTF-8.
CONF=$ENV_DIR/itsmd.conf
printf '%s\n' \
    "database \"dbname=itsmd host=$PGHOST port=$PGPORT user=postgres\"" \
    "rrd-dir \"$ENV_DIR/rrd\"" \
    'host "web" {' \
    '    address 127.0.0.1' \
    "    probe \"page\" http {" \
    "        url \"http://127.0.0.1:$HTTP_PORT/\"" \
    "        interval 1s" \
    $'        body-contains "it\'s \\"x\\"); DROP TABLE incidents;--\\nnext line \xff\xfe end"' \
    '    }' \
    '}' >"$CONF"

CTL() { "$BUILD/itsmctl" -d "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres" "$@"; }
open_count() { q "SELECT count(*) FROM incidents WHERE resolved_at IS NULL"; }
open_is() { [ "$(open_count)" = "$1" ]; }
# no byte below 0x20 but newline, no DEL
clean_output() { ! LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$1"; }

tap_check "itsmd -t takes the hostile conf" "$BUILD/itsmd" -t -c "$CONF"
itsmd_start "$CONF"
if wait_until 15 open_is 1; then tap_ok "the incident with a hostile summary is stored"
else tap_fail "the incident with a hostile summary is stored" "open=$(open_count); $(tail -n 3 "$ITSMD_LOG")"; fi
ID=$(q "SELECT id FROM incidents WHERE resolved_at IS NULL")
tap_check "the SQL in the text did nothing" test "$(q "SELECT to_regclass('incidents') IS NOT NULL")" = t
want=$'it\'s "x"); DROP TABLE incidents;--\nnext line \xef\xbf\xbd\xef\xbf\xbd end'
tap_check "summary kept whole: quote, SQL, newline; bad bytes as U+FFFD" \
	test "$(q "SELECT position(\$\$$want\$\$ IN summary) > 0 FROM incidents WHERE id = ${ID:-0}")" = t

COMMENT=$'o\'hara said "ok"; DELETE FROM incidents; -- \\ \n\e[31mred\e[0m \xc3\x28 done'
CTL incident comment "$ID" -u "eve\"'; --" "$COMMENT" >/dev/null
tap_check "a hostile comment is accepted" test $? = 0
CTL incident ack "$ID" -u $'mal\nlory' $'ack \x07bell' >/dev/null
tap_check "a hostile ack is accepted" test $? = 0
tap_check "incidents table intact after the comments" test "$(q "SELECT count(*) FROM incidents")" = 1
stored=$(q "SELECT text FROM incident_events WHERE kind = 'comment'")
tap_check "comment stored as given (newline, escape kept; bad byte as U+FFFD)" \
	test "$stored" = $'o\'hara said "ok"; DELETE FROM incidents; -- \\ \n\e[31mred\e[0m \xef\xbf\xbd( done'

CTL incidents >"$ENV_DIR/list.txt"
tap_check "incidents: one line per row" test "$(wc -l <"$ENV_DIR/list.txt")" = 2
tap_check "incidents: no control bytes reach the terminal" clean_output "$ENV_DIR/list.txt"
CTL incident show "$ID" >"$ENV_DIR/show.txt"
tap_check "incident show: no control bytes reach the terminal" clean_output "$ENV_DIR/show.txt"
tap_check "incident show: the comment is there" grep -q 'DELETE FROM incidents' "$ENV_DIR/show.txt"
json_ok() {
	CTL "$@" | python3 -c 'import json, sys
d = json.load(sys.stdin)
s = json.dumps(d, ensure_ascii=False)
assert "DROP TABLE incidents" in s and "\ufffd" in s, s[:200]'
}
tap_check "incidents --json parses and keeps the text" json_ok incidents --json
tap_check "incident show --json parses and keeps the text" json_ok incident show "$ID" --json

itsmd_stop 15
tap_check "SIGTERM exits 0" test $? = 0
tap_done
