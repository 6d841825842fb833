#!/usr/bin/env bash
# http_features.sh: the http probe against live servers for what needs one:
# HTTP/2 (nginx over TLS, ALPN),
# a forward proxy (plain and CONNECT, tests/env/proxy.py, which logs what it
# forwarded), ip-version (localhost over 4 and 6), the source address (127.0.0.2, which the server reports back;
# curl lets a probe without one reuse a bound connection, so the control
# asks another port),
# and the per-origin bound (http-max-per-origin 2: with eight probes of one
# hanging origin no more than two connections at once, the others wait for
# a slot and say so).  No PostgreSQL: states and every
# run's reason are read from the debug log.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$ENV_DIR/self.key" \
    -out "$ENV_DIR/self.pem" -days 30 -subj "/CN=localhost" \
    -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1 ||
	{ tap_fail "environment: openssl"; exit 1; }
chmod 644 "$ENV_DIR/self.key"
GOOD=$(free_port tcp)
OTHER=$(free_port tcp)
TLS=$(free_port tcp)
HANG=$(free_port tcp)
PX=$(free_port tcp)
H2=$(free_port tcp)
hostile_httpd_start "$ENV_DIR" "$GOOD" || { tap_fail "environment: server"; exit 1; }
hostile_httpd_start "$ENV_DIR" "$OTHER" || { tap_fail "environment: second server"; exit 1; }
hostile_httpd_start "$ENV_DIR" "$TLS" --cert "$ENV_DIR/self.pem" --key "$ENV_DIR/self.key" ||
	{ tap_fail "environment: TLS server"; exit 1; }
hostile_httpd_start "$ENV_DIR" "$HANG" || { tap_fail "environment: hanging server"; exit 1; }
python3 -B "$ENV_BIN/proxy.py" --port "$PX" --log "$ENV_DIR/proxy.log" \
    >>"$ENV_DIR/proxy.out" 2>&1 </dev/null &
env_record $! proxy.py
env_wait_for 10 $! env_tcp_open "$PX" || { tap_fail "environment: proxy"; exit 1; }
: >"$ENV_DIR/proxy.log"

# nginx with http2 over TLS (deps.sh installs nginx-light).
HAVE_H2=0
if command -v nginx >/dev/null && nginx -V 2>&1 | grep -q -- --with-http_v2_module; then
	mkdir -p "$ENV_DIR/nginx"
	cat >"$ENV_DIR/nginx/nginx.conf" <<-EOF
	worker_processes 1;
	pid $ENV_DIR/nginx/nginx.pid;
	error_log $ENV_DIR/nginx/error.log;
	events { worker_connections 64; }
	http {
	    access_log off;
	    client_body_temp_path $ENV_DIR/nginx;
	    proxy_temp_path $ENV_DIR/nginx;
	    fastcgi_temp_path $ENV_DIR/nginx;
	    uwsgi_temp_path $ENV_DIR/nginx;
	    scgi_temp_path $ENV_DIR/nginx;
	    server {
	        listen 127.0.0.1:$H2 ssl http2;
	        ssl_certificate $ENV_DIR/self.pem;
	        ssl_certificate_key $ENV_DIR/self.key;
	        location / { default_type text/plain; return 200 "proto \$server_protocol\n"; }
	    }
	}
	EOF
	nginx -c "$ENV_DIR/nginx/nginx.conf" -g 'daemon off;' >>"$ENV_DIR/nginx/out" 2>&1 </dev/null &
	env_record $! nginx
	if env_wait_for 10 $! env_tcp_open "$H2"; then HAVE_H2=1
	else tap_fail "environment: nginx" "$(tail -n 3 "$ENV_DIR/nginx/error.log" 2>/dev/null)"; fi
fi

