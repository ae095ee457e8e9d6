#!/usr/bin/env bash
# Runs every test: the unit-test binaries (one per layer), then each tests/cli/*.sh and
# tests/e2e/*.sh script. Each prints "ok NAME", "FAIL NAME" or "skip NAME: why"
# lines; this script adds them up and ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
: "${LMTERM_BIN:=$PWD/lmterm}"
: "${LMTERM_UNITS:=$PWD/build/release/unit-base $PWD/build/release/unit-infer $PWD/build/release/unit-app $PWD/build/release/unit-serve}"
export LMTERM_BIN LMTERM_UNITS
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Runs one test program; a crash or an unexpected exit status counts as a failure.
run() {
    local out rc
    out=$(mktemp)
    "$@" >"$out" 2>&1
    rc=$?
    grep -v -E '^[0-9]+ passed, [0-9]+ failed' "$out"
    cat "$out" >>"$log"
    if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
        echo "FAIL $* (exit status $rc)" | tee -a "$log"
    fi
    rm -f "$out"
}

for unit in $LMTERM_UNITS; do
    echo "== unit tests: ${unit##*/}"
    run "$unit"
done
for group in cli e2e; do
    for t in tests/$group/*.sh; do
        [ -e "$t" ] || continue
        echo "== $t"
        run bash "$t"
    done
done

passed=$(grep -c '^ok ' "$log")
failed=$(grep -c '^FAIL ' "$log")
skipped=$(grep -c '^skip ' "$log")
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
