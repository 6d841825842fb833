#!/usr/bin/env bash
# sla_burn.sh: a service whose only member fails 1 s in every 5 s burns its
# error budget 20 times faster than sustainable (target 99%: 1% may be down,
# 20% is).  With `burn-rate 5 30s 10s` that opens an sla-risk incident, which
# resolves once the failures stop (the short window clears while the long one
# still burns); a long outage then exhausts a 99.99% daily
# budget and opens the sla-breach incident, P1 for an impact-1 service.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_db
HTTP_PORT=$(free_port tcp)
httpd_start "$ENV_DIR" "$HTTP_PORT" || { tap_fail "environment: httpd"; exit 1; }
http_set "$ENV_DIR" status 200
mkdir -p "$ENV_DIR/rrd"
chown itsmd: "$ENV_DIR/rrd"

# shop-day's day starts within the hour in its zone, so nearly a whole day
# of budget (8.64 s at 99.99%) lies ahead whenever the test runs.
H=$(date -u +%-H)
if [ "$H" -le 12 ]; then DAY_TZ=Etc/GMT+$H; else DAY_TZ=Etc/GMT-$((24 - H)); fi

CONF=$ENV_DIR/itsmd.conf
cat >"$CONF" <<EOF
database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
rrd-dir "$ENV_DIR/rrd"
sla-interval 1s
host "web1" {
    address 127.0.0.1
    probe "home" http {
        url "http://127.0.0.1:$HTTP_PORT/"
        interval 1s
        timeout 1s
    }
}
service "shop" {
    member "web1" "home"
    impact 1
    sla "shop-burn" {
        target 99%
        period day
        maintenance exclude
        burn-rate 5 30s 10s
    }
    sla "shop-day" {
        target 99.99%
        period day
        time-zone "$DAY_TZ"
        maintenance exclude
        burn-rate 100000 2s 1s
    }
}
EOF

# severity and priority of the open incident of shop's CHECK, or nothing
open_inc() { q "SELECT severity || ' P' || priority FROM incidents
	WHERE host = 'shop' AND check_name = '$1' AND resolved_at IS NULL"; }
is_open() { [ -n "$(open_inc "$1")" ]; }
is_closed() { [ -z "$(open_inc "$1")" ] && [ -n "$(q "SELECT 1 FROM incidents
	WHERE host = 'shop' AND check_name = '$1'")" ]; }
now_s() { echo "${EPOCHREALTIME%.*}"; }

tap_check "the conf with a service and two SLAs is valid" "$BUILD/itsmd" -t -c "$CONF"
itsmd_start "$CONF"
wait_until 10 log_has "service shop: ok"
tap_check "SLAs are defined in PostgreSQL" test "$(q "SELECT string_agg(name || '=' ||
	target || '/' || period, ' ' ORDER BY name) FROM sla")" = "shop-burn=99/day shop-day=99.99/day"

# 1 s down in every 5 s: 20% down, 20x the 1% a 99% target allows.
(
	trap 'kill $! 2>/dev/null; exit 0' TERM	# and its sleep with it
	while :; do
		http_set "$ENV_DIR" status 500; sleep 1 & wait $!
		http_set "$ENV_DIR" status 200; sleep 4 & wait $!
	done
) &
PATTERN=$!
env_record $PATTERN "failure pattern"
T0=$(now_s)
if wait_until 20 is_open "sla-risk[shop-burn]"; then
	tap_ok "burning 20x opens an sla-risk incident (after $(( $(now_s) - T0 )) s)"
else
	tap_fail "burning 20x opens an sla-risk incident" "none after 20 s"
fi
tap_check "sla-risk is a warning, P2 for impact 1" \
	test "$(open_inc "sla-risk[shop-burn]")" = "warning P2"
tap_check "its summary gives the burn rates" \
	log_has "shop/sla-risk\[shop-burn\] warning: SLA shop-burn at risk: error budget burning [0-9.]+x over 30 s and [0-9.]+x over 10 s \(rule 5x\)"

# 12 s of the pattern in all (3 failures), most of the long window
sleep $(( T0 + 12 - $(now_s) > 0 ? T0 + 12 - $(now_s) : 0 ))
kill "$PATTERN"
wait "$PATTERN" 2>/dev/null
http_set "$ENV_DIR" status 200
T1=$(now_s)
if wait_until 20 is_closed "sla-risk[shop-burn]"; then
	tap_ok "failures stop: sla-risk resolves (after $(( $(now_s) - T1 )) s)"
else
	tap_fail "failures stop: sla-risk resolves" "still $(open_inc "sla-risk[shop-burn]")"
fi
# Both windows must burn: the 30 s one still does, the 10 s one no longer.
BURN=$(q "SELECT round(sla_burn('shop-burn', now(), 30)::numeric, 1) || ' ' ||
	round(sla_burn('shop-burn', now(), 10)::numeric, 1)")
set -- $BURN
if [ $# = 2 ] && [ "${1%.*}" -ge 5 ] && [ "${2%.*}" -lt 5 ]; then
	tap_ok "it resolved on the short window while the long one still burns ($BURN)"
else
	tap_fail "it resolved on the short window while the long one still burns" "burn 30s/10s: $BURN"
fi

tap_check "no sla-breach while budget is left (3 s of failures so far)" \
	test -z "$(open_inc "sla-breach[shop-day]")"
# An outage longer than what is left of the 99.99% daily budget.
http_set "$ENV_DIR" status 500
if wait_until 25 is_open "sla-breach[shop-day]"; then
	tap_ok "an outage exhausting the budget opens sla-breach"
else
	tap_fail "an outage exhausting the budget opens sla-breach" "none after 25 s"
fi
tap_check "sla-breach is critical, P1 for impact 1" \
	test "$(open_inc "sla-breach[shop-day]")" = "critical P1"
# the day's allowance: counted time so far and service hours still ahead
LEFT=$(q "SELECT r.down_s >= (1 - r.target / 100) * (r.counted_s + sla_seconds(
	sla_hours_in('shop-day', now(), upper(p.r)))) AND r.down_s > 5
	FROM sla_period('shop-day', now()) p(r),
	LATERAL sla_report('shop-day', lower(p.r), upper(p.r)) r")
tap_check "PostgreSQL's figures agree the budget is gone" test "$LEFT" = t
http_set "$ENV_DIR" status 200
wait_until 5 log_has "service shop: ok"
sleep 1.5	# a few evaluations after the recovery
tap_check "recovery does not refill the budget: the breach stays open" \
	is_open "sla-breach[shop-day]"
tap_check "one sla-breach incident, not a stream" \
	test "$(q "SELECT count(*) FROM incidents WHERE check_name = 'sla-breach[shop-day]'")" = 1

# A reload applies changes: a new target, and a dropped SLA's incident resolves.
sed -i -e 's/target 99%/target 99.5%/' -e '/sla "shop-day"/,/^    }/d' "$CONF"
kill -HUP "$ITSMD_PID"
target_is() { [ "$(q "SELECT target FROM sla WHERE name = 'shop-burn'")" = "$1" ]; }
tap_check "reload: the new target is upserted" wait_until 5 target_is 99.5
tap_check "reload: the dropped SLA's breach resolves" wait_until 5 is_closed "sla-breach[shop-day]"

itsmd_stop 15
tap_check "SIGTERM exits 0" test $? = 0
tap_done
