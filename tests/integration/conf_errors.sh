#!/usr/bin/env bash
# conf_errors.sh: `itsmd -t` on a table of bad configuration files, each
# asserting exit 1 and the exact `FILE:LINE:COL: message` a user would read;
# good files (the shipped example, includes) must pass.  Needs no services.
set -u

cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
case $BUILD in
/*)	ITSMD=$BUILD/itsmd ;;
*)	ITSMD=$PWD/$BUILD/itsmd ;;
esac
T=$(mktemp -d /tmp/itsmd-conf.XXXXXX)
trap 'rm -rf "$T"' EXIT

ok() { echo "ok - $1"; }
notok() { echo "not ok - $1: $2"; }

# run_t CONF [DIR]: itsmd -t from DIR; sets rc, out (stdout) and err
# (stderr, with log.c's timestamp taken off each line).
run_t() {
	( cd "${2:-.}" && "$ITSMD" -t -c "$1" ) >"$T/out" 2>"$T/err"
	rc=$?
	out=$(cat "$T/out")
	err=$(sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} //' "$T/err")
}

# bad NAME EXPECTED-LINE...: $T/$NAME.conf must fail with each line on stderr.
bad() {
	local name=$1 line
	shift
	run_t "$T/$name.conf"
	if [ "$rc" != 1 ]; then
		notok "$name" "exit $rc, want 1 (stderr: $err)"
		return
	fi
	for line in "$@"; do
		if ! grep -qxF -- "$line" <<<"$err"; then
			notok "$name" "no line '$line' in stderr: $err"
			return
		fi
	done
	ok "$name"
}

# good NAME CONF [DIR]: must pass with `configuration OK` and nothing on stderr.
good() {
	run_t "$2" "${3:-.}"
	if [ "$rc" = 0 ] && [ "$out" = "configuration OK" ] && [ -z "$err" ]; then
		ok "$1"
	else
		notok "$1" "exit $rc, stdout '$out', stderr '$err'"
	fi
}

if [ ! -x "$ITSMD" ]; then
	notok "conf_errors" "$ITSMD is not built"
	exit 0
fi

mk() { cat >"$T/$1.conf"; }

mk unknown-key <<'EOF'
user itsmd
intervall 1m
EOF
bad unknown-key "$T/unknown-key.conf:2:1: unknown key 'intervall'"

mk bad-duration <<'EOF'
interval 5x
EOF
bad bad-duration \
    "$T/bad-duration.conf:1:10: bad duration '5x' for 'interval': unknown unit (use ms, s, m, h, d)"

mk duplicate-host <<'EOF'
host "web1" {
	address 127.0.0.1
}
host "web1" {
	address 127.0.0.2
}
EOF
bad duplicate-host \
    "$T/duplicate-host.conf:4:1: duplicate host 'web1' (first at $T/duplicate-host.conf:1:1)"

mk unknown-template <<'EOF'
template "linux" {
}
host "web1" {
	address 127.0.0.1
	use "linx"
}
EOF
bad unknown-template "$T/unknown-template.conf:5:6: unknown template 'linx'"

mk include-missing <<'EOF'
include "missing.conf"
EOF
bad include-missing \
    "$T/include-missing.conf:1:9: cannot open '$T/missing.conf': No such file or directory"

# A syntax error inside an included file points into that file.
mkdir -p "$T/bad.d"
printf 'host "a" {\n\taddress 127.0.0.1\n' >"$T/bad.d/10-a.conf"
mk include-bad <<'EOF'
include "bad.d/*.conf"
EOF
bad include-bad "$T/bad.d/10-a.conf:1:10: '{' of 'host' is never closed"

mk include-cycle <<'EOF'
include "include-cycle.conf"
EOF
bad include-cycle \
    "$T/include-cycle.conf:1:9: include cycle: '$T/include-cycle.conf' is already being read"

mk unterminated-string <<'EOF'
database "dbname=itsmd
EOF
bad unterminated-string "$T/unterminated-string.conf:1:10: unterminated string"

mk unbalanced-brace <<'EOF'
user itsmd
}
EOF
bad unbalanced-brace "$T/unbalanced-brace.conf:2:1: unexpected '}'"

printf 'user it\0smd\n' >"$T/nul.conf"
bad nul "$T/nul.conf:1:8: NUL byte in input"

mk every-error-reported <<'EOF'
host "web1" {
	address 127.0.0.1
	probe "home" http {
		url "http://127.0.0.1/"
		critical tme > 2s
		intervall 1m
	}
	probe "home" http {
		url "http://127.0.0.1/"
		interval 10s
		timeout 30s
	}
	probe "x" smtp {
	}
}
EOF
bad every-error-reported \
    "$T/every-error-reported.conf:6:3: unknown key 'intervall' in http probe 'home'" \
    "$T/every-error-reported.conf:5:12: unknown metric 'tme' in probe 'home' (has: time, status, size, dns, connect, tls, ttfb)" \
    "$T/every-error-reported.conf:11:3: timeout 30s is longer than interval 10s in probe 'home'" \
    "$T/every-error-reported.conf:13:12: unknown probe kind 'smtp' (known: snmp, http, tcp, icmp)" \
    "$T/every-error-reported.conf:8:2: duplicate probe 'home' (first at $T/every-error-reported.conf:3:2)"

mk secret-duplicate <<'EOF'
host "web1" {
	address 127.0.0.1
	community "s3cret-community"
	community "s3cret-community"
}
EOF
bad secret-duplicate \
    "$T/secret-duplicate.conf:4:2: duplicate key 'community' (first at $T/secret-duplicate.conf:3:2)"
if grep -q s3cret "$T/err"; then
	notok "secret never printed" "stderr holds the community"
else
	ok "secret never printed"
fi

# Every probe kind's own keys go through one check (probe_key_check):
# the same wording as the conf's own keys, whatever the kind.
mk probe-keys <<'XEOF'
host "h" {
 address 127.0.0.1
 probe "t" tcp { port 22; port 23 }
 probe "i" icmp { packets 1 2 }
 probe "w" http { url "http://127.0.0.1/" "x" }
}
XEOF
bad probe-keys \
    "$T/probe-keys.conf:3:27: duplicate key 'port' (first at $T/probe-keys.conf:3:18)" \
    "$T/probe-keys.conf:4:19: 'packets' takes 1 argument (got 2)" \
    "$T/probe-keys.conf:5:19: 'url' takes 1 argument (got 2)"

truncate -s 17M "$T/too-large.conf"
bad too-large "'$T/too-large.conf' is larger than 16 MiB"

run_t "$T/nonexistent.conf"
if [ "$rc" = 1 ] && grep -qxF "cannot open '$T/nonexistent.conf': No such file or directory" <<<"$err"; then
	ok "missing configuration file"
else
	notok "missing configuration file" "exit $rc, stderr: $err"
fi

# Includes are relative to the including file, whatever the current directory;
# a wildcard that matches nothing is fine.
mkdir -p "$T/etc/conf.d" "$T/etc/hosts.d"
cat >"$T/etc/itsmd.conf" <<'EOF'
rrd-dir "rrd"
include "conf.d/*.conf"
include "empty.d/*.conf"
EOF
cat >"$T/etc/conf.d/10-templates.conf" <<'EOF'
template "web" {
	probe "home" http {
		url "http://127.0.0.1/"
	}
}
include "../hosts.d/*.conf"
EOF
printf 'host "a" {\n\taddress 127.0.0.1\n\tuse "web"\n}\n' >"$T/etc/hosts.d/a.conf"
good "includes relative to the including file" etc/itsmd.conf "$T"

good "conf/itsmd.conf.example passes" conf/itsmd.conf.example
exit 0
