#!/usr/bin/env bash
# snmp_v3.sh: SNMPv3 against a real snmpd with a user per security level and
# protocol, keys read from a secrets file: every good user's value lands in
# its RRD file, and wrong credentials give the agent's reason (usmStats
# report) per host, in the log and in the state, never a time-out.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

PORT=$(free_port udp)
SD=$ENV_DIR/snmpd3
mkdir -p "$SD/snmp" "$SD/persist"
env_rundir "$SD"
cat >"$SD/snmpd.conf" <<EOF
agentAddress udp:127.0.0.1:$PORT
createUser noauth
createUser amd5 MD5 "auth-md5-key"
createUser asha SHA "auth-sha-key"
createUser a224 SHA-224 "auth-224-key"
createUser a512 SHA-512 "auth-512-key"
createUser pdes SHA "auth-des-key" DES "priv-des-key"
createUser paes SHA "auth-aes-key" AES "priv-aes-key"
createUser p256 SHA-256 "auth-256-key" AES-256 "priv-256-key"
createUser asha2 SHA "auth-sha2-key"
createUser paes2 SHA "auth-aes2-key" AES "priv-aes2-key"
rouser noauth noauth
rouser amd5 auth
rouser asha auth
rouser a224 auth
rouser a512 auth
rouser pdes priv
rouser paes priv
rouser p256 priv
rouser asha2 auth
rouser paes2 priv
pass_persist .1.3.6.1.4.1.99999 /bin/sh $ENV_BIN/snmp-pass.sh $SD/snmp
EOF
snmp_set "$SD" 1 gauge 42
MIBS= SNMP_PERSISTENT_DIR=$SD/persist snmpd -f -Lo -C -c "$SD/snmpd.conf" \
    -p "$SD/run/snmpd.pid" >"$SD/snmpd.log" 2>&1 </dev/null &
SNMPD_PID=$!
env_record $SNMPD_PID snmpd
v3get() { MIBS= snmpget -v3 -l noAuthNoPriv -u noauth -On -r 0 -t 1 "127.0.0.1:$PORT" .1.3.6.1.4.1.99999.1; }
env_wait_for 10 $SNMPD_PID v3get || { tap_fail "environment: snmpd with v3 users"; exit 1; }

env_db

cat >"$ENV_DIR/secrets" <<'EOF'
asha "auth-sha-key"
pdes-a "auth-des-key"
pdes-p "priv-des-key"
p256-a "auth-256-key"
p256-p "priv-256-key"
EOF
chmod 600 "$ENV_DIR/secrets"

