#!/usr/bin/env bash
# sla_report.sh: the SLA arithmetic of schema/004_sla.sql on synthetic
# availability histories in real PostgreSQL, each figure asserted to the
# second against values computed by hand below: month boundaries, an
# October in Europe/Berlin (DST ends Sunday 25th: a 25-hour day) with
# service hours and a holiday, maintenance excluded vs counted as up,
# WARNING down or not, unknown time, MTTR/MTBF, no data before the first
# row or after now; itsmd_avail's journal rules; `itsmctl sla` as a table,
# --json, --csv and `sla report -o DIR`; GET /sla from the daemon.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_db

# A history: one row per line, "STATE MAINT START END" in UTC; END - = open.
history() {
	local subject=$1 state maint start end n=0
	shift
	while read -r state maint start end; do
		[ -n "$state" ] || continue
		n=$((n + 1))
		[ "$end" = - ] && end=NULL || end="'$end+00'"
		printf "INSERT INTO availability (kind, subject, state, maintenance, started_at, ended_at, change_key) VALUES ('service', '%s', '%s', %s, '%s+00', %s, '%s-%d');\n" \
		    "$subject" "$state" "$maint" "${start/T/ }" "${end/T/ }" "$subject" $n
	done | psql -XqAt -v ON_ERROR_STOP=1 >/dev/null
}

# figures SLA PERIOD: counted|up|down|unknown|maintenance|budget|left|
# incidents|mttr|mtbf|achieved%|policy, seconds without trailing zeros.
figures() {
	q "SELECT concat_ws('|', trim_scale(counted_s), trim_scale(up_s), trim_scale(down_s),
	    trim_scale(unknown_s), trim_scale(maintenance_s), trim_scale(budget_s),
	    trim_scale(budget_left_s), incidents, coalesce(trim_scale(mttr_s)::text, '-'),
	    coalesce(trim_scale(mtbf_s)::text, '-'), trim_scale(achieved_pct), maintenance_policy)
	    FROM sla_reports('$2', '', '$1')"
}
expect() {
	local name=$1 sla=$2 period=$3 want=$4 got
	got=$(figures "$sla" "$period")
	if [ "$got" = "$want" ]; then tap_ok "$name"
	else tap_fail "$name" "$sla $period: got $got, want $want"; fi
}

# ------------------------------------------------------------------ A: UTC
# Service s-a, 24x7 in UTC, two SLAs on the same history.
q "SELECT itsmd_sla_define('a', 's-a', 99.9, 'month', 'UTC', '', '', 'critical', 'exclude', 1)" >/dev/null
q "SELECT itsmd_sla_define('a-warn', 's-a', 99.9, 'month', 'UTC', '', '', 'critical,warning', 'up', 2)" >/dev/null
history s-a <<'EOF'
ok       false 2026-09-01T00:00 2026-09-30T22:00
critical false 2026-09-30T22:00 2026-10-01T03:00
ok       false 2026-10-01T03:00 2026-10-10T00:00
critical false 2026-10-10T00:00 2026-10-10T00:30
warning  false 2026-10-10T00:30 2026-10-10T01:00
ok       false 2026-10-10T01:00 2026-10-20T00:00
unknown  false 2026-10-20T00:00 2026-10-20T02:00
ok       true  2026-10-20T02:00 2026-10-20T03:00
critical true  2026-10-20T03:00 2026-10-20T04:00
ok       false 2026-10-20T04:00 2026-11-05T00:00
EOF
# September (30 d = 2592000 s): down only 22:00-24:00 on the 30th of the
# outage crossing into October: 7200.  counted 2592000, up 2584800,
# budget 2592000 * 0.001 = 2592, left 2592 - 7200 = -4608; one incident
# (it starts in September), MTTR its September part 7200, MTBF 2584800 / 1;
# achieved 2584800 / 2592000 = 99.722222%.
expect "month boundary: the outage crossing into October counts its September part" a 2026-09 \
    "2592000|2584800|7200|0|0|2592|-4608|1|7200|2584800|99.722222|exclude"
