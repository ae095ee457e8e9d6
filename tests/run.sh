#!/usr/bin/env bash
# Runs every test: the unit-test binaries (one per layer), then each tests/cli/*.sh and
# tests/e2e/*.sh script. Each prints "ok NAME", "FAIL NAME" or "skip NAME: why"
# lines; this script adds them up and ends with "N passed, N failed" (", N skipped").
#
# Each test runs under a time limit (LMTERM_TEST_TIMEOUT seconds, 600 by default,
# or more where a script has a line "# lmterm-test-timeout: N"):
# a test that hangs is killed, counted as a FAIL, and the run goes on. A test
# that dies by a signal is a FAIL even when it had already printed one. Each
# test declares how many result lines it prints ("plan N", see tests/lib.sh; the
# unit binaries print theirs): none, or fewer, is a FAIL. Afterwards the five
# slowest tests are listed (wall-clock seconds; noisy on a shared machine).
set -u
cd "$(dirname "$0")/.."
: "${LMTERM_BIN:=$PWD/lmterm}"
: "${LMTERM_UNITS:=$PWD/build/release/unit-base $PWD/build/release/unit-infer $PWD/build/release/unit-app $PWD/build/release/unit-serve}"
: "${LMTERM_TEST_TIMEOUT:=600}"
export LMTERM_BIN LMTERM_UNITS
log=$(mktemp)
times=$(mktemp)
trap 'rm -f "$log" "$times"' EXIT

# plan_problem FILE: why the result lines of FILE do not match its plan, if they do not.
plan_problem() {
    local plan n
    grep -q '^plan skipped$' "$1" && return 0
    plan=$(grep -E '^plan [0-9]+$' "$1" | tail -1 | cut -d' ' -f2)
    n=$(grep -cE '^(ok |FAIL |skip )' "$1")
    if [ -z "$plan" ]; then
        echo "declares no plan (add \"plan N\" before its first check; see tests/lib.sh)"
    elif [ "$n" -ne "$plan" ]; then
        echo "planned $plan checks, reported $n"
    fi
}

# run NAME COMMAND...: one test program, under the time limit.
run() {
    local name=$1 out rc start why limit n
    shift
    out=$(mktemp)
    limit=$LMTERM_TEST_TIMEOUT
    # a script that needs longer says so in a line "# lmterm-test-timeout: N"
    [ -f "${!#}" ] && n=$(sed -n 's/^# lmterm-test-timeout: \([0-9]*\).*/\1/p' "${!#}" | head -1) &&
        [ -n "$n" ] && [ "$n" -gt "$limit" ] && limit=$n
    start=$(date +%s%N)
    timeout -k 10 "$limit" "$@" >"$out" 2>&1
    rc=$?
    echo "$((($(date +%s%N) - start) / 1000000)) $name" >>"$times"
    grep -v -E '^[0-9]+ passed, [0-9]+ failed|^plan ' "$out"
    cat "$out" >>"$log"
    why=""
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        why="timed out after ${limit}s"
    elif [ $rc -gt 128 ]; then
        why="killed by signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null))"
    elif [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
        why="exit status $rc"
    elif [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
        why="exit status $rc"
    fi
    [ -n "$why" ] && echo "FAIL $name ($why)" | tee -a "$log"
    why=$(plan_problem "$out")
    [ -n "$why" ] && echo "FAIL $name: $why" | tee -a "$log"
    rm -f "$out"
}

for unit in $LMTERM_UNITS; do
    echo "== unit tests: ${unit##*/}"
    run "${unit##*/}" "$unit"
done
for group in cli e2e; do
    for t in tests/$group/*.sh; do
        [ -e "$t" ] || continue
        echo "== $t"
        run "$t" bash "$t"
    done
done

echo "slowest tests (seconds, wall clock):"
sort -rn "$times" | head -5 | awk '{ printf "  %7.1f  %s\n", $1 / 1000, $2 }'
passed=$(grep -c '^ok ' "$log")
failed=$(grep -c '^FAIL ' "$log")
skipped=$(grep -c '^skip ' "$log")
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