# host NAME USER LEVEL [AUTHPROTO AUTHKEY [PRIVPROTO PRIVKEY]]
host() {
	echo "host \"$1\" {"
	echo "  address 127.0.0.1; snmp-port $PORT; snmp-version 3; snmp-retries 0"
	echo "  snmp-user \"$2\"; snmp-security-level $3"
	[ $# -ge 5 ] && echo "  snmp-auth-protocol $4; snmp-auth-key \"$5\""
	[ $# -ge 7 ] && echo "  snmp-priv-protocol $6; snmp-priv-key \"$7\""
	echo "  use \"v\""
	echo "}"
}
CONF=$ENV_DIR/itsmd.conf
{
	echo "database \"dbname=itsmd host=$PGHOST port=$PGPORT user=postgres\""
	echo "rrd-dir \"$ENV_DIR/rrd\""
	echo "secrets \"secrets\""
	echo "template \"v\" { probe \"p\" snmp { oid value .1.3.6.1.4.1.99999.1; interval 1s; timeout 900ms } }"
	host noauth noauth noAuthNoPriv
	host amd5 amd5 authNoPriv MD5 auth-md5-key
	host asha asha authNoPriv SHA secret:asha
	host a224 a224 authNoPriv SHA-224 auth-224-key
	host a512 a512 authNoPriv SHA-512 auth-512-key
	host pdes pdes authPriv SHA secret:pdes-a DES secret:pdes-p
	host paes paes authPriv SHA auth-aes-key AES-128 priv-aes-key
	host p256 p256 authPriv SHA-256 secret:p256-a AES-256 secret:p256-p
	# net-snmp keeps one key per user and agent (engine ID), so each wrong
	# key goes to a user no good host uses, as on a real network
	host badauth asha2 authNoPriv SHA wrong-sha-key
	host baduser nosuchuser authNoPriv SHA auth-sha-key
	host badlevel noauth authNoPriv SHA auth-sha-key
	host badpriv paes2 authPriv SHA auth-aes2-key AES wrong-aes-key
} >"$CONF"

tap_check "itsmd -t accepts v3 hosts with keys from the secrets file" "$BUILD/itsmd" -t -c "$CONF"
chmod 640 "$ENV_DIR/secrets"
out=$("$BUILD/itsmd" -t -c "$CONF" 2>&1)
if [ $? != 0 ] && grep -q "secrets file '$ENV_DIR/secrets' is accessible by group or others (mode 0640)" <<<"$out"; then
	tap_ok "a group-readable secrets file is refused, naming its mode"
else
	tap_fail "a group-readable secrets file is refused, naming its mode" "$out"
fi
if grep -q "key" <<<"$out" && grep -qE "auth-(sha|des|256)-key|priv-(des|256)-key" <<<"$out"; then
	tap_fail "no secret in the error output" "$out"
else
	tap_ok "no secret in the error output"
fi
chmod 600 "$ENV_DIR/secrets"

itsmd_start "$CONF"
fetch_42() {	# fetch_42 HOST: the RRD has the served value 42
	rrdtool fetch "$ENV_DIR/rrd/$1/p/value.rrd" AVERAGE -r 1 -s -30 2>/dev/null |
	    grep -q "4.2000000000e+01"
}
for h in noauth amd5 asha a224 a512 pdes paes p256; do
	if wait_until 8 fetch_42 $h; then tap_ok "v3 $h: value 42 stored"
	else tap_fail "v3 $h: value 42 stored" "$(tail -n 3 "$ITSMD_LOG")"; fi
done

want() {	# want NAME PATTERN
	if wait_until 6 log_has "$2"; then tap_ok "$1"
	else tap_fail "$1" "no /$2/ in the log: $(grep -E 'bad' "$ITSMD_LOG" | tail -n 3)"; fi
}
want "wrong auth key: per-host usmStatsWrongDigests error" \
    "badauth: SNMPv3 authentication failure \(usmStatsWrongDigests\)"
want "unknown user: per-host usmStatsUnknownUserNames error" \
    "baduser: SNMPv3 unknown user \(usmStatsUnknownUserNames\)"
want "level above the user's: agent refuses with the reason" \
    "badlevel: SNMPv3 .*\(usmStats[A-Za-z]+\)"
want "wrong auth key: the check's state names the report, not a time-out" \
    "badauth/p: critical: SNMPv3 authentication failure"
# agents drop what they cannot decrypt (snmpget times out too): the reason says so
want "wrong privacy key: the time-out names the likely cause" \
    "badpriv/p: critical: no SNMP response .*a wrong privacy key looks the same"
if grep -E "(badauth|baduser|badlevel)/p: .*(no SNMP response|timeout)" "$ITSMD_LOG" >/dev/null; then
	tap_fail "credential errors are never reported as time-outs" "$(grep -E 'bad(auth|user|level)/p' "$ITSMD_LOG" | head -n 3)"
else
	tap_ok "credential errors are never reported as time-outs"
fi
if grep -qE "auth-(md5|sha|224|512|des|aes|256)-key|priv-(des|aes|256)-key|wrong-(sha|aes)-key" "$ITSMD_LOG"; then
	tap_fail "no key appears in the log" "$(grep -E 'key' "$ITSMD_LOG" | head -n 2)"
else
	tap_ok "no key appears in the log"
fi
summary_has() { q "SELECT summary FROM incidents WHERE host = '$1' AND resolved_at IS NULL" | grep -q -- "$2"; }
if wait_until 5 summary_has badauth "SNMPv3 authentication failure (usmStatsWrongDigests)"; then
	tap_ok "the incident of the host with a wrong key names usmStatsWrongDigests"
else
	tap_fail "the incident of the host with a wrong key names usmStatsWrongDigests" \
	    "$(q "SELECT host, summary FROM incidents")"
fi
tap_check "no incident for the hosts with good credentials" \
    test "$(q "SELECT count(*) FROM incidents WHERE host NOT LIKE 'bad%'")" = 0
sleep 2
n=$(grep -c "badauth: SNMPv3 authentication failure" "$ITSMD_LOG")
tap_check "the per-host error is logged once, not every interval ($n)" test "$n" = 1
itsmd_stop
tap_check "itsmd stops cleanly" test $? = 0
tap_done