# October (31 d = 2678400 s), SLA a (down = critical, maintenance excluded):
#   down: 00:00-03:00 on the 1st (the same outage's October part) 10800
#         + 00:00-00:30 on the 10th 1800 = 12600 (the WARNING after it is up)
#   unknown: 7200 (the 20th 00:00-02:00), not counted
#   maintenance: 7200 (02:00-04:00, CRITICAL inside it is not down), excluded
#   counted 2678400 - 7200 - 7200 = 2664000; up 2664000 - 12600 = 2651400
#   budget 2664000 * 0.001 = 2664; left 2664 - 12600 = -9936
#   incidents: the one starting in October (the 10th): 1, MTTR 1800,
#   MTBF 2651400; achieved 2651400 / 2664000 = 99.527027%
expect "October: down, unknown and excluded maintenance, to the second" a 2026-10 \
    "2664000|2651400|12600|7200|7200|2664|-9936|1|1800|2651400|99.527027|exclude"
# SLA a-warn (down = critical + warning, maintenance counted as up):
#   down 10800 + 1800 + 1800 (the WARNING) = 14400; unknown 7200
#   counted 2678400 - 7200 = 2671200 (maintenance counts, as up)
#   up 2671200 - 14400 = 2656800 (7200 of it maintenance)
#   budget 2671200 * 0.001 = 2671.2; left 2671.2 - 14400 = -11728.8
#   incidents: CRITICAL then WARNING are one episode of 3600: 1, MTTR 3600;
#   MTBF 2656800; achieved 2656800 / 2671200 = 99.460916%
expect "WARNING counted as down, maintenance counted as up" a-warn 2026-10 \
    "2671200|2656800|14400|7200|7200|2671.2|-11728.8|1|3600|2656800|99.460916|up"
# The contract's own function over explicit bounds gives the same.
tap_check "sla_report() over explicit bounds agrees" test "$(q "SELECT down_s, counted_s, incidents FROM sla_report('a', '2026-10-01 00:00+00', '2026-11-01 00:00+00')")" = "12600|2664000|1"

# ---------------------------------------------------------- B: Berlin, DST
# Service s-b: Mon-Fri 08:00-18:00 Europe/Berlin, Friday 30 October a
# holiday.  October 2026 there: Thu 1 .. Sat 31; CEST (+2) until Sunday 25
# 03:00, CET (+1) after.  Weekdays: 1, 2, 5-9, 12-16, 19-23, 26-30 = 22,
# minus the holiday = 21 days * 10 h = 756000 s of service hours.
q "SELECT itsmd_sla_define('b-hours', 's-b', 99.5, 'month', 'Europe/Berlin', 'mon-fri 08:00-18:00', '2026-10-30', 'critical', 'exclude', 2)" >/dev/null
q "SELECT itsmd_sla_define('b-day', 's-b', 99, 'day', 'Europe/Berlin', '', '', 'critical', 'exclude', 2)" >/dev/null
history s-b <<'EOF'
ok       false 2026-09-28T00:00 2026-10-23T06:00
critical false 2026-10-23T06:00 2026-10-23T07:00
ok       false 2026-10-23T07:00 2026-10-24T10:00
critical false 2026-10-24T10:00 2026-10-24T12:00
ok       false 2026-10-24T12:00 2026-10-26T06:00
critical false 2026-10-26T06:00 2026-10-26T07:30
ok       false 2026-10-26T07:30 2026-10-27T16:30
critical false 2026-10-27T16:30 2026-10-28T07:30
ok       false 2026-10-28T07:30 2026-10-28T12:00
unknown  false 2026-10-28T12:00 2026-10-28T13:00
ok       false 2026-10-28T13:00 2026-10-30T09:00
critical false 2026-10-30T09:00 2026-10-30T10:00
ok       false 2026-10-30T10:00 -
EOF
# Outages in local time and their service-hours part:
#   Fri 23 06:00-07:00Z = 08:00-09:00 CEST           3600
#   Sat 24 10:00-12:00Z, weekend                     0 (no incident)
#   Mon 26 06:00-07:30Z = 07:00-08:30 CET            1800 (CEST would give 5400)
#   Tue 27 16:30Z - Wed 28 07:30Z = 17:30 - 08:30 CET 1800 + 1800 = 3600, one incident
#   Fri 30 09:00-10:00Z, the holiday                 0 (no incident)
#   unknown Wed 28 12:00-13:00Z = 13:00-14:00 CET    3600
# down 9000; counted 756000 - 3600 = 752400; up 752400 - 9000 = 743400
# budget 752400 * 0.005 = 3762; left 3762 - 9000 = -5238
# incidents 3, MTTR 9000 / 3 = 3000, MTBF 743400 / 3 = 247800
# achieved 743400 / 752400 = 98.803828%
expect "Berlin service hours across the DST change, a holiday, the weekend" b-hours 2026-10 \
    "752400|743400|9000|3600|0|3762|-5238|3|3000|247800|98.803828|exclude"
