#!/usr/bin/env bash
# icmp_probe.sh: the icmp probe inside network namespaces this test makes,
# so no host setting changes:
#   itsmd's namespace  lo up, net.ipv4.ping_group_range open to every group
#                      (the kernel's ping sockets; the setting is per
#                      namespace), a veth to ...
#   the far namespace  10.x.0.2, whose route back is a blackhole: requests
#                      arrive, replies never leave, so loss is 100%
#   a closed namespace ping_group_range "1 0": started as root, itsmd pings
#                      through raw sockets opened before it drops to the
#                      itsmd user; started as that user (no CAP_NET_RAW),
#                      the probe must say why it cannot ping
# 127.0.0.1 and ::1 must answer.  Namespaces are removed on exit.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

NS=itsmd-icmp-$$
NSFAR=itsmd-far-$$
NSNO=itsmd-noping-$$
VA=itv$$a
VB=itv$$b
NET=10.$(( ($$ % 200) + 20 )).0
icmp_cleanup() {
	local rc=$?
	(exit $rc)
	env_cleanup
	rc=$?
	ip netns del "$NS" 2>/dev/null
	ip netns del "$NSFAR" 2>/dev/null
	ip netns del "$NSNO" 2>/dev/null
	return $rc
}
trap icmp_cleanup EXIT

command -v ip >/dev/null || { tap_fail "environment: ip (iproute2) missing"; exit 1; }
env_db
{
	ip netns add "$NS" && ip netns add "$NSFAR" && ip netns add "$NSNO" &&
	ip -n "$NS" link set lo up && ip -n "$NSNO" link set lo up &&
	ip netns exec "$NS" sysctl -qw net.ipv4.ping_group_range="0 2147483647" &&
	ip netns exec "$NSNO" sysctl -qw net.ipv4.ping_group_range="1 0" &&
	ip link add "$VA" type veth peer name "$VB" &&
	ip link set "$VA" netns "$NS" && ip link set "$VB" netns "$NSFAR" &&
	ip -n "$NS" addr add "$NET.1/24" dev "$VA" && ip -n "$NS" link set "$VA" up &&
	ip -n "$NSFAR" addr add "$NET.2/24" dev "$VB" && ip -n "$NSFAR" link set "$VB" up &&
	ip -n "$NSFAR" route add blackhole "$NET.1/32"
} || { tap_fail "environment: network namespaces"; exit 1; }

CONF=$ENV_DIR/itsmd.conf
cat >"$CONF" <<EOF
database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
rrd-dir "$ENV_DIR/rrd"
user itsmd
interval 2s
timeout 1s
host "lo4" {
    address 127.0.0.1
    probe "ping" icmp { packets 5; packet-interval 100ms; critical loss > 0% }
}
host "lo6" {
    address ::1
    probe "ping" icmp { }
}
host "far" {
    address $NET.2
    probe "ping" icmp { packets 3 }
}
# No probe at all: ICMP echo becomes the host's availability check.
host "bare" {
    address $NET.2
}
EOF
tap_check "itsmd -t accepts the icmp configuration" "$BUILD/itsmd" -t -c "$CONF"
ITSMD_LOG=$ENV_DIR/itsmd.log
ip netns exec "$NS" "$BUILD/itsmd" -f -d -c "$CONF" >>"$ITSMD_LOG" 2>&1 </dev/null &
ITSMD_PID=$!
env_record $ITSMD_PID "itsmd (netns $NS)"

replies() { log_has "$1/ping: $2: 5/5 replies|$1/ping: $2: 3/3 replies"; }
tap_check "127.0.0.1 answers every echo request (ping socket)" wait_until 8 replies lo4 127.0.0.1
tap_check "::1 answers every echo request (ICMPv6 ping socket)" wait_until 8 replies lo6 ::1
tap_check "log says which socket kind is used" log_has "icmp probes: using a ping ICMP socket"
far_lost() { log_has "far/ping: critical: $NET\.2: no reply to 3 echo requests"; }
tap_check "address with no route back: critical, no reply to 3 echo requests" wait_until 8 far_lost

lastval() {
	rrdtool lastupdate "$ENV_DIR/rrd/$1/$2.rrd" 2>/dev/null | awk -F': ' 'NF == 2 { v = $2 } END { print v }'
}
loss_is() {	# loss_is HOST VALUE
	awk -v v="$(lastval "$1/ping" loss)" -v w="$2" 'BEGIN { exit !(v != "" && v == w) }'
}
tap_check "far: 100% loss stored in RRD" wait_until 5 loss_is far 100
tap_check "lo4: 0% loss stored in RRD" wait_until 5 loss_is lo4 0
rtt_ok() {
	local mn av mx
	mn=$(lastval lo4/ping rtt-min); av=$(lastval lo4/ping rtt-avg); mx=$(lastval lo4/ping rtt-max)
	awk -v a="$mn" -v b="$av" -v c="$mx" 'BEGIN { exit !(a != "" && a > 0 && a <= b && b <= c && c < 0.1) }'
}
tap_check "lo4: 0 < rtt-min <= rtt-avg <= rtt-max < 100 ms in RRD" wait_until 5 rtt_ok
tap_check "lo4: no state change (loss 0%)" bash -c "! grep -qE 'lo4/ping: (critical|warning|unknown)' '$ITSMD_LOG'"
far_row() {
	q "SELECT summary FROM incidents WHERE host = 'far' AND check_name = 'ping' AND resolved_at IS NULL" |
	    grep -q "no reply to 3 echo requests"
}
tap_check "far: an open incident row" wait_until 5 far_row
bare_lost() { log_has "bare/ping: critical: $NET\\.2: no reply to [0-9]+ echo requests"; }
tap_check "a host with no probe is pinged by default: critical when it does not answer" \
    wait_until 8 bare_lost
