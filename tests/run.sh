#!/usr/bin/env bash
# run.sh: the whole test suite.  Runs every unit binary $BUILD/tests/test_*
# and every tests/integration/*.sh, shows their output, counts their TAP
# lines and ends with one line `N passed, N failed` (exit 1 if any failed).
#
# A program that exits non-zero without a `not ok` line of its own (a crash,
# a time-out, a sanitizer report) counts as one failure under its name.
set -u

cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
export BUILD
TIMEOUT=${TEST_TIMEOUT:-300}

passed=0
failed=0
failures=()
out=$(mktemp /tmp/itsmd-run.XXXXXX)
trap 'rm -f "$out"' EXIT

# run NAME CMD...: one program, its output shown as it comes and kept in
# $out for counting.
run() {
	local name=$1 rc ok bad start
	shift
	echo "# --- $name"
	start=$SECONDS
	# timeout signals the program's whole process group, so an integration
	# script's EXIT trap still stops the services it started.
	timeout --kill-after=30 "$TIMEOUT" "$@" </dev/null 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	ok=$(grep -c '^ok ' "$out")
	bad=$(grep -c '^not ok ' "$out")
	if [ "$rc" != 0 ] && [ "$bad" = 0 ]; then
		if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			echo "not ok - $name: timed out after $TIMEOUT s"
		elif [ "$rc" -gt 128 ]; then
			echo "not ok - $name: killed by signal $((rc - 128))" \
			    "($(kill -l $((rc - 128)) 2>/dev/null))"
		else
			echo "not ok - $name: exit status $rc"
		fi
		bad=1
	fi
	passed=$((passed + ok))
	failed=$((failed + bad))
	[ "$bad" != 0 ] && failures+=("$name")
	echo "# $name: $ok ok, $bad not ok, exit $rc, $((SECONDS - start)) s"
}

shopt -s nullglob
for t in "$BUILD"/tests/test_*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	run "$(basename "$t")" "$t"
done

if [ "$(id -u)" != 0 ]; then
	echo "# warning: integration tests start services through runuser and need root"
fi
for t in tests/integration/*.sh; do
	run "integration/$(basename "$t")" bash "$t"
done

if [ ${#failures[@]} -gt 0 ]; then
	echo "# failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
