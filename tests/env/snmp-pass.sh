#!/bin/sh
# snmp-pass.sh: snmpd `pass`/`pass_persist` handler serving
# .1.3.6.1.4.1.99999.N from files: DIR/N holds one line "TYPE VALUE", and a
# missing file is no such instance.  tests/env/lib.sh snmp_set writes them.
#
#	pass .1.3.6.1.4.1.99999 /bin/sh snmp-pass.sh DIR	(-g/-n/-s OID args)
#	pass_persist .1.3.6.1.4.1.99999 /bin/sh snmp-pass.sh DIR	(stdin protocol)
#
# lib.sh uses pass_persist: snmpd 5.9 caches the output of a `pass` command
# for 30 s when the same command line repeats (NETSNMP_EXCACHETIME, fixed at
# build time), so polling one OID through `pass` misses changes for up to
# half a minute.  pass_persist keeps this script running and is not cached.
#
# TYPE is what snmpd's pass parser takes: integer gauge counter counter64
# string timeticks objectid ipaddress octet opaque unsigned.  counter64
# carries the whole unsigned 64-bit range, but only over SNMPv2c: an SNMPv1
# get of it answers noSuchName.  `counter` is a Counter32 (values wrap
# modulo 2^32).
BASE=.1.3.6.1.4.1.99999

dir=$1
op=${2:-}
oid=${3:-}

# The value of instance $1, or nothing if there is no such file.
answer() {
	f="$dir/$1"
	[ -r "$f" ] || return 1
	vtype= value=
	IFS=' ' read -r vtype value <"$f"	# a last line without newline is fine
	[ -n "$vtype" ] || return 1
	printf '%s\n%s\n%s\n' "$BASE.$1" "$vtype" "$value"
}

# Instances present, in numeric order: names that are plain numbers only,
# so a half-written tmp file of snmp_set is never served.
instances() {
	for f in "$dir"/*; do
		n=${f##*/}
		case $n in
		''|*[!0-9]*) continue ;;
		esac
		echo "$n"
	done | sort -n
}

# get_op OID: the answer to a get, or NONE.
get_op() {
	case $1 in
	"$BASE".*)
		n=${1#"$BASE".}
		case $n in
		''|*[!0-9]*) ;;
		*) answer "$n" && return 0 ;;
		esac
		;;
	esac
	echo NONE
}

# next_op OID: the answer to a getnext, or NONE.  Below BASE every instance
# is one sub-identifier N, so the successor of OID is the first N greater
# than OID's first sub-identifier after BASE (or the first N at all when OID
# is BASE itself or sorts before it).
next_op() {
	after=-1
	case $1 in
	"$BASE".*)
		rest=${1#"$BASE".}
		after=${rest%%.*}
		case $after in
		''|*[!0-9]*) after=-1 ;;
		esac
		;;
	esac
	for n in $(instances); do
		if [ "$n" -gt "$after" ] && answer "$n"; then
			return 0
		fi
	done
	echo NONE
}

# pass_persist: commands on stdin, one answer each, until EOF or an empty line.
persist() {
	while read -r cmd; do
		case $cmd in
		PING) echo PONG ;;
		get) read -r oid; get_op "$oid" ;;
		getnext) read -r oid; next_op "$oid" ;;
		set) read -r oid; read -r value; echo not-writable ;;
		'') exit 0 ;;
		*) echo NONE ;;
		esac
	done
}

case $op in
-g) get_op "$oid" ;;
-n) next_op "$oid" ;;
-s) echo not-writable ;;
'') persist ;;
*) echo NONE ;;
esac