tap_check "the default ping check stores its loss in RRD" wait_until 5 loss_is bare 100
itsmd_stop 10
tap_check "itsmd stops cleanly (exit 0)" test $? = 0

# Where ping sockets are not open to itsmd's group: started as root, itsmd
# opens its raw sockets while reading the conf, then drops to the itsmd
# user, and the probe works through them.
cat >"$ENV_DIR/noping.conf" <<EOF
database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
rrd-dir "$ENV_DIR/rrd-noping"
user itsmd
host "nope" {
    address 127.0.0.1
    probe "ping" icmp { interval 1s; timeout 500ms; packets 1 }
}
EOF
ITSMD_LOG=$ENV_DIR/noping.log
ip netns exec "$NSNO" "$BUILD/itsmd" -f -d -c "$ENV_DIR/noping.conf" >>"$ITSMD_LOG" 2>&1 </dev/null &
ITSMD_PID=$!
env_record $ITSMD_PID "itsmd (netns $NSNO)"
raw_replies() { log_has "nope/ping: .*1/1 replies"; }
tap_check "ping sockets closed, started as root: 127.0.0.1 answers through a raw socket" \
    wait_until 8 raw_replies
tap_check "log says a raw ICMP socket is used" log_has "icmp probes: using a raw ICMP socket"
uid_is_itsmd() { [ "$(awk '/^Uid:/ { print $3 }' "/proc/$ITSMD_PID/status")" = "$(id -u itsmd)" ]; }
tap_check "... while the daemon runs as the itsmd user" uid_is_itsmd
tap_check "no bad state for the raw-socket probe" \
    bash -c "! grep -qE 'nope/ping: (critical|warning|unknown)' '$ITSMD_LOG'"
# Only the address families the conf pings get a raw socket (the only
# process in this namespace is itsmd): one for IPv4, none for IPv6.
raw_socks() { ip netns exec "$NSNO" awk 'NR > 1' "/proc/net/$1" | wc -l; }
tap_check "a raw ICMP socket is kept for IPv4, the family the conf pings" \
    test "$(raw_socks raw)" = 1
tap_check "no raw ICMPv6 socket is kept when no host is IPv6" test "$(raw_socks raw6)" = 0
# A reload adds an IPv6 host: root is gone and ping sockets are closed, so
# the log names the host and says why it cannot be pinged.
cp "$ENV_DIR/noping.conf" "$ENV_DIR/noping.conf.orig"
printf 'host "nope6" {\n    address ::1\n    probe "ping" icmp { interval 1s; timeout 500ms; packets 1 }\n}\n' \
    >>"$ENV_DIR/noping.conf"
kill -HUP "$ITSMD_PID"
v6_said() {
	log_has "icmp probes: host nope6 \(::1\) cannot be pinged: no ICMPv6 socket: ping socket: Permission denied .*raw sockets are opened only at start"
}
tap_check "a reload adding an IPv6 host, without root: the log names the host and why" \
    wait_until 5 v6_said
v4_after_reload() { sed -n '/reloaded:/,$p' "$ITSMD_LOG" | grep -qE "nope/ping: .*1/1 replies"; }
tap_check "... and the IPv4 host still answers after the reload" wait_until 5 v4_after_reload
itsmd_stop 10
tap_check "itsmd stops cleanly (exit 0)" test $? = 0
mv "$ENV_DIR/noping.conf.orig" "$ENV_DIR/noping.conf"

# Started as the itsmd user itself it has neither kind of socket: the probe
# fails with a reason that says what to change.
mkdir -p "$ENV_DIR/rrd-noping2" && chown itsmd "$ENV_DIR/rrd-noping2"
sed "s|rrd-noping|rrd-noping2|" "$ENV_DIR/noping.conf" >"$ENV_DIR/noping2.conf"
ITSMD_LOG=$ENV_DIR/noping2.log
ip netns exec "$NSNO" setpriv --reuid=itsmd --regid=itsmd --init-groups \
    "$BUILD/itsmd" -f -c "$ENV_DIR/noping2.conf" >>"$ITSMD_LOG" 2>&1 </dev/null &
ITSMD_PID=$!
env_record $ITSMD_PID "itsmd as itsmd (netns $NSNO)"
noping() {
	log_has "nope/ping: unknown: no ICMP socket: ping socket: Permission denied \(net\.ipv4\.ping_group_range is 1 0, gid [0-9]+\); raw socket: Operation not permitted \(needs CAP_NET_RAW\)"
}
tap_check "started as the itsmd user, no ping socket, no CAP_NET_RAW: unknown, saying what to change" \
    wait_until 5 noping
itsmd_stop 10
tap_check "itsmd stops cleanly (exit 0)" test $? = 0
tap_done