# Wednesday 28 October alone (08:00-18:00 CET = 07:00-17:00Z, 36000 s):
# the outage from Tuesday is still going at the day's start, so its
# 07:00-07:30Z part is downtime (1800) but no incident of the day; ok
# 07:30-12:00Z 16200 + 13:00-17:00Z 14400 = 30600 up; unknown 3600;
# counted 32400, budget 162, left 162 - 1800 = -1638;
# achieved 30600 / 32400 = 94.444444%.
expect "an outage going at the period's start: downtime, not an incident" b-hours 2026-10-28 \
    "32400|30600|1800|3600|0|162|-1638|0|-|-|94.444444|exclude"
# ISO week 43 = Mon 19 .. Sun 25 October, all CEST: 5 days * 10 h = 180000;
# down the Friday's 3600 only; up 176400; budget 900; left -2700;
# achieved 176400 / 180000 = 98%.
expect "ISO week 2026-W43" b-hours 2026-W43 \
    "180000|176400|3600|0|0|900|-2700|1|3600|176400|98|exclude"
# Sunday 25 October has 25 hours: 90000 s, all up; budget 900.
expect "the DST day is 25 hours long" b-day 2026-10-25 \
    "90000|90000|0|0|0|900|900|0|-|-|100|exclude"
tap_check "sla_period(): the calendar day in Berlin, 23:00Z to 23:00Z, 25 h" \
    test "$(q "SELECT sla_period('b-day', '2026-10-25 12:00+00') = tstzrange('2026-10-24 22:00+00', '2026-10-25 23:00+00')")" = t
tap_check "sla_period_parse(): 2026-Q4 and 2026 in Berlin" \
    test "$(q "SELECT sla_period_parse('b-hours', '2026-Q4')::text || ' ' || sla_period_parse('b-hours', '2026')::text")" = \
    '["2026-09-30 22:00:00+00","2026-12-31 23:00:00+00") ["2025-12-31 23:00:00+00","2026-12-31 23:00:00+00")'

tap_check "sla_period_parse(): 2026-W53 exists (28 Dec - 4 Jan), 29 February only in 2028" \
    test "$(q "SELECT sla_period_parse('a', '2026-W53')::text || ' ' || sla_period_parse('a', '2028-02-29')::text")|$(psql -XtAqc "SELECT sla_period_parse('a', '2026-02-29')" 2>&1 | grep -c 'not a date')" = \
    '["2026-12-28 00:00:00+00","2027-01-04 00:00:00+00") ["2028-02-29 00:00:00+00","2028-03-01 00:00:00+00")|1'

