#!/usr/bin/env bash
# run.sh: the whole test suite.  Runs every unit binary $BUILD/tests/test_*
# and every tests/integration/*.sh, shows their output, counts their TAP
# lines and ends with one line `N passed, N failed` (exit 1 if any failed).
#
# A program that exits non-zero without a `not ok` line of its own (a crash,
# a time-out, a sanitizer report) counts as one failure under its name.
#
# Integration scripts mostly wait (poll intervals, time-outs), so
# TEST_JOBS of them (default 3) run at once, each with its own services on
# its own ports and directories; each one's output is shown whole when it
# ends.  A script with a line `# run.sh: alone` runs by itself after the
# others (it measures timing or loads the machine).  TEST_JOBS=1 runs
# everything in order with output as it comes.  Arguments, if any, are
# script names to run instead of all (e.g. `tests/run.sh e2e storm`).
set -u

cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
export BUILD
TIMEOUT=${TEST_TIMEOUT:-300}
JOBS=${TEST_JOBS:-3}

passed=0
failed=0
skipped=0
failures=()
tmp=$(mktemp -d /tmp/itsmd-run.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# Stopped early: stop the running programs too (each timeout passes the
# signal on to its script, whose EXIT trap stops its services).
stop() {
	trap '' INT TERM
	cat "$tmp"/*.pid 2>/dev/null | xargs -r kill -TERM 2>/dev/null
	wait
	echo "# stopped: $passed passed, $failed failed so far"
	exit 130
}
trap stop INT TERM

# run_one NAME OUT CMD...: one program; its output goes to OUT, followed by
# the summary line, and its counts "ok bad" to OUT.res.
run_one() {
	local name=$1 out=$2 rc ok bad skip start
	shift 2
	start=$SECONDS
	{
		echo "# --- $name"
		# timeout signals the program's whole process group, so an
		# integration script's EXIT trap still stops its services.
		timeout --kill-after=30 "$TIMEOUT" "$@" </dev/null 2>&1 &
		echo $! >"$out.pid"
		wait $!
		echo "rc=$?" >"$out.rc"
		rm -f "$out.pid"
	} >"$out"
	rc=$(sed 's/rc=//' "$out.rc")
	ok=$(grep '^ok ' "$out" | grep -vc '# SKIP')
	bad=$(grep -c '^not ok ' "$out")
	skip=$(grep '^ok ' "$out" | grep -c '# SKIP')
	if [ "$rc" != 0 ] && [ "$bad" = 0 ]; then
		if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			echo "not ok - $name: timed out after $TIMEOUT s"
		elif [ "$rc" -gt 128 ]; then
			echo "not ok - $name: killed by signal $((rc - 128))" \
			    "($(kill -l $((rc - 128)) 2>/dev/null))"
		else
			echo "not ok - $name: exit status $rc"
		fi >>"$out"
		bad=1
	fi
	echo "# $name: $ok ok, $bad not ok, $skip skipped, exit $rc, $((SECONDS - start)) s" >>"$out"
	echo "$ok $bad $skip" >"$out.res"
}

# collect NAME OUT: show a finished program's output and count it.
collect() {
	local name=$1 out=$2 ok bad skip
	cat "$out"
	read -r ok bad skip <"$out.res"
	passed=$((passed + ok))
	skipped=$((skipped + ${skip:-0}))
	failed=$((failed + bad))
	[ "$bad" != 0 ] && failures+=("$name")
}

# serial NAME CMD...: run now, output shown as it comes.
n=0
serial() {
	local name=$1 out ok bad skip
	shift
	n=$((n + 1))
	out=$tmp/$n
	: >"$out"
	run_one "$name" "$out" "$@" &
	tail -q -n +1 --pid=$! -f "$out" 2>/dev/null
	wait
	[ -e "$out.res" ] || echo "0 1 0" >"$out.res"
	read -r ok bad skip <"$out.res"
	passed=$((passed + ok))
	skipped=$((skipped + ${skip:-0}))
	failed=$((failed + bad))
	[ "$bad" != 0 ] && failures+=("$name")
}

# pool NAME...: integration scripts, JOBS at a time.
pool() {
	local -a names=() outs=() pids=()
	local t i alive
	for t in "$@"; do
		while :; do
			alive=0
			for i in "${!pids[@]}"; do
				if [ -e "${outs[$i]}.res" ]; then
					wait "${pids[$i]}" 2>/dev/null
					collect "${names[$i]}" "${outs[$i]}"
					unset 'pids[i]' 'names[i]' 'outs[i]'
				else
					alive=$((alive + 1))
				fi
			done
			[ "$alive" -lt "$JOBS" ] && break
			sleep 0.5
		done
		n=$((n + 1))
		names[n]="integration/$t"
		outs[n]=$tmp/$n
		run_one "${names[n]}" "${outs[n]}" bash "tests/integration/$t.sh" &
		pids[n]=$!
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" 2>/dev/null
		collect "${names[$i]}" "${outs[$i]}"
	done
}

shopt -s nullglob
if [ $# = 0 ]; then
	for t in "$BUILD"/tests/test_*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		serial "$(basename "$t")" "$t"
	done
fi

if [ "$(id -u)" != 0 ]; then
	echo "# warning: integration tests start services through runuser and need root"
fi
together=()
alone=()
for t in tests/integration/*.sh; do
	t=$(basename "$t" .sh)
	if [ $# != 0 ]; then
		case " $* " in *" $t "*) ;; *) continue ;; esac
	fi
	if [ "$JOBS" -gt 1 ] && ! grep -q '^# run.sh: alone' "tests/integration/$t.sh"; then
		together+=("$t")
	else
		alone+=("$t")
	fi
done
[ ${#together[@]} -gt 0 ] && pool "${together[@]}"
for t in "${alone[@]}"; do
	serial "integration/$t" bash "tests/integration/$t.sh"
done

if [ ${#failures[@]} -gt 0 ]; then
	echo "# failed: ${failures[*]}"
fi
[ "$skipped" != 0 ] && echo "# $skipped skipped (not counted as passed)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
