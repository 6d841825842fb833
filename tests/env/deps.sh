#!/bin/sh
# deps.sh: install the Debian 12 packages that building, testing and the demo
# need, and the unprivileged `itsmd` user.  Fast (one dpkg-query) when all is there.
set -eu

PKGS="build-essential pkg-config libevent-dev libsnmp-dev libcurl4-openssl-dev
librrd-dev libpq-dev libsystemd-dev postgresql-15 snmpd snmp rrdcached rrdtool
python3 valgrind curl procps imagemagick librsvg2-bin snmpsim nginx-light"

# dpkg-query prints a line per known package; unknown ones go to stderr and
# must count as missing, so compare against the list rather than trust the rc.
missing=""
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' $PKGS 2>/dev/null |
    awk '$2 == "installed" { print $1 }') || true
for p in $PKGS; do
	case " $(echo $installed) " in
	*" $p "*) ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps.sh: missing packages:$missing; run as root to install them" >&2
		exit 1
	fi
	log=$(mktemp /tmp/itsmd-deps.XXXXXX)
	export DEBIAN_FRONTEND=noninteractive
	# Quiet unless it fails: then the whole apt output is what helps.
	if ! { apt-get update -q && apt-get install -y -q --no-install-recommends \
	    $missing; } >"$log" 2>&1; then
		cat "$log" >&2
		echo "deps.sh: could not install:$missing" >&2
		rm -f "$log"
		exit 1
	fi
	rm -f "$log"
fi

if ! getent passwd itsmd >/dev/null; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps.sh: user itsmd is missing; run as root to create it" >&2
		exit 1
	fi
	useradd --system --no-create-home --shell /usr/sbin/nologin itsmd
fi