# s-e: Mon-Fri 08:00-18:00 UTC and a gap in the data (no row 09:00-10:00),
# on Monday 5 October (36000 s of service hours): ok 08-09 3600; the gap
# 3600 is not counted; CRITICAL 10:00-10:30 1800 down (one incident); its
# WARNING 10:30-11:00 1800 up; ok 11-17 21600; unknown 17-18 3600 (the row
# runs to 19:00).  up 3600 + 1800 + 21600 = 27000, counted 28800, budget
# 288, left 288 - 1800 = -1512, MTTR 1800, MTBF 27000, achieved 93.75%.
q "SELECT itsmd_sla_define('e', 's-e', 99, 'month', 'UTC', 'mon-fri 08:00-18:00', '', 'critical', 'exclude', 2)" >/dev/null
history s-e <<'EOF2'
ok       false 2026-10-05T07:00 2026-10-05T09:00
critical false 2026-10-05T10:00 2026-10-05T10:30
warning  false 2026-10-05T10:30 2026-10-05T11:00
ok       false 2026-10-05T11:00 2026-10-05T17:00
unknown  false 2026-10-05T17:00 2026-10-05T19:00
EOF2
expect "a gap in the data is not counted, within service hours" e 2026-10-05 \
    "28800|27000|1800|3600|0|288|-1512|1|1800|27000|93.75|exclude"

# --------------------------------------------------- C: no data, and now
# s-c's first row starts 15 October: before it there is no data, so
# October counts 17 days = 1468800 s, and the current period counts up to
# now only.
q "SELECT itsmd_sla_define('c', 's-c', 99, 'month', 'UTC', '', '', 'critical', 'exclude', 2)" >/dev/null
history s-c <<'EOF'
ok false 2026-10-15T00:00 -
EOF
expect "no data before the first row: not counted" c 2026-10 \
    "1468800|1468800|0|0|0|14688|14688|0|-|-|100|exclude"
NOWDIFF=$(q "SELECT abs(counted_s - extract(epoch FROM now() - greatest(lower(sla_period('c', now())), '2026-10-15 00:00+00'))) < 2 FROM sla_report('c', lower(sla_period('c', now())), upper(sla_period('c', now())))")
tap_check "the current period is counted up to now, not to its end" test "$NOWDIFF" = t

# ------------------------------------------------------- burn rate
# Over [Fri 23 05:00Z, 07:00Z] s-b was down 06:00-07:00Z, of which the
# service hours (from 06:00Z = 08:00 CEST) are 3600: down fraction 1 over
# the allowed 0.005 = 200.
tap_check "sla_burn(): all-down window burns 1 / 0.005 = 200" \
    test "$(q "SELECT round(sla_burn('b-hours', '2026-10-23 07:00+00', 7200)::numeric, 6)")" = 200.000000
tap_check "sla_burn(): outside service hours, no data counted: 0" \
    test "$(q "SELECT sla_burn('b-hours', '2026-10-24 12:00+00', 3600)")" = 0

# ---------------------------------------------------- the journal rules
T0=1790000000000
av() { q "SELECT itsmd_avail('$1', 'service', 's-d', '$2', $3, $4)" >/dev/null; }
av d1 ok false $T0
av d1 ok false $T0
av d2 ok false $((T0 + 1000))
tap_check "itsmd_avail: a replayed key and an unchanged state add nothing" \
    test "$(q "SELECT count(*) FROM availability WHERE subject = 's-d'")" = 1
av d3 critical false $((T0 + 5000))
av d4 ok false $((T0 + 2000))
av d3 critical false $((T0 + 5000))
ROWS=$(q "SELECT string_agg(state || ':' || (extract(epoch FROM started_at) * 1000 - $T0)::bigint || ':' || coalesce((extract(epoch FROM ended_at) * 1000 - $T0)::bigint::text, 'open'), ' ' ORDER BY id) FROM availability WHERE subject = 's-d'")
tap_check "itsmd_avail: an older change is clamped to the open interval's start ($ROWS)" \
    test "$ROWS" = "ok:0:5000 critical:5000:5000 ok:5000:open"
