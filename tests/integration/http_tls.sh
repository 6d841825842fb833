#!/usr/bin/env bash
# http_tls.sh: the http probe against real TLS servers with certificates made
# here by openssl (valid, expired, expiring in 5 days, wrong host name,
# self-signed), and against content, header, method and auth checks.  What
# is asserted is what an operator sees: the state line in the log, with its
# reason, and the cert-days value in the RRD file.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

env_db
CERTS=$ENV_DIR/certs
certs_make "$CERTS" || { tap_fail "environment: openssl certificates"; exit 1; }
declare -A PORT
for n in valid expired expiring wronghost selfsigned; do
	PORT[$n]=$(free_port tcp)
	hostile_httpd_start "$ENV_DIR" "${PORT[$n]}" --cert "$CERTS/$n.pem" --key "$CERTS/$n.key" ||
		{ tap_fail "environment: https server $n"; exit 1; }
done
PLAIN=$(free_port tcp)
hostile_httpd_start "$ENV_DIR" "$PLAIN" || { tap_fail "environment: http server"; exit 1; }

# A secret for basic auth, from the secrets file (only the owner may read it).
SECRET_PW="pw-$RANDOM-$RANDOM-sekrit"
printf 'web-pw "%s"\n' "$SECRET_PW" >"$ENV_DIR/secrets"
chmod 600 "$ENV_DIR/secrets"

CONF=$ENV_DIR/itsmd.conf
cat >"$CONF" <<EOF
database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
rrd-dir "$ENV_DIR/rrd"
secrets "$ENV_DIR/secrets"
user itsmd
interval 2s
timeout 1500ms
EOF
# The probe blocks, one per line: NAME URL EXTRA-KEYS
probes() {
	local h="https://127.0.0.1"
	cat <<EOF
valid       $h:${PORT[valid]}/ok       ca-file "certs/ca.pem"; warning cert-days < 21; critical cert-days < 7
expired     $h:${PORT[expired]}/ok     ca-file "certs/ca.pem"
expired-nv  $h:${PORT[expired]}/ok     verify-tls no; critical cert-days < 0
expiring    https://localhost:${PORT[expiring]}/ok ca-file "certs/ca.pem"; warning cert-days < 21; critical cert-days < 7
expiring-w  $h:${PORT[expiring]}/ok    ca-file "certs/ca.pem"; warning cert-days < 21
wronghost   $h:${PORT[wronghost]}/ok   ca-file "certs/ca.pem"
selfsigned  $h:${PORT[selfsigned]}/ok  ca-file "certs/ca.pem"
no-ca       $h:${PORT[valid]}/ok
header-ok   http://127.0.0.1:$PLAIN/header  expect-header X-Itsmd "^probe-[0-9]+\$"
header-bad  http://127.0.0.1:$PLAIN/header  expect-header X-Itsmd "^nope"
body-bad    http://127.0.0.1:$PLAIN/ok      body-contains "goodbye"
body-regex  http://127.0.0.1:$PLAIN/ok      body-regex "^hello [a-z]+ ok\$"; body-not-contains "error"
post-bearer http://127.0.0.1:$PLAIN/echo    method PUT; body "payload"; auth bearer "tok-42"; body-regex "^PUT payload Bearer tok-42\$"
basic-auth  http://127.0.0.1:$PLAIN/echo    auth basic "ops" "secret:web-pw"; body-regex "^GET  Basic [A-Za-z0-9+/=]+\$"
status-404  http://127.0.0.1:$PLAIN/status/404  expect-status 200-299
EOF
}
{
	echo 'host "web" {'
	echo '    address 127.0.0.1'
	probes | while read -r name url rest; do
		printf '    probe "%s" http { url "%s"; %s }\n' "$name" "$url" "$rest"
	done
	echo '}'
} >>"$CONF"
# ca-file is relative to the conf's directory
tap_check "itsmd -t accepts the TLS test configuration" "$BUILD/itsmd" -t -c "$CONF"
itsmd_start "$CONF"

# state_is NAME SEVERITY REASON-PATTERN: the log line of a state change
state_is() {
	log_has "web/$1: $2: $3"
}
expect_state() {	# expect_state NAME SEVERITY REASON-PATTERN TEXT
	if wait_until 10 state_is "$1" "$2" "$3"; then tap_ok "$4"
	else
		tap_fail "$4" "no 'web/$1: $2: $3' in the log"
		grep "web/$1:" "$ITSMD_LOG" | tail -n 3 | sed 's/^/#   /'
	fi
}
expect_state expired critical "SSL certificate problem: certificate has expired" \
    "expired certificate: critical with curl's reason"
