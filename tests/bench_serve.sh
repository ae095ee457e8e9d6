#!/usr/bin/env bash
# Parallel-slot throughput of lmterm serve (not part of make check): a
# synthetic phi3-mini Q4_0 (made once under ${BENCH_DIR:-/tmp/serve}), one
# server with --parallel 8, then 1, 2, 4 and 8 clients streaming at once.
# Prints per client count: aggregate generated tok/s and the latency of the
# first token. Environment: LMTERM_BIN, BENCH_DIR, BENCH_TOKENS (default 32),
# BENCH_THREADS (default: lmterm's), BENCH_CTX (per slot, default 512),
# BENCH_MODEL (another model), BENCH_CLIENTS (default "1 2 4 8").
set -u
here=$(cd "$(dirname "$0")" && pwd)
LM=${LMTERM_BIN:-$here/../lmterm}
dir=${BENCH_DIR:-/tmp/serve}
tokens=${BENCH_TOKENS:-32}
mkdir -p "$dir"
model=${BENCH_MODEL:-$dir/phi3-mini-q4_0.gguf}
[ -f "$model" ] || "$LM" synth --arch phi3 --shape phi3-mini --type q4_0 -o "$model" >/dev/null || exit 1
log=$dir/bench-serve.log
threads=()
[ -n "${BENCH_THREADS:-}" ] && threads=(-t "$BENCH_THREADS")
"$LM" serve -m "$model" --port 0 --parallel 8 -c "${BENCH_CTX:-512}" --quiet "${threads[@]}" 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null' EXIT
port=
for _ in $(seq 600); do
    port=$(sed -n 's|.*serving .* on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$log")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.1
done
[ -n "$port" ] || { echo "server did not start" >&2; exit 1; }
python3 "$here/cli/serve_client.py" bench "$port" 1 4 >/dev/null # warm-up: weights paged in
for n in ${BENCH_CLIENTS:-1 2 4 8}; do
    python3 "$here/cli/serve_client.py" bench "$port" "$n" "$tokens"
done
