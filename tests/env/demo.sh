#!/usr/bin/env bash
# demo.sh: what `make run` runs.  Starts a private PostgreSQL, snmpd,
# rrdcached and HTTP server under ./var (kept and reused between runs), moves
# a demo value so that an incident opens and resolves every 2.5 minutes, and
# runs itsmd with conf/itsmd.conf.example in the foreground.  Ctrl-C or
# SIGTERM stops itsmd and everything started here, by PID.
set -u

. "$(dirname "$0")/lib.sh"

VAR=$ENV_ROOT/var
CONF=$ENV_ROOT/conf/itsmd.conf.example
SNMP_PORT=16161		# as in the example conf
HTTP_PORT=18080
HIGH=95 HIGH_SECS=60	# above critical (90): an incident opens
LOW=20 LOW_SECS=90	# back to normal: it resolves

die() {
	echo "demo: $*" >&2
	exit 1
}

# The first directory on the way to $2 that user $1 cannot enter, if any.
blocked_dir() {
	local user=$1 path=$2 d=""
	local IFS=/
	for part in $path; do
		[ -n "$part" ] || continue
		d=$d/$part
		[ -d "$d" ] || break
		if ! runuser -u "$user" -- test -x "$d" 2>/dev/null; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

# A demo stopped with SIGKILL leaves its processes behind; their PIDs are in
# var/run/demo.pids.  Stop those that still run one of our commands.
reap_stale() {
	local f=$VAR/run/demo.pids pid cmd data pids=()
	[ -f "$f" ] || return 0
	while read -r pid; do
		[ -n "$pid" ] && [ "$pid" != $$ ] && env_alive "$pid" || continue
		cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)
		case $cmd in
		"$PGBIN/postgres "*) ;;		# pg_ctl stops it, below
		*"$VAR"*|*"$ENV_BIN"*|*"$CONF"*|*demo.sh*)
			echo "demo: stopping pid $pid left by an earlier demo: $cmd" >&2
			kill -TERM "$pid" 2>/dev/null
			pids+=("$pid")
			;;
		esac
	done <"$f"
	if [ ${#pids[@]} -gt 0 ] && ! env_wait_gone 5 "${pids[@]}"; then
		kill -KILL "${pids[@]}" 2>/dev/null
		env_wait_gone 2 "${pids[@]}"
	fi
	rm -f "$f"
	data=$(readlink -f "$VAR/pg")
	if [ -f "$data/postmaster.pid" ] &&
	    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		echo "demo: stopping the PostgreSQL left by an earlier demo" >&2
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
	fi
}

# Keep var/run/demo.pids up to date with every process started so far.
remember() {
	printf '%s\n' "${ENV_PIDS[@]}" ${ENV_PGPID:+"$ENV_PGPID"} >"$VAR/run/demo.pids"
}

# The driver: the demo value goes HIGH, then LOW, forever.  Its sleep is
# killed with it, so nothing outlives the demo.
drive() {
	local sp=""
	trap '[ -n "$sp" ] && kill "$sp" 2>/dev/null; exit 0' TERM
	while :; do
		snmp_set "$VAR" 1 integer $HIGH
		echo "demo: value .1.3.6.1.4.1.99999.1 = $HIGH for ${HIGH_SECS}s" \
		    "(critical above 90): an incident opens" >&2
		sleep $HIGH_SECS & sp=$!
		wait $sp
		snmp_set "$VAR" 1 integer $LOW
		echo "demo: value .1.3.6.1.4.1.99999.1 = $LOW for ${LOW_SECS}s: the incident resolves" >&2
		sleep $LOW_SECS & sp=$!
		wait $sp
	done
}

[ "$(id -u)" = 0 ] ||
    die "run as root: PostgreSQL and rrdcached are started as their own users (runuser)"
for b in itsmd itsmctl; do
	[ -x "$BUILD/$b" ] || die "$BUILD/$b is missing; run make first"
done
getent passwd itsmd >/dev/null || die "no user itsmd; run tests/env/deps.sh"

# itsmd runs as user itsmd and must reach its RRD files and sockets.  A
# checkout under a directory it cannot enter (root's home is 0700) gets its
# ./var under /var/lib instead, as a symlink; itsmd resolves the link when
# it reads the conf (as root), so it uses paths it can walk.
if d=$(blocked_dir itsmd "$ENV_ROOT"); then
	real=/var/lib/itsmd-demo/$(printf '%s' "$ENV_ROOT" | md5sum | cut -c1-12)
	if [ ! -L "$VAR" ]; then
		[ ! -e "$VAR" ] || rmdir "$VAR" 2>/dev/null ||
		    die "user itsmd cannot enter $d, and $VAR is a directory with data;" \
			"move it to $real and replace it with a symlink, or: chmod o+x $d"
		echo "demo: user itsmd cannot enter $d; keeping the demo's data in $real" \
		    "(symlink $VAR)" >&2
		mkdir -p "$real"
		chmod 755 /var/lib/itsmd-demo "$real"
		ln -sfn "$real" "$VAR"
	fi
fi
mkdir -p "$VAR"
VAR=$(readlink -f "$VAR")
chmod 755 "$VAR"
if d=$(blocked_dir itsmd "$VAR"); then
	die "user itsmd cannot enter $d, so it cannot reach $VAR (RRD files, sockets);" \
	    "give others search permission: chmod o+x $d"
fi
# Leftovers of a killed demo first: they would hold the ports.
reap_stale
port_free $SNMP_PORT udp ||
    die "udp port 127.0.0.1:$SNMP_PORT (snmpd) is taken; stop whatever uses it" \
	"(ss -lunp 'sport = :$SNMP_PORT') and run again"
port_free $HTTP_PORT tcp ||
    die "tcp port 127.0.0.1:$HTTP_PORT (HTTP target) is taken; stop whatever uses it" \
	"(ss -ltnp 'sport = :$HTTP_PORT') and run again"
env_init "$VAR"
trap 'echo "demo: stopping everything" >&2; exit 130' INT
trap 'echo "demo: stopping everything" >&2; exit 143' TERM
env_rundir "$VAR"

# PostgreSQL runs as user postgres, which must reach its data and socket
# dirs.  If it cannot enter ./var, they live under /var/tmp instead, and
# ./var/pg points there.
PGDIR=$VAR
if d=$(blocked_dir postgres "$VAR"); then
	PGDIR=/var/tmp/itsmd-demo
	echo "demo: user postgres cannot enter $d; keeping the cluster in $PGDIR/pg" \
	    "(symlink $VAR/pg) and its socket in $PGDIR/run" >&2
	mkdir -p "$PGDIR"
	chmod 755 "$PGDIR"
	[ -L "$VAR/pg" ] || [ ! -e "$VAR/pg" ] || die "$VAR/pg exists and is not a symlink"
	ln -sfn "$PGDIR/pg" "$VAR/pg"
fi
pg_start "$PGDIR" || die "PostgreSQL did not start (log: $PGDIR/pg/server.log)"
remember
ITSMD_SCHEMADIR=$ENV_ROOT/schema "$BUILD/itsmctl" -d "dbname=itsmd" db migrate ||
    die "itsmctl db migrate failed"

[ -f "$VAR/snmp/1" ] || snmp_set "$VAR" 1 integer $LOW
snmpd_start "$VAR" $SNMP_PORT || die "snmpd did not start (log: $VAR/snmpd.log)"
remember
rrdcached_start "$VAR" || die "rrdcached did not start (log: $VAR/rrdcached.log)"
remember
httpd_start "$VAR" $HTTP_PORT || die "httpd.py did not start (log: $VAR/httpd.log)"
remember

drive </dev/null &
env_record $! "demo driver"
remember

ctl=$BUILD/itsmctl
[ -x "$ENV_ROOT/itsmctl" ] && ctl=./itsmctl
cat <<EOF

itsmd demo: everything lives in $VAR
  targets     snmpd udp 127.0.0.1:$SNMP_PORT (values in var/snmp/N, e.g. var/snmp/1)
              http://127.0.0.1:$HTTP_PORT/ (answers var/http/status after var/http/delay s)
  RRD files   $VAR/rrd/HOST/PROBE/METRIC.rrd (through rrdcached $RRDCACHED_SOCK)
  incidents   cd $ENV_ROOT && PGHOST=$PGHOST PGUSER=postgres $ctl -d dbname=itsmd incidents -a
  database    psql -h $PGHOST -U postgres itsmd
  config      $CONF
The demo value goes to $HIGH for ${HIGH_SECS}s, then $LOW for ${LOW_SECS}s, and again:
an incident opens and resolves within about two minutes.  Ctrl-C stops everything.

EOF

# In the background and waited for, so that a signal to this script runs
# its trap at once (bash defers traps while a foreground child runs).
"$BUILD/itsmd" -f -c "$CONF" </dev/null &
ITSMD_PID=$!
env_record $ITSMD_PID itsmd
remember
wait $ITSMD_PID
rc=$?
echo "demo: itsmd exited with status $rc; stopping the demo" >&2
exit $rc