CONF=$ENV_DIR/itsmd.conf
{
	cat <<-EOF
	database "dbname=none host=$ENV_DIR/no-postgres"
	rrd-dir "$ENV_DIR/rrd"
	user itsmd
	interval 1s
	timeout 900ms
	http-max-per-origin 2
	host "f" {
	    address 127.0.0.1
	    probe "viaproxy" http { url "http://127.0.0.1:$GOOD/ok?via=proxy"; proxy "http://127.0.0.1:$PX"; body-contains "hello itsmd ok" }
	    probe "tunnel" http { url "https://127.0.0.1:$TLS/ok?via=connect"; proxy "http://127.0.0.1:$PX"; ca-file "$ENV_DIR/self.pem" }
	    probe "from2" http { url "http://127.0.0.1:$GOOD/peer"; source-address 127.0.0.2; body-contains "peer 127.0.0.2" }
	    probe "v4" http { url "http://localhost:$GOOD/ok"; ip-version 4 }
	    probe "v6" http { url "http://localhost:$GOOD/ok"; ip-version 6 }
	    probe "from1" http { url "http://127.0.0.1:$OTHER/peer"; body-contains "peer 127.0.0.2" }
	EOF
	[ "$HAVE_H2" = 1 ] &&
	    echo "    probe \"h2\" http { url \"https://127.0.0.1:$H2/\"; ca-file \"$ENV_DIR/self.pem\"; body-contains \"proto HTTP/2.0\" }"
	for i in 1 2 3 4 5 6 7 8; do
		echo "    probe \"q$i\" http { url \"http://127.0.0.1:$HANG/hang?n=$i\"; interval 2s; timeout 1500ms }"
	done
	echo '}'
} >"$CONF"
tap_check "itsmd -t accepts proxy, source-address and http-max-per-origin" "$BUILD/itsmd" -t -c "$CONF"
itsmd_start "$CONF" -d

# Connections from itsmd to the hanging origin, sampled while the probes run.
conns() { ss -tnH state established "( dport = :$HANG )" 2>/dev/null | wc -l; }
MAXC=0
for _ in $(seq 1 25); do
	n=$(conns)
	[ "$n" -gt "$MAXC" ] && MAXC=$n
	sleep 0.2
done

ran_ok() { grep -qE "f/$1: HTTP 200$" "$ITSMD_LOG"; }
never_bad() { ! grep -qE "f/$1: (critical|warning|unknown):" "$ITSMD_LOG"; }
proxied() { grep -qF "$1" "$ENV_DIR/proxy.log"; }
queued() { grep -qE "f/q[1-8]: timed out after 1500ms \(sent after waiting [0-9]+ms for one of 2 slots to http://127.0.0.1:$HANG\): Operation timed out after 1[0-9]{3} milliseconds" "$ITSMD_LOG"; }
hung() { grep -qE "f/q[1-8]: timed out after 1500ms: Operation timed out after 1[0-9]{3} milliseconds with 0 bytes received" "$ITSMD_LOG"; }

if wait_until 10 ran_ok viaproxy && proxied "GET http://127.0.0.1:$GOOD/ok?via=proxy" && never_bad viaproxy
then tap_ok "proxy: a plain http probe goes through the proxy and is OK"
else tap_fail "proxy: plain http through the proxy" "$(grep 'f/viaproxy:' "$ITSMD_LOG" | tail -n 2)"; fi
if wait_until 10 ran_ok tunnel && proxied "CONNECT 127.0.0.1:$TLS" && never_bad tunnel
then tap_ok "proxy: an https probe tunnels through CONNECT, certificate verified"
else tap_fail "proxy: https through CONNECT" "$(grep 'f/tunnel:' "$ITSMD_LOG" | tail -n 2)"; fi
if wait_until 10 ran_ok from2 && never_bad from2
then tap_ok "source-address 127.0.0.2: the server saw the probe come from 127.0.0.2"
else tap_fail "source-address 127.0.0.2" "$(grep 'f/from2:' "$ITSMD_LOG" | tail -n 2)"; fi
from1_bad() { log_has 'f/from1: critical: HTTP 200: body lacks "peer 127.0.0.2"'; }
tap_check "without source-address the server sees 127.0.0.1 (the check above can fail)" \
    wait_until 10 from1_bad
# The server listens on 127.0.0.1 only: over IPv6, localhost is not it.
v6_bad() { log_has "f/v6: (critical|unknown): "; }
if wait_until 10 ran_ok v4 && never_bad v4 && wait_until 5 v6_bad
then tap_ok "ip-version: localhost reached over IPv4 with 4, not with 6"
else tap_fail "ip-version 4 and 6" "$(grep -E 'f/v[46]:' "$ITSMD_LOG" | tail -n 2)"; fi
if [ "$HAVE_H2" = 1 ]; then
	if wait_until 10 ran_ok h2 && never_bad h2
	then tap_ok "HTTP/2: nginx answered the probe over h2 (ALPN), body says HTTP/2.0"
	else tap_fail "HTTP/2 against nginx" "$(grep 'f/h2:' "$ITSMD_LOG" | tail -n 2)"; fi
else
	tap_fail "HTTP/2 against nginx: no nginx with http2 here (tests/env/deps.sh installs nginx-light)"
fi

tap_check "per origin: a run that waited for a slot gets its whole timeout, and says it waited" \
    wait_until 10 queued
tap_check "per origin: the runs that got a slot time out on the hanging server" wait_until 10 hung
if [ "$MAXC" -ge 1 ] && [ "$MAXC" -le 2 ]; then
	tap_ok "per origin: at most 2 connections at once to the hanging origin (saw $MAXC)"
else
	tap_fail "per origin: at most 2 connections at once" "saw $MAXC"
fi
# The hanging origin's checks come late (their runs wait for a slot, and a
# run's timeout starts when it is sent): overruns there, nowhere else.
tap_check "no overrun logged but the hanging origin's" \
    bash -c "! grep 'overrun' '$ITSMD_LOG' | grep -qv 'f/q[1-8]:'"

itsmd_stop 15
tap_check "itsmd stops cleanly (exit 0)" test $? = 0
tap_done
