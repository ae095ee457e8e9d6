#!/usr/bin/env bash
# The command line against llama.cpp's answers in ../shared/conformance (its
# README, sections 4 and 5): `lmterm tokenize` over both JSONL files,
# `lmterm logits -c N` against every case's .f32 row within the file's
# tolerance, and `lmterm run --temp 0 -n 16` against the greedy steps where the
# margin rule applies. tests/cli/conformance.py does the comparing.
source "$(dirname "$0")/../lib.sh"
HERE=$(dirname "$0")

dir=$(conformance_dir) || skip_all cli_conformance "no ../shared/conformance beside the checkout"
command -v python3 >/dev/null || skip_all cli_conformance "python3 is not installed"
plan "$(python3 "$HERE/conformance.py" "$LM" "$dir" count)"
for mode in tokenize logits greedy; do
    python3 "$HERE/conformance.py" "$LM" "$dir" $mode || fail "cli_conformance_$mode" "conformance.py $mode: exit status $?"
done