expect_state expired-nv critical "cert-days = -2\.[0-9]*d < 0d" \
    "expired certificate, verify-tls no: cert-days is -2 and critical"
expect_state expiring critical "cert-days = 4\.9[0-9]*d < 7d" \
    "certificate expiring in 5 days: critical on cert-days < 7"
expect_state expiring-w warning "cert-days = 4\.9[0-9]*d < 21d" \
    "certificate expiring in 5 days: warning on cert-days < 21"
expect_state wronghost critical "SSL: no alternative certificate subject name matches target host name '127.0.0.1'" \
    "wrong host name: critical with curl's reason"
expect_state selfsigned critical "SSL certificate problem: self-signed certificate" \
    "self-signed certificate: critical"
expect_state no-ca critical "SSL certificate problem: unable to get local issuer certificate" \
    "certificate from an unknown CA (no ca-file): critical"
expect_state header-bad critical "HTTP 200: no header X-Itsmd matching /\^nope/" \
    "expect-header: a header that does not match is critical"
expect_state body-bad critical 'HTTP 200: body lacks "goodbye"' \
    "body-contains: missing text is critical"
expect_state status-404 critical "HTTP 404 \(expected 200-299\)" \
    "expect-status: 404 outside the set is critical"

# RRD: the valid certificate has 89-90 days left, and the probes that must
# pass have stored samples and never changed state.
lastval() {	# lastval PROBE METRIC: the last value rrdtool has
	rrdtool lastupdate "$ENV_DIR/rrd/web/$1/$2.rrd" 2>/dev/null | awk -F': ' 'NF == 2 { v = $2 } END { print v }'
}
valid_days() {
	local v
	v=$(lastval valid cert-days)
	awk -v v="$v" 'BEGIN { exit !(v != "" && v > 89 && v <= 90) }'
}
if wait_until 10 valid_days; then tap_ok "valid certificate: cert-days stored, 89 to 90"
else tap_fail "valid certificate: cert-days stored, 89 to 90" "got '$(lastval valid cert-days)'"; fi
# Each ran (its HTTP 200 is stored) before its silence counts as OK.
status_200() { awk -v v="$(lastval "$1" status)" 'BEGIN { exit !(v == 200) }'; }
for n in valid header-ok body-regex post-bearer basic-auth; do
	tap_check "$n: ran (HTTP 200 stored)" wait_until 5 status_200 "$n"
	tap_check "$n: OK (no state change logged)" bash -c "! grep -q 'web/$n: \(critical\|warning\|unknown\)' '$ITSMD_LOG'"
done
for m in time dns connect tls ttfb status size cert-days; do
	tap_check "https timing metric $m has an RRD file" test -s "$ENV_DIR/rrd/web/valid/$m.rrd"
done
tls_positive() {	# any stored tls value above 0 (only a new connection has one)
	rrdtool fetch "$ENV_DIR/rrd/web/expiring/tls.rrd" MAX -s -10min 2>/dev/null |
	    awk -F': ' 'NF == 2 && $2 !~ /nan/ && $2 + 0 > 0 { f = 1 } END { exit !f }'
}
# after a fresh handshake (the first run takes one; later runs reuse the
# connection and store 0) the tls phase is > 0
tap_check "tls handshake time of a fresh connection is above 0" wait_until 5 tls_positive
status_404() {
	awk -v v="$(lastval status-404 status)" 'BEGIN { exit !(v == 404) }'
}
tap_check "status metric holds the HTTP code" status_404
open_summary() {	# open_summary CHECK: the summary of its open incident
	q "SELECT summary FROM incidents WHERE host = 'web' AND check_name = '$1' AND resolved_at IS NULL"
}
expired_row() { open_summary expired | grep -q "certificate has expired"; }
expiring_row() { open_summary expiring | grep -q "cert-days = 4\.9"; }
tap_check "incident row for the expired certificate names curl's reason" wait_until 5 expired_row
tap_check "incident row for the expiring certificate names cert-days" wait_until 5 expiring_row
tap_check "no incident for the valid certificate" test "$(q "SELECT count(*) FROM incidents WHERE check_name = 'valid'")" = 0
tap_check "the basic auth password never appears in the log" bash -c "! grep -qF '$SECRET_PW' '$ITSMD_LOG'"
itsmd_stop
tap_check "itsmd stops cleanly (exit 0)" test $? = 0
tap_done
