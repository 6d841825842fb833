#!/usr/bin/env bash
# run.sh: alone (its agent answers and rate tolerances suffer on a loaded machine)
# snmp_table.sh: table probes against snmpsim serving recordings of real
# devices shipped with it (a Cisco 16-port switch, a host-resources agent).
# What itsmd discovers and stores must equal what snmpwalk reports for the
# same recording: the rows, their names, and each row's values.
set -u
. "$(dirname "$0")/../env/lib.sh"
env_init

DATA=/usr/share/doc/snmpsim/examples/data
command -v snmpsimd >/dev/null && [ -r "$DATA/cisco_16_switch.snmprec.gz" ] ||
	{ tap_fail "environment: snmpsim (Debian package snmpsim)"; exit 1; }
SIM=$ENV_DIR/snmpsim
mkdir -p "$SIM/data" "$SIM/cache"
zcat "$DATA/cisco_16_switch.snmprec.gz" >"$SIM/data/switch.snmprec"
cp "$DATA/mib2dev/host-resources-mib.snmprec" "$SIM/data/hostres.snmprec"
chmod -R a+rX "$SIM"
chown nobody "$SIM/cache"
PORT=$(free_port udp)
snmpsimd --data-dir="$SIM/data" --cache-dir="$SIM/cache" \
    --agent-udpv4-endpoint=127.0.0.1:$PORT --process-user=nobody \
    --process-group=nogroup --logging-method=null >"$SIM/log" 2>&1 </dev/null &
SIM_PID=$!
env_record $SIM_PID snmpsimd
walk() {	# walk COMMUNITY OID [VERSION]: "index value" lines, as snmpwalk says
	local cmd=snmpbulkwalk
	[ "${3:-2c}" = 1 ] && cmd=snmpwalk
	MIBS= $cmd -v"${3:-2c}" -c "$1" -On -Oq -OU -Oe -r 1 -t 2 \
	    "127.0.0.1:$PORT" "$2" 2>/dev/null | sed -e "s/^\\.$2\\.//" -e 's/"//g'
}
sim_up() { [ -n "$(walk switch 1.3.6.1.2.1.1.5)" ]; }
env_wait_for 30 $SIM_PID sim_up || { tap_fail "environment: snmpsimd answers"; exit 1; }

env_db

CONF=$ENV_DIR/itsmd.conf
cat >"$CONF" <<EOF
database "dbname=itsmd host=$PGHOST port=$PGPORT user=postgres"
rrd-dir "$ENV_DIR/rrd"
interval 2s
timeout 1500ms
include "$ENV_ROOT/conf/templates/snmp.conf"
template "fa1x" {
	probe "fa1x" snmp {
		label IF-MIB::ifName
		column oper IF-MIB::ifOperStatus
		include-rows "^Fa3/0/1[0-9]\$"
		exclude-rows "^Fa3/0/13\$"
	}
}
template "v1if" {
	probe "v1if" snmp {
		label IF-MIB::ifDescr
		column inerrors IF-MIB::ifInErrors
	}
}
host "sw" { address 127.0.0.1; snmp-port $PORT; community "switch"; use "interfaces"; use "fa1x" }
host "sw1" { address 127.0.0.1; snmp-port $PORT; community "switch"; snmp-version 1; use "v1if" }
host "hr" { address 127.0.0.1; snmp-port $PORT; community "hostres"; use "storage" }
EOF
tap_check "itsmd -t accepts the shipped templates" "$BUILD/itsmd" -t -c "$CONF"
itsmd_start "$CONF"

# What snmpwalk says, in files the checker reads.
W=$ENV_DIR/walk
mkdir -p "$W"
for c in 1.3.6.1.2.1.31.1.1.1.1 1.3.6.1.2.1.2.2.1.2 1.3.6.1.2.1.31.1.1.1.15 \
    1.3.6.1.2.1.2.2.1.8 1.3.6.1.2.1.31.1.1.1.6 1.3.6.1.2.1.2.2.1.14; do
	walk switch $c >"$W/sw.$c"
done
walk switch 1.3.6.1.2.1.2.2.1.2 1 >"$W/sw1.1.3.6.1.2.1.2.2.1.2"
for c in 1.3.6.1.2.1.25.2.3.1.3 1.3.6.1.2.1.25.2.3.1.5 1.3.6.1.2.1.25.2.3.1.6; do
	walk hostres $c >"$W/hr.$c"
done
tap_check "snmpwalk sees the switch's 59 interfaces" test "$(wc -l <"$W/sw.1.3.6.1.2.1.2.2.1.2")" -ge 50

have_rows() { [ -d "$ENV_DIR/rrd/$1" ] && [ "$(ls "$ENV_DIR/rrd/$1" | wc -l)" -ge "$2" ]; }
wait_until 15 have_rows sw/interfaces 50
wait_until 5 have_rows hr/storage 1
sleep 5		# a few intervals of values in every row

# check.py KIND: compares the RRD tree with the walks; prints TAP lines.
cat >"$ENV_DIR/check.py" <<'PY'
import math, os, re, subprocess, sys
env, kind = sys.argv[1], sys.argv[2]
W = env + "/walk"
def walk(name):
    out = {}
    for line in open(f"{W}/{name}"):
        idx, _, val = line.rstrip("\n").partition(" ")
        out[idx] = val
    return out
def safe(s):
    s = re.sub(r"[^A-Za-z0-9._-]", "_", s)
    return "_" + s[1:] if s.startswith(".") else s
