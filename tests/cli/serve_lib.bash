# Shared by tests/cli/serve*.sh (sourced after tests/lib.sh): start
# `lmterm serve` on a free 127.0.0.1 port (--port 0; the port is read from
# its "serving ... on http://..." line), always killed when the test exits.
CLIENT="python3 $(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/serve_client.py"
SERVE_PIDS=()
trap 'for p in "${SERVE_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT

# serve_start LOG ARGS...: starts a server, sets SERVE_PID and PORT; false
# (with the log) when it does not listen within 30 s.
serve_start() {
    local log=$1
    shift
    SERVE_LOG=$log
    "$LM" serve --port 0 "$@" 2>"$log" &
    SERVE_PID=$!
    SERVE_PIDS+=("$SERVE_PID")
    PORT=
    for _ in $(seq 300); do
        PORT=$(sed -n 's|.*serving .* on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$log" | head -1)
        [ -n "$PORT" ] && return 0
        kill -0 "$SERVE_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "server did not start: $(cat "$log")" >&2
    return 1
}

# serve_stop: SIGTERM, then waits (bounded) and sets SERVE_RC; a sanitizer
# report in the server's log is a failure.
serve_stop() {
    kill -TERM "$SERVE_PID" 2>/dev/null
    for _ in $(seq 100); do
        kill -0 "$SERVE_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -9 "$SERVE_PID" 2>/dev/null
    wait "$SERVE_PID" 2>/dev/null
    SERVE_RC=$?
    serve_sanitizer_check
}

serve_sanitizer_check() {
    if grep -qE 'Sanitizer|runtime error' "$SERVE_LOG"; then
        fail "serve_sanitizer_clean ($SERVE_LOG)" "$(grep -m3 -E 'Sanitizer|runtime error|#[0-9] ' "$SERVE_LOG")"
    fi
}

# jget JSON EXPR: a Python expression over d, the parsed JSON.
jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

# gen PATH JSON [KEY]: one normalised answer (see serve_client.py).
gen() { timeout 120 $CLIENT gen "$PORT" "$@"; }

# Resident set size of a process in KiB.
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
