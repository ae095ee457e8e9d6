#!/usr/bin/env bash
# The full-screen chat against the real `lmterm serve` on 127.0.0.1: the
# reply streams with tok/s and memory "remote" in the status bar, Esc stops
# it quickly, F2 lists the server's model under its URL, and a server killed
# mid-reply gives one line while the chat goes on with the reply so far.
. "$(dirname "$0")/tmux_lib.bash"
require_tmux e2e_chat_remote_serve
plan 11

SMALL="$TMP/small-phi3.gguf"
"$LM" synth --arch phi3 --shape small --type q8_0 -c 8192 -o "$SMALL" >/dev/null ||
    { fail e2e_remote_serve_model "synth failed"; exit 0; }
"$LM" serve --port 0 -m "$SMALL" -t 1 -c 8192 2>"$TMP/serve.log" &
SERVE_PID=$!
trap 'kill -9 $SERVE_PID 2>/dev/null; tmux -L "$SOCK" kill-server 2>/dev/null
      rm -rf "$TMP" 2>/dev/null || { sleep 0.5; rm -rf "$TMP"; }' EXIT
for _ in $(seq 300); do
    PORT=$(sed -n 's|.*serving .* on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$TMP/serve.log")
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || { fail e2e_remote_serve_start "$(cat "$TMP/serve.log")"; exit 0; }
URL="http://127.0.0.1:$PORT/v1"

# note_check NAME REGEX: pages back until a reply's header matches.
note_check() {
    for _ in $(seq 40); do
        screen | grep -qE "$2" && break
        keys PPage
        sleep 0.05
    done
    check_screen "$1" "$2" 2
    keys End
}

start_shell 100 30 || { fail e2e_remote_serve_shell "no shell prompt in tmux"; exit 0; }
run_lmterm --remote "$URL" -n 100000 --temp 0 -s ""
check_screen e2e_remote_serve_title '^ lmterm .*small-phi3 .*on http://127.0.0.1:[0-9]+/v1'
if ! long_reply "the sea"; then
    fail e2e_remote_serve_long_reply "no reply lasted 2 seconds: $(status_line)"
    exit 0
fi
if status_line | grep -qE '^ generating │ [0-9]*[1-9][0-9]*\.[0-9] tok/s' &&
    status_line | grep -q 'memory remote'; then ok e2e_remote_serve_status_bar; else
    fail e2e_remote_serve_status_bar "$(status_line)"; fi

t0=$(now_ms)
keys Escape
if wait_idle 5; then
    took=$(($(now_ms) - t0))
    echo "    (Esc to idle: $took ms, measured through tmux)"
    # (tmux polling and a busy machine add to it: tests/cli/remote.sh holds the
    # stop itself to 100 ms)
    if [ "$took" -lt 1000 ]; then ok e2e_remote_serve_esc_stops; else
        fail e2e_remote_serve_esc_stops "took $took ms"; fi
else
    fail e2e_remote_serve_esc_stops "still not idle after 5 s: $(status_line)"
fi
note_check e2e_remote_serve_stopped '^Assistant  [0-9]+ tokens, [0-9.]+ tok/s, stopped'

keys F2
check_screen e2e_remote_serve_model_menu "Model on http://127.0.0.1:$PORT/v1"
check_screen e2e_remote_serve_model_row '● small-phi3( |$)'
keys Escape
wait_gone 'Model on' 5

# Killed mid-reply: one line, the text so far stays, the chat goes on.
long_reply "mountains" || { fail e2e_remote_serve_long_reply_2 "$(status_line)"; exit 0; }
kill -9 $SERVE_PID
wait $SERVE_PID 2>/dev/null
check_screen e2e_remote_serve_killed 'closed the connection mid-answer; the reply so far is kept' 10
wait_idle 5
check e2e_remote_serve_killed_one_line test "$(screen | grep -c 'mid-answer')" -eq 1
note_check e2e_remote_serve_killed_note '^Assistant  [0-9]+ tokens, [0-9.]+ tok/s, failed'
type_text "Still there?"
keys Enter
check_screen e2e_remote_serve_refused 'cannot connect to 127.0.0.1:[0-9]+: Connection refused' 15
wait_idle 5
quit_lmterm && ok e2e_remote_serve_quit || fail e2e_remote_serve_quit "$(screen)"
