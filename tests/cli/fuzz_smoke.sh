#!/usr/bin/env bash
# A short, bounded fuzz run of every target in tests/fuzz/ (tests/fuzz/run.sh):
# LMTERM_FUZZ_SECONDS per target, default 20; 0 only builds the targets and
# replays the inputs that once crashed them. Needs clang with libFuzzer
# (Debian: clang libclang-rt-14-dev); without it each target is a visible skip.
# lmterm-test-timeout: 1500 (tests/run.sh: it builds and runs every fuzzer)
source "$(dirname "$0")/../lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${LMTERM_FUZZ_SECONDS:-20}

targets=()
for f in "$root"/tests/fuzz/fuzz_*.c; do targets+=("$(basename "${f%.c}")"); done
plan ${#targets[@]}

out=$("$root/tests/fuzz/run.sh" "$seconds" 2>&1)
rc=$?
if [ $rc -eq 77 ]; then
    for t in "${targets[@]}"; do skip "$t" "clang with libFuzzer is not installed"; done
    exit 0
fi
for t in "${targets[@]}"; do
    line=$(printf '%s\n' "$out" | grep -m1 "^$t: ")
    case $line in
    "$t: ok"*) ok "$t" ;;
    "$t: FAILED"*)
        # the reason and the indented lines after it
        mapfile -t detail < <(printf '%s\n' "$out" | sed -n "/^$t: FAILED/,/^[^ ]/p" | sed '$!b;/^ /!d')
        fail "$t" "${detail[@]}"
        ;;
    *) fail "$t" "no result from tests/fuzz/run.sh (exit $rc)" "$(printf '%s\n' "$out" | tail -3)" ;;
    esac
done
