#!/usr/bin/env bash
# The full-screen chat against a server on 127.0.0.1 (the stand-in of
# tests/tools/openai_stub.py): the title names the model and the server, a
# reply streams with tok/s, time to first token and memory "remote" in the
# status bar, Esc stops it quickly with the text kept and marked stopped, F2
# lists the server's models and switches, F3 says the server decides, and a
# server killed mid-reply gives one line while the chat goes on.
. "$(dirname "$0")/tmux_lib.bash"
require_tmux e2e_chat_remote
command -v python3 >/dev/null || skip_all e2e_chat_remote "python3 is not installed"
plan 19

STUB="$(dirname "$0")/../tools/openai_stub.py"
python3 "$STUB" --port-file "$TMP/port" --lifetime 300 &
STUB_PID=$!
trap 'kill $STUB_PID 2>/dev/null; tmux -L "$SOCK" kill-server 2>/dev/null
      rm -rf "$TMP" 2>/dev/null || { sleep 0.5; rm -rf "$TMP"; }' EXIT
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
URL="http://127.0.0.1:$(cat "$TMP/port")/v1"

start_shell 100 30 || { fail e2e_remote_shell "no shell prompt in tmux"; exit 0; }
run_lmterm --remote "$URL" -m stub-long -s ""
check_screen e2e_remote_starts "Using stub-long on http://127.0.0.1:[0-9]+/v1"
check_screen e2e_remote_title '^ lmterm .*stub-long .*on http://127.0.0.1:[0-9]+/v1'

type_text "Hello there"
keys Enter
check_screen e2e_remote_streams '^  w0 w1 w2 w3' 10
if wait_for '^ generating │ [0-9]*[1-9][0-9]*\.[0-9] tok/s' 5 && status_line | grep -q 'memory remote' &&
    status_line | grep -qE 'first token [0-9.]+ s'; then
    ok e2e_remote_status_bar
else
    fail e2e_remote_status_bar "$(status_line)"
fi

# Esc: idle again quickly (the figure includes tmux's own polling).
t0=$(now_ms)
keys Escape
if wait_idle 5; then
    took=$(($(now_ms) - t0))
    echo "    (Esc to idle: $took ms, measured through tmux)"
    if [ "$took" -lt 300 ]; then ok e2e_remote_esc_stops; else fail e2e_remote_esc_stops "took $took ms"; fi
else
    fail e2e_remote_esc_stops "still not idle after 5 s: $(status_line)"
fi
check_screen e2e_remote_stopped_note '^Assistant  [0-9]+ tokens, [0-9.]+ tok/s, stopped' 3
check e2e_remote_partial_kept wait_for '^  w0 w1 w2' 2

# F3: the server decides.
keys F3
check_screen e2e_remote_precision_menu 'The server decides the precision'
keys Escape
wait_gone 'The server decides the precision' 5

# F2: the server's models under its name; choosing one goes on with it.
keys F2
check_screen e2e_remote_model_menu "Model on http://127.0.0.1:[0-9]+/v1"
check_screen e2e_remote_model_rows '● stub-long'
check_screen e2e_remote_model_rows_2 'stub-usage'
keys Up Enter
check_screen e2e_remote_switch 'Using stub-echo on .* The'
type_text "Again"
keys Enter
check_screen e2e_remote_switched_reply 'You said: Again \(turn 2\)' 10
wait_idle 10

# The server dies mid-reply: one line, the reply so far kept, the chat goes on.
keys F2
wait_for "Model on" 5
keys Down Enter
wait_for 'Using stub-long' 10
type_text "Long one"
keys Enter
# (the stopped reply above has the same words: wait for this one's stream)
wait_for '^ generating' 10
sleep 0.5
kill $STUB_PID
check_screen e2e_remote_killed 'closed the connection mid-answer; the reply so far is kept' 10
wait_idle 5
n=$(screen | grep -c 'mid-answer')
check e2e_remote_killed_one_line test "$n" -eq 1
check e2e_remote_killed_kept wait_for '^  w0 w1 w2 w3 w4' 2
type_text "Anyone there?"
keys Enter
check_screen e2e_remote_refused_after 'cannot connect to 127.0.0.1:[0-9]+: Connection refused' 15
wait_idle 5
check e2e_remote_chat_goes_on wait_for '^  Anyone there\?$' 2
quit_lmterm && ok e2e_remote_quit || fail e2e_remote_quit "$(screen)"