tap_check "no two intervals of a subject overlap, one is open per subject" \
    test "$(q "SELECT count(*) FROM availability a JOIN availability b ON a.kind = b.kind AND a.subject = b.subject AND a.id < b.id AND tstzrange(a.started_at, coalesce(a.ended_at, 'infinity')) && tstzrange(b.started_at, coalesce(b.ended_at, 'infinity'))")|$(q "SELECT count(*) FROM availability WHERE ended_at IS NULL GROUP BY subject HAVING count(*) > 1")" = "0|"
tap_check "an unknown time zone is refused, naming it" \
    sh -c "psql -XtAqc \"SELECT itsmd_sla_define('z', 's', 99, 'month', 'Mars/Olympus', '', '', 'critical', 'exclude', 2)\" 2>&1 | grep -q 'Mars/Olympus'"

# ----------------------------------------------------------------- itsmctl
CTL() { "$BUILD/itsmctl" -d "dbname=itsmd" "$@"; }
out=$(CTL sla --period 2026-10 --service s-b 2>&1)
line=$(printf '%s\n' "$out" | grep '^s-b  *b-hours')
if [[ $out == SERVICE*SLA*PERIOD*TARGET*ACHIEVED*DOWNTIME*"BUDGET LEFT"*INCIDENTS*MTTR*MTBF*UNKNOWN*MAINTENANCE* ]] &&
    [ "$(echo $line)" = "s-b b-hours 2026-10-01..2026-10-31 Europe/Berlin 99.5% 98.803% 02:30:00 -01:27:18 3 00:50:00 2d 20:50:00 01:00:00 excluded 00:00:00" ]; then
	tap_ok "itsmctl sla: the table, durations as [Nd ]HH:MM:SS, the policy shown"
else tap_fail "itsmctl sla: the table" "$out"; fi
tap_check "itsmctl sla --service: only that service's SLAs" \
    test "$(printf '%s\n' "$out" | grep -c '^s-')" = 2
out=$(CTL sla --period 2026-10 --json 2>&1)
if printf '%s' "$out" | python3 -c '
import json, sys
r = {x["sla"]: x for x in json.load(sys.stdin)}
a, w = r["a"], r["a-warn"]
assert len(r) == 6, r.keys()
assert (a["service"], a["down_s"], a["counted_s"], a["budget_left_s"], a["incidents"], a["mttr_s"]) == ("s-a", 12600, 2664000, -9936, 1, 1800), a
assert (w["down_s"], w["budget_left_s"], w["maintenance_policy"]) == (14400, -11728.8, "up"), w
assert r["b-hours"]["time_zone"] == "Europe/Berlin" and r["b-hours"]["period_from"] == "2026-09-30T22:00:00+00:00"
' 2>&1; then tap_ok "itsmctl sla --json: every SLA, the figures as numbers"
else tap_fail "itsmctl sla --json" "$out"; fi
out=$(CTL sla --period 2026-10 --sla a --csv 2>&1)
if [ "$(printf '%s\n' "$out" | head -n 1)" = "service,sla,period_from,period_to,time_zone,target,achieved_pct,counted_s,up_s,down_s,unknown_s,maintenance_s,budget_s,budget_left_s,incidents,mttr_s,mtbf_s,maintenance_policy" ] &&
    [ "$(printf '%s\n' "$out" | wc -l)" = 2 ] &&
    [ "$(printf '%s\n' "$out" | sed -n 2p | cut -d, -f2,7,8,10,14,15)" = "a,99.527027,2664000.000,12600.000,-9936.000,1" ]; then
	tap_ok "itsmctl sla --csv --sla: a header and that SLA's line"
else tap_fail "itsmctl sla --csv --sla" "$out"; fi
out=$(CTL sla --period 2026-13 2>&1)
rc=$?
if [ $rc = 1 ] && [[ $out == *'period "2026-13": not a date'* ]]; then
	tap_ok "a bad period is refused, named: $(printf '%s\n' "$out" | head -n 1)"