def labels(primary, fallback=None):
    names = {}
    for idx, v in walk(primary if fallback is None else fallback).items():
        names[idx] = v
    if fallback is not None:
        for idx, v in walk(primary).items():
            if v != "":
                names[idx] = v
    for idx in names:
        if names[idx] == "":
            names[idx] = idx
    seen, out = {}, {}
    for idx in sorted(names, key=lambda i: (names[i], [int(x) for x in i.split(".")])):
        n = names[idx]
        out[idx] = n if n not in seen else n + "#" + idx
        seen[n] = 1
    return out
def values(path):
    if not os.path.exists(path):
        return None
    r = subprocess.run(["rrdtool", "fetch", path, "AVERAGE", "-r", "1", "-s", "-60"],
                       capture_output=True, text=True).stdout
    vals = []
    for line in r.splitlines()[2:]:
        v = line.split(":")[1].strip()
        vals.append(float(v) if v not in ("nan", "-nan") else math.nan)
    return vals
def last(vals):
    good = [v for v in vals or [] if not math.isnan(v)]
    return good[-1] if good else None
def tap(ok, name, why=""):
    print(("ok - " if ok else "not ok - ") + name + ("" if ok else ": " + why))

if kind == "switch":
    want = labels("sw.1.3.6.1.2.1.31.1.1.1.1", "sw.1.3.6.1.2.1.2.2.1.2")
    have = sorted(os.listdir(env + "/rrd/sw/interfaces"))
    exp = sorted(safe(n) for n in want.values())
    tap(have == exp, "interfaces: the rows are snmpwalk's, named by ifName (else ifDescr)",
        f"missing {sorted(set(exp) - set(have))[:5]} extra {sorted(set(have) - set(exp))[:5]}")
    for col, metric in (("1.3.6.1.2.1.31.1.1.1.15", "speed"), ("1.3.6.1.2.1.2.2.1.8", "oper")):
        w = walk("sw." + col)
        bad = [(want[i], w.get(i), last(values(f"{env}/rrd/sw/interfaces/{safe(want[i])}/{metric}.rrd")))
               for i in want
               if last(values(f"{env}/rrd/sw/interfaces/{safe(want[i])}/{metric}.rrd")) != float(w[i])]
        tap(not bad, f"interfaces: every row's {metric} equals snmpwalk's value", str(bad[:3]))
    hc = walk("sw.1.3.6.1.2.1.31.1.1.1.6")
    no_hc = [i for i in want if i not in hc]
    with_hc = [i for i in want if i in hc]
    zeros = [want[i] for i in no_hc
             if any(not math.isnan(v) for v in values(f"{env}/rrd/sw/interfaces/{safe(want[i])}/in.rrd") or [])]
    tap(no_hc and not zeros, f"interfaces: the {len(no_hc)} rows without ifHCInOctets store no value, never 0",
        str(zeros[:3]))
    rates = [last(values(f"{env}/rrd/sw/interfaces/{safe(want[i])}/in.rrd")) for i in with_hc]
    tap(with_hc and all(r == 0.0 for r in rates),
        "interfaces: a recording's unchanging counters give rate 0", str(rates[:5]))
elif kind == "filter":
    want = labels("sw.1.3.6.1.2.1.31.1.1.1.1")
    exp = sorted(safe(n) for n in want.values() if re.search(r"^Fa3/0/1[0-9]$", n) and n != "Fa3/0/13")
    have = sorted(os.listdir(env + "/rrd/sw/fa1x"))
    tap(have == exp and len(exp) == 9, "include-rows/exclude-rows keep exactly the matching rows",
        f"have {have} want {exp}")
elif kind == "v1":
    want = labels("sw1.1.3.6.1.2.1.2.2.1.2")
    have = sorted(os.listdir(env + "/rrd/sw1/v1if"))
    exp = sorted(safe(n) for n in want.values())
    tap(have == exp, "SNMPv1 walk (GETNEXT) finds the same rows as snmpwalk -v1",
        f"missing {sorted(set(exp) - set(have))[:5]} extra {sorted(set(have) - set(exp))[:5]}")
elif kind == "storage":
    want = labels("hr.1.3.6.1.2.1.25.2.3.1.3")
    size, used = walk("hr.1.3.6.1.2.1.25.2.3.1.5"), walk("hr.1.3.6.1.2.1.25.2.3.1.6")
    have = sorted(os.listdir(env + "/rrd/hr/storage"))
    tap(have == sorted(safe(n) for n in want.values()), "storage: rows are snmpwalk's hrStorage rows",
        f"have {have}")
    bad = []
    for i, n in want.items():
        got = last(values(f"{env}/rrd/hr/storage/{safe(n)}/usedpct.rrd"))
        exp = 100.0 * float(used[i]) / float(size[i]) if float(size[i]) > 0 else None
        if exp is not None and exp > 100:
            exp = None      # the recording's used > size: outside the file's 0..100, not stored
        if (exp is None) != (got is None) or (exp is not None and abs(got - exp) > 1e-6 * max(1, exp)):
            bad.append((n, got, exp))
    tap(not bad, "storage: usedpct = 100 * hrStorageUsed / hrStorageSize per row", str(bad))
PY
while read -r line; do
	case $line in
	"ok - "*) tap_ok "${line#ok - }" ;;
	*) tap_fail "${line#not ok - }" ;;
	esac
done < <(for k in switch filter v1 storage; do python3 "$ENV_DIR/check.py" "$ENV_DIR" $k 2>&1; done)
tap_check "no time-out or error for the polled devices" \
    sh -c "! grep -E '(sw|sw1|hr)/[a-z0-9]+: (critical|unknown): (no SNMP|agent error|cannot)' '$ITSMD_LOG'"
itsmd_stop
tap_check "itsmd stops cleanly" test $? = 0
tap_done
