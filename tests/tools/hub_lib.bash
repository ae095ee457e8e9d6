# Shell helpers for tests that need the stand-in hub (tests/tools/hub_server.py).
# Source after tests/lib.sh. hub_start ARGS... starts one on 127.0.0.1 and sets
# HUB_URL, HUB_LOG and HUB_PID; hub_stop stops it (also at exit).
HUB_PIDS=()
hub_start() {
    local dir pf i
    dir=$(mktemp -d "$TMP/hub.XXXXXX")
    pf=$dir/port
    HUB_LOG=$dir/log
    python3 "$(dirname "${BASH_SOURCE[0]}")/hub_server.py" --port-file "$pf" --log "$HUB_LOG" "$@" \
        >"$dir/stderr" 2>&1 &
    HUB_PID=$!
    HUB_PIDS+=("$HUB_PID")
    for i in $(seq 100); do
        [ -s "$pf" ] && break
        sleep 0.1
    done
    [ -s "$pf" ] || { cat "$dir/stderr" >&2; return 1; }
    HUB_URL=http://127.0.0.1:$(cat "$pf")
    : >"$HUB_LOG"
}
hub_stop() {
    [ -n "${HUB_PID:-}" ] && kill "$HUB_PID" 2>/dev/null && wait "$HUB_PID" 2>/dev/null
    HUB_PID=
}
hub_cleanup() {
    local p
    for p in "${HUB_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    # a program of the test may still be writing under it: try again
    rm -rf "$TMP" 2>/dev/null || { sleep 0.5; rm -rf "$TMP"; }
}
trap hub_cleanup EXIT
# A port on 127.0.0.1 nothing listens on.
closed_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
