# lib.sh: the test environment, sourced by tests/integration/*.sh and demo.sh.
# Starts real PostgreSQL, snmpd, rrdcached, an HTTP target and itsmd, records
# every PID, and stops them all by PID from an EXIT trap.  bash, `set -u` safe.
#
#	. tests/env/lib.sh
#	env_init			# temp dir in $ENV_DIR, cleanup on exit
#	pg_start "$ENV_DIR"; snmpd_start "$ENV_DIR" "$(free_port udp)"
#	tap_check "migrate" "$BUILD/itsmctl" db migrate
#	tap_done
#
# Services need root: PostgreSQL refuses to run as root and rrdcached runs as
# the itsmd user, both through runuser.

ENV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ENV_BIN=$ENV_ROOT/tests/env
BUILD=${BUILD:-build}
case $BUILD in
/*) ;;
*) BUILD=$ENV_ROOT/$BUILD ;;
esac
PGBIN=/usr/lib/postgresql/15/bin

ENV_DIR=${ENV_DIR:-}
ENV_RMDIR=""		# the dir env_tmpdir made, removed by env_cleanup
ENV_PIDS=()		# every process started, in start order
ENV_NAMES=()		# what each one is, for messages
ENV_PGDATA=""		# a cluster pg_start started, stopped with pg_ctl
ENV_PGPID=""
ENV_FAILED=0		# set by tap_fail: keep the dir for a post-mortem
ENV_CLEANED=0
ITSMD_PID=""
ITSMD_LOG=""
TAP_PASS=0
TAP_FAIL=0

# Messages from the environment go to stderr as TAP comments, so they never
# count as results.
env_say() {
	echo "# $*" >&2
}

env_tmpdir() {
	local d
	d=$(mktemp -d /tmp/itsmd-test.XXXXXX) || return 1
	chmod 755 "$d"		# postgres and itsmd must reach what is inside
	echo "$d"
}

# env_init [DIR]: use DIR (kept afterwards) or a new temp dir (removed
# afterwards unless KEEP_TMP=1 or a test failed); install the cleanup trap.
env_init() {
	if [ $# -ge 1 ] && [ -n "$1" ]; then
		ENV_DIR=$1
		mkdir -p "$ENV_DIR"
	else
		ENV_DIR=$(env_tmpdir) || { echo "env_init: mktemp failed" >&2; exit 1; }
		ENV_RMDIR=$ENV_DIR
	fi
	export ENV_DIR
	trap env_cleanup EXIT
	# A signal ends the script through exit, so the EXIT trap runs once.
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

# env_record PID NAME: remember a process for env_cleanup.
env_record() {
	ENV_PIDS+=("$1")
	ENV_NAMES+=("$2")
}

# env_forget PID: a process the script has stopped and reaped itself is no
# longer env_cleanup's: its PID may belong to another process by then (PIDs
# wrap within a suite run), which env_cleanup would signal.
env_forget() {
	local i pids=() names=()
	for (( i = 0; i < ${#ENV_PIDS[@]}; i++ )); do
		[ "${ENV_PIDS[i]}" = "$1" ] && continue
		pids+=("${ENV_PIDS[i]}")
		names+=("${ENV_NAMES[i]}")
	done
	ENV_PIDS=("${pids[@]}")
	ENV_NAMES=("${names[@]}")
}

# True while PID runs (a zombie, which kill -0 still finds, does not count).
env_alive() {
	local state
	[ -n "${1:-}" ] || return 1
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Seconds (fractions allowed) to microseconds, to compare with EPOCHREALTIME.
env_usec() {
	awk -v s="$1" 'BEGIN { printf "%d", s * 1000000 }'
}

# Wait until none of the PIDs runs, at most $1 seconds; false on time-out.
env_wait_gone() {
	local limit=$1 pid left
	shift
	local deadline=$(( ${EPOCHREALTIME//[!0-9]/} + $(env_usec "$limit") ))
	while :; do
		left=0
		for pid in "$@"; do
			env_alive "$pid" && left=1
		done
		[ $left = 0 ] && return 0
		[ "${EPOCHREALTIME//[!0-9]/}" -ge $deadline ] && return 1
		sleep 0.1
	done
}

# wait_until TIMEOUT_SECONDS CMD...: poll CMD every 0.2 s until it succeeds.
wait_until() {
	local limit=$1
	shift
	local deadline=$(( ${EPOCHREALTIME//[!0-9]/} + $(env_usec "$limit") ))
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "${EPOCHREALTIME//[!0-9]/}" -ge $deadline ] && return 1
		sleep 0.2
	done
}

# Like wait_until, but gives up at once when process PID (what should
# answer) has died, so a bad port or config fails fast, not after a time-out.
env_wait_for() {
	local limit=$1 pid=$2
	shift 2
	local deadline=$(( ${EPOCHREALTIME//[!0-9]/} + $(env_usec "$limit") ))
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		env_alive "$pid" || return 2
		[ "${EPOCHREALTIME//[!0-9]/}" -ge $deadline ] && return 1
		sleep 0.2
	done
}

# free_port [tcp|udp]: a port nothing on 127.0.0.1 uses now.
free_port() {
	python3 - "${1:-tcp}" <<'PY'
import socket, sys
kind = socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, kind)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
PY
}

# port_free PORT [tcp|udp]: true if 127.0.0.1:PORT can be bound.
port_free() {
	python3 - "$1" "${2:-tcp}" <<'PY'
import socket, sys
kind = socket.SOCK_DGRAM if sys.argv[2] == "udp" else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, kind)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

# The run dir holds the sockets and pid files of postgres (user postgres)
# and rrdcached (user itsmd): both must create files in it, so it is
# world-writable with the sticky bit, like /tmp, inside a dir only we write.
env_rundir() {
	mkdir -p "$1/run"
	chmod 1777 "$1/run"
}

# A pid file left by an earlier run: true (and its PID in ENV_STALE) if
# that process still runs; a dead one's file is removed.
env_pidfile_live() {
	local pid
	ENV_STALE=""
	[ -f "$1" ] || return 1
	pid=$(head -n 1 "$1" 2>/dev/null | tr -dc 0-9)
	if [ -n "$pid" ] && env_alive "$pid"; then
		ENV_STALE=$pid
		return 0
	fi
	rm -f "$1"
	return 1
}

# ------------------------------------------------------------- PostgreSQL
# pg_start DIR [PORT]: a private cluster in DIR/pg (made once, reused),
# reachable only through the unix socket in DIR/run.
pg_start() {
	local dir=$1 port=${2:-5432} data=$1/pg
	env_rundir "$dir"
	if [ ! -f "$data/PG_VERSION" ]; then
		mkdir -p "$data"
		chown postgres: "$data"
		chmod 700 "$data"
		if ! runuser -u postgres -- "$PGBIN/initdb" -D "$data" -U postgres \
		    -A trust -E UTF8 --no-sync >"$dir/pg-initdb.log" 2>&1; then
			cat "$dir/pg-initdb.log" >&2
			echo "pg_start: initdb in $data failed" >&2
			return 1
		fi
		# Written into the conf, not passed on the command line, so
		# paths with spaces need no quoting games.
		cat >>"$data/postgresql.conf" <<-EOF

		# itsmd test environment: unix socket only, private socket dir
		listen_addresses = ''
		unix_socket_directories = '$dir/run'
		port = $port
		EOF
	fi
	if env_pidfile_live "$data/postmaster.pid"; then
		echo "pg_start: a PostgreSQL from an earlier run still runs on $data" \
		    "(pid $ENV_STALE); stop it: kill $ENV_STALE" >&2
		return 1
	fi
	if ! runuser -u postgres -- "$PGBIN/pg_ctl" -D "$data" -l "$data/server.log" \
	    -w -t 60 start >/dev/null 2>&1; then
		tail -n 20 "$data/server.log" >&2
		echo "pg_start: PostgreSQL in $data did not start" >&2
		return 1
	fi
	ENV_PGDATA=$data
	ENV_PGPID=$(head -n 1 "$data/postmaster.pid")
	export PGHOST=$dir/run PGPORT=$port PGUSER=postgres PGDATABASE=itsmd
	if [ "$(psql -d postgres -XtAc \
	    "SELECT 1 FROM pg_database WHERE datname = 'itsmd'")" != 1 ]; then
		createdb itsmd || { echo "pg_start: createdb itsmd failed" >&2; return 1; }
	fi
	env_say "postgres pid $ENV_PGPID, socket dir $PGHOST"
}

# ------------------------------------------------------------------ snmpd
# snmpd_start DIR PORT: snmpd on udp 127.0.0.1:PORT, community public, with
# .1.3.6.1.4.1.99999.N served from DIR/snmp/N (see snmp_set) through
# snmp-pass.sh.  That script runs as pass_persist, not pass: snmpd caches a
# `pass` command's output for 30 s, which would hide a snmp_set for as long.
# Types and limits (counter64 is v2c only) are in snmp-pass.sh.
snmpd_start() {
	local dir=$1 port=$2 conf=$1/snmpd.conf pid
	mkdir -p "$dir/snmp" "$dir/snmp-persist"
	env_rundir "$dir"
	cat >"$conf" <<-EOF
	# generated by tests/env/lib.sh snmpd_start
	agentAddress udp:127.0.0.1:$port
	rocommunity public 127.0.0.1
	pass_persist .1.3.6.1.4.1.99999 /bin/sh $ENV_BIN/snmp-pass.sh $dir/snmp
	EOF
	if env_pidfile_live "$dir/run/snmpd.pid"; then
		echo "snmpd_start: an snmpd from an earlier run still runs (pid $ENV_STALE)" >&2
		return 1
	fi
	# MIBS= : numeric OIDs only, no complaints about MIB files.
	# SNMP_PERSISTENT_DIR keeps it out of the system's /var/lib/snmp.
	MIBS= SNMP_PERSISTENT_DIR=$dir/snmp-persist \
	    snmpd -f -Lo -C -c "$conf" -p "$dir/run/snmpd.pid" \
	    >"$dir/snmpd.log" 2>&1 </dev/null &
	pid=$!
	env_record $pid snmpd
	if ! env_wait_for 10 $pid env_snmpget "$port" .1.3.6.1.2.1.1.3.0; then
		tail -n 5 "$dir/snmpd.log" >&2
		echo "snmpd_start: snmpd on udp 127.0.0.1:$port did not answer" >&2
		return 1
	fi
	SNMPD_PORT=$port
	env_say "snmpd pid $pid on udp 127.0.0.1:$port, values in $dir/snmp"
}

# env_snmpget PORT OID...: snmpget -v2c against our snmpd, numeric output.
env_snmpget() {
	local port=$1
	shift
	MIBS= SNMP_PERSISTENT_DIR=${ENV_DIR:-/tmp}/snmp-persist \
	    snmpget -v2c -c public -On -r 0 -t 1 "127.0.0.1:$port" "$@"
}

# snmp_set DIR N TYPE VALUE: what .1.3.6.1.4.1.99999.N answers from now on.
# Written to a tmp file and renamed, so snmpd never reads half a value.
snmp_set() {
	local dir=$1/snmp n=$2 type=$3
	shift 3
	mkdir -p "$dir"
	printf '%s %s\n' "$type" "$*" >"$dir/.tmp.$n.$$" &&
	    mv -f "$dir/.tmp.$n.$$" "$dir/$n"
}

# snmp_unset DIR N: .1.3.6.1.4.1.99999.N becomes noSuchInstance.
snmp_unset() {
	rm -f "$1/snmp/$2"
}

# -------------------------------------------------------------- rrdcached
# rrdcached_start DIR: rrdcached as user itsmd on unix:DIR/run/rrdcached.sock,
# writing DIR/rrd.  -w 3600: values stay in memory until flushed (a
# `rrdtool fetch --daemon` flushes first); -F writes them all on shutdown.
rrdcached_start() {
	local dir=$1 sock=$1/run/rrdcached.sock pidf=$1/run/rrdcached.pid pid
	env_rundir "$dir"
	mkdir -p "$dir/rrd"
	chown itsmd: "$dir/rrd"
	if env_pidfile_live "$pidf"; then
		echo "rrdcached_start: an rrdcached from an earlier run still runs" \
		    "(pid $ENV_STALE)" >&2
		return 1
	fi
	rm -f "$sock"
	# -g keeps it in the foreground (it never daemonizes), so it runs in
	# our background and its PID is known.  $! is runuser's; the pid file
	# gives rrdcached's own, recorded too.
	runuser -u itsmd -- rrdcached -g -l "unix:$sock" -p "$pidf" \
	    -b "$dir/rrd" -B -w 3600 -z 1 -F >"$dir/rrdcached.log" 2>&1 </dev/null &
	pid=$!
	env_record $pid "rrdcached (runuser)"
	if ! env_wait_for 10 $pid test -S "$sock"; then
		tail -n 5 "$dir/rrdcached.log" >&2
		echo "rrdcached_start: no socket $sock" >&2
		return 1
	fi
	wait_until 5 test -s "$pidf"
	RRDCACHED_PID=$(head -n 1 "$pidf" 2>/dev/null | tr -dc 0-9)
	[ -n "$RRDCACHED_PID" ] && env_record "$RRDCACHED_PID" rrdcached
	RRDCACHED_SOCK=$sock
	env_say "rrdcached pid ${RRDCACHED_PID:-?} on $sock, files in $dir/rrd"
}

# ------------------------------------------------------------------ httpd
# httpd_start DIR PORT: tests/env/httpd.py on 127.0.0.1:PORT; `/` answers
# the status in DIR/http/status after DIR/http/delay seconds.
httpd_start() {
	local dir=$1 port=$2 pid
	mkdir -p "$dir/http"
	python3 "$ENV_BIN/httpd.py" --port "$port" --dir "$dir/http" \
	    >"$dir/httpd.log" 2>&1 </dev/null &
	pid=$!
	env_record $pid httpd.py
	if ! env_wait_for 10 $pid env_http_ok "$port"; then
		cat "$dir/httpd.log" >&2
		echo "httpd_start: no HTTP answer on 127.0.0.1:$port" >&2
		return 1
	fi
	HTTPD_PORT=$port
	env_say "httpd.py pid $pid on http://127.0.0.1:$port/"
}

# env_http_ok PORT: our httpd answers on 127.0.0.1:PORT.  python3, not
# curl: deps.sh installs no curl binary.
env_http_ok() {
	python3 - "$1" <<'PY'
import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/status/200" % sys.argv[1], timeout=2)
PY
}

# http_set DIR status|delay VALUE
http_set() {
	mkdir -p "$1/http"
	echo "$3" >"$1/http/.$2.$$" && mv -f "$1/http/.$2.$$" "$1/http/$2"
}

# ---------------------------------------------------------- hostile httpd
# hostile_httpd_start DIR PORT [--cert F --key F] [--banner TEXT]:
# tests/env/hostile_httpd.py on 127.0.0.1:PORT (see its header for paths).
hostile_httpd_start() {
	local dir=$1 port=$2 pid
	shift 2
	mkdir -p "$dir"
	python3 -B "$ENV_BIN/hostile_httpd.py" --port "$port" "$@" \
	    >>"$dir/hostile_httpd.log" 2>&1 </dev/null &
	pid=$!
	env_record $pid "hostile_httpd.py :$port"
	if ! env_wait_for 10 $pid env_tcp_open "$port"; then
		tail -n 5 "$dir/hostile_httpd.log" >&2
		echo "hostile_httpd_start: nothing listens on 127.0.0.1:$port" >&2
		return 1
	fi
	env_say "hostile_httpd.py pid $pid on 127.0.0.1:$port $*"
}

# env_tcp_open PORT: something accepts connections on 127.0.0.1:PORT.
env_tcp_open() {
	python3 - "$1" <<'PY'
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
PY
}

# certs_make DIR: with openssl, a CA (DIR/ca.pem) and leaf certificates
# DIR/NAME.pem + DIR/NAME.key for localhost and 127.0.0.1: valid (90 days),
# expired (2 days ago), expiring (in 5 days), wronghost (wrong.example only)
# and selfsigned (not from the CA).
certs_make() {
	local d=$1 n
	mkdir -p "$d/db" && : >"$d/db/index" && echo 1000 >"$d/db/serial"
	cat >"$d/ca.cnf" <<-EOF
	[ca]
	default_ca = test
	[test]
	database = $d/db/index
	serial = $d/db/serial
	new_certs_dir = $d/db
	default_md = sha256
	policy = any
	unique_subject = no
	copy_extensions = copy
	[any]
	commonName = supplied
	EOF
	openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.pem" \
	    -days 3650 -subj "/CN=itsmd test CA" -addext "basicConstraints=critical,CA:true" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1 || return 1
	# NAME SAN NOT-BEFORE NOT-AFTER (as date -d understands them)
	while read -r n san from to; do
		openssl req -new -newkey rsa:2048 -nodes -keyout "$d/$n.key" -out "$d/$n.csr" \
		    -subj "/CN=$n" -addext "subjectAltName=$san" >/dev/null 2>&1 &&
		openssl ca -batch -config "$d/ca.cnf" -cert "$d/ca.pem" -keyfile "$d/ca.key" \
		    -in "$d/$n.csr" -out "$d/$n.pem" -notext \
		    -startdate "$(date -u -d "$from" +%Y%m%d%H%M%SZ)" \
		    -enddate "$(date -u -d "$to" +%Y%m%d%H%M%SZ)" >/dev/null 2>&1 || return 1
	done <<-EOF
	valid DNS:localhost,IP:127.0.0.1 -1day +90days
	expired DNS:localhost,IP:127.0.0.1 -30days -2days
	expiring DNS:localhost,IP:127.0.0.1 -1day +5days
	wronghost DNS:wrong.example -1day +90days
	EOF
	openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$d/selfsigned.key" \
	    -out "$d/selfsigned.pem" -days 90 -subj "/CN=localhost" \
	    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1
}

# ------------------------------------------------------------------ itsmd
# itsmd_start CONF [ARGS...]: $BUILD/itsmd -f in the background, stderr
# (its log) appended to $ENV_DIR/itsmd.log.
itsmd_start() {
	local conf=$1
	shift
	ITSMD_LOG=${ITSMD_LOG:-$ENV_DIR/itsmd.log}
	"$BUILD/itsmd" -f -c "$conf" "$@" >>"$ITSMD_LOG" 2>&1 </dev/null &
	ITSMD_PID=$!
	env_record $ITSMD_PID itsmd
	env_say "itsmd pid $ITSMD_PID, log $ITSMD_LOG"
}

# itsmd_stop [TIMEOUT]: SIGTERM, wait (KILL after TIMEOUT s, default 10),
# and return its exit status (128+N if a signal N ended it).  Polled, not a
# background `sleep; kill` watcher, whose sleep would outlive the test.
itsmd_stop() {
	local limit=${1:-10} rc
	[ -n "$ITSMD_PID" ] || { echo "itsmd_stop: itsmd not started" >&2; return 1; }
	kill -TERM "$ITSMD_PID" 2>/dev/null
	if ! env_wait_gone "$limit" "$ITSMD_PID"; then
		env_say "itsmd pid $ITSMD_PID still runs $limit s after SIGTERM; killing"
		kill -KILL "$ITSMD_PID" 2>/dev/null
	fi
	wait "$ITSMD_PID"
	rc=$?
	env_say "itsmd pid $ITSMD_PID exited with status $rc"
	env_forget "$ITSMD_PID"
	ITSMD_PID=""
	return $rc
}

# log_has PATTERN [FILE]: grep -E in the itsmd log.
log_has() {
	grep -qE -- "$1" "${2:-$ITSMD_LOG}"
}

# ---------------------------------------------------------------- cleanup
env_cleanup() {
	local rc=$? i pid alive=()
	[ $ENV_CLEANED = 1 ] && return
	ENV_CLEANED=1
	# A second Ctrl-C, or the terminal closing, must not cut the cleanup
	# short and leave services running.
	trap - EXIT
	trap '' INT TERM HUP
	# Newest first: itsmd goes before the services it talks to.
	for (( i = ${#ENV_PIDS[@]} - 1; i >= 0; i-- )); do
		pid=${ENV_PIDS[i]}
		if env_alive "$pid"; then
			kill -TERM "$pid" 2>/dev/null
			alive+=("$pid")
		fi
	done
	if [ ${#alive[@]} -gt 0 ] && ! env_wait_gone 5 "${alive[@]}"; then
		for (( i = 0; i < ${#ENV_PIDS[@]}; i++ )); do
			if env_alive "${ENV_PIDS[i]}"; then
				env_say "${ENV_NAMES[i]} pid ${ENV_PIDS[i]} ignored SIGTERM; killing"
				kill -KILL "${ENV_PIDS[i]}" 2>/dev/null
			fi
		done
	fi
	if [ -n "$ENV_PGDATA" ]; then
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$ENV_PGDATA" -m fast -w \
		    -t 30 stop >/dev/null 2>&1
		if env_alive "$ENV_PGPID"; then
			env_say "postgres pid $ENV_PGPID did not stop; killing"
			kill -KILL "$ENV_PGPID" 2>/dev/null
		fi
	fi
	# Reap our children; wait skips PIDs that are not (rrdcached's own).
	[ ${#ENV_PIDS[@]} -gt 0 ] && wait "${ENV_PIDS[@]}" 2>/dev/null
	if [ -n "$ENV_RMDIR" ]; then
		if [ "${KEEP_TMP:-0}" = 1 ] || [ $ENV_FAILED != 0 ] || [ $TAP_FAIL != 0 ] ||
		    [ $rc != 0 ]; then
			env_say "kept $ENV_RMDIR"
		else
			rm -rf "$ENV_RMDIR"
		fi
	fi
	return $rc
}

# env_db: a private PostgreSQL (pg_start) with itsmd's schema migrated in;
# a failure is a TAP failure and ends the script.
env_db() {
	pg_start "$ENV_DIR" || { tap_fail "environment: postgres"; exit 1; }
	ITSMD_SCHEMADIR=$ENV_ROOT/schema "$BUILD/itsmctl" -d "dbname=itsmd" db migrate >/dev/null ||
		{ tap_fail "environment: migrate"; exit 1; }
}

# q SQL: one statement through psql on pg_start's cluster, output unaligned
# with no headers (`a|b` rows), for a check to compare; an error prints
# nothing, and the check fails on the empty output.
q() {
	psql -XtAqc "$1" 2>/dev/null
}

# pg_ctl_as ARGS...: pg_ctl on pg_start's cluster as user postgres, waiting
# up to 30 s: `pg_ctl_as stop -m fast` takes the database away and
# `pg_ctl_as start` brings it back.  The new postmaster's PID replaces the
# old in ENV_PGPID, so env_cleanup can still kill it if it will not stop;
# with no postmaster.pid (stopped) ENV_PGPID is emptied, so env_cleanup
# never kills whatever process has the stopped postmaster's PID by then.
pg_ctl_as() {
	local rc
	[ -n "$ENV_PGDATA" ] || { echo "pg_ctl_as: no cluster (pg_start first)" >&2; return 1; }
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$ENV_PGDATA" -l "$ENV_PGDATA/server.log" \
	    -w -t 30 "$@" >/dev/null 2>&1
	rc=$?
	if [ -f "$ENV_PGDATA/postmaster.pid" ]; then
		ENV_PGPID=$(head -n 1 "$ENV_PGDATA/postmaster.pid")
	else
		ENV_PGPID=""
	fi
	return $rc
}

# env_snmpd: snmpd on a free udp port, SNMP_PORT; a failure ends the script.
env_snmpd() {
	SNMP_PORT=$(free_port udp)
	snmpd_start "$ENV_DIR" "$SNMP_PORT" || { tap_fail "environment: snmpd"; exit 1; }
}

# -------------------------------------------------------------------- TAP
# One line per result, as tests/unit/unit.h prints them; tests/run.sh
# counts lines that begin with `ok ` and `not ok `.
tap_ok() {
	TAP_PASS=$((TAP_PASS + 1))
	echo "ok - $1"
}

tap_fail() {
	TAP_FAIL=$((TAP_FAIL + 1))
	ENV_FAILED=1
	echo "not ok - $1: ${2:-failed}"
}

# tap_check NAME CMD...: ok if CMD succeeds; else not ok, with the end of
# its output as comments.
tap_check() {
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc = 0 ]; then
		tap_ok "$name"
	else
		tap_fail "$name" "exit $rc from: $*"
		[ -n "$out" ] && printf '%s\n' "$out" | tail -n 10 | sed 's/^/#   /'
	fi
	return $rc
}

# tap_done: the script's exit status (1 if anything failed).
tap_done() {
	echo "# $TAP_PASS ok, $TAP_FAIL not ok"
	[ $TAP_FAIL = 0 ]
}