else tap_fail "a bad period is refused, named" "exit $rc: $out"; fi
REP=$ENV_DIR/reports
out=$(CTL sla report --period 2026-10 -o "$REP" 2>&1)
if [ -s "$REP/sla-2026-10.txt" ] && [ "$(wc -l <"$REP/sla-2026-10.csv")" = 7 ] &&
    python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 6' "$REP/sla-2026-10.json" &&
    grep -q '^s-c  *c  ' "$REP/sla-2026-10.txt" && grep -q 'excluded' "$REP/sla-2026-10.txt"; then
	tap_ok "itsmctl sla report -o DIR: text, CSV and JSON for every service"
else tap_fail "itsmctl sla report -o DIR" "$out; $(ls "$REP" 2>&1)"; fi

# ------------------------------------------------------------- HTTP API
API_PORT=$(free_port tcp)
CONF=$ENV_DIR/itsmd.conf
cat >"$CONF" <<EOF
database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
rrd-dir "$ENV_DIR/rrd"
listen 127.0.0.1:$API_PORT
EOF
mkdir -p "$ENV_DIR/rrd"
chown itsmd: "$ENV_DIR/rrd" 2>/dev/null
itsmd_start "$CONF"
URL=http://127.0.0.1:$API_PORT
get() { curl -s -o "$2" -w '%{http_code}' --max-time 10 "$URL$1"; }
api_up() { [ "$(get "/sla?period=2026-10&service=s-b" "$ENV_DIR/api.json")" = 200 ]; }
if env_wait_for 15 "$ITSMD_PID" api_up; then tap_ok "GET /sla answers 200"
else tap_fail "GET /sla answers 200" "$(tail -n 5 "$ITSMD_LOG")"; fi
if python3 - "$ENV_DIR/api.json" "$(CTL sla --period 2026-10 --service s-b --json)" <<'PY' 2>&1
import json, sys
api = json.load(open(sys.argv[1])); ctl = json.loads(sys.argv[2])
assert api == ctl, (api, ctl)
assert [x["sla"] for x in api] == ["b-day", "b-hours"]
assert api[1]["down_s"] == 9000 and api[1]["incidents"] == 3
PY
then tap_ok "GET /sla?service=&period= gives itsmctl sla --json's figures"
else tap_fail "GET /sla gives itsmctl's figures"; fi
code=$(get "/sla?period=2026-13" "$ENV_DIR/bad.txt")
tap_check "GET /sla with a bad period: 400 naming it ($code $(cat "$ENV_DIR/bad.txt"))" \
    sh -c "[ '$code' = 400 ] && grep -q '2026-13' '$ENV_DIR/bad.txt'"
code=$(get "/sla?period=x%3By" "$ENV_DIR/bad2.txt")
tap_check "GET /sla with junk in the period: 400 before any SQL" test "$code" = 400
code=$(get "/sla?sla=nosuch" "$ENV_DIR/none.json")
tap_check "GET /sla for an unknown SLA: an empty list" \
    sh -c "[ '$code' = 200 ] && [ \"\$(cat '$ENV_DIR/none.json')\" = '[]' ]"
# PostgreSQL gone: the endpoint says so at once instead of queueing the
# request behind the reconnect.
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$ENV_PGDATA" -m fast -w stop >/dev/null 2>&1
api_503() { [ "$(get "/sla?period=2026-10" "$ENV_DIR/down.txt")" = 503 ]; }
if wait_until 10 api_503; then tap_ok "GET /sla while PostgreSQL is down: 503 ($(cat "$ENV_DIR/down.txt"))"
else tap_fail "GET /sla while PostgreSQL is down: 503" "$(cat "$ENV_DIR/down.txt" 2>&1)"; fi
itsmd_stop 15
rc=$?
tap_check "SIGTERM exits 0" test "$rc" = 0
tap_done
