#!/usr/bin/env bash
# The full-screen chat in tmux, with a model slow enough to watch: a typed
# message appears, the reply grows while it streams, the status bar shows
# speed and memory, Esc stops the reply within a second, and after quitting
# the shell prompt works.
. "$(dirname "$0")/tmux_lib.bash"
require_tmux e2e_chat_stream
plan 14

SMALL="$TMP/small-phi3.gguf"
"$LM" synth --arch phi3 --shape small --type q8_0 -c 8192 -o "$SMALL" >/dev/null ||
    { fail e2e_stream_model "synth failed"; exit 0; }

start_shell 80 24 || { fail e2e_stream_shell "no shell prompt in tmux"; exit 0; }
# greedy: a random model then often rambles on until the context is full
run_lmterm -m "$SMALL" -t 1 -c 8192 -n 100000 --temp 0 -s "" --precision native
check_screen e2e_starts 'Loaded phi3-small-synthetic'
check_screen e2e_title_bar '^ phi3-small-synthetic .*phi3 .*native Q8_0 .*context 0/8192'

type_text "Tell me a long story about 日本"
check_screen e2e_typed_in_box '^› Tell me a long story about 日本'
keys Enter
wait_for '^ (reading|generating)' 15
sleep 2
if ! status_line | grep -q '^ generating' && ! { wait_idle 30 && long_reply; }; then
    fail e2e_long_reply "no reply lasted 2 seconds: $(status_line)"
    exit 0
fi

# Two captures a moment apart: the reply has grown (its text on the screen
# changed, the context holds more tokens).
reply_text() { screen | sed -n '2,/^──/p'; } # the pane, which ends with the reply
context_used() { title_line | sed -nE 's/.*context ([0-9]+)\/.*/\1/p'; }
wait_for '^ generating' 15
r1=$(reply_text) x1=$(context_used)
deadline=$(($(now_ms) + 10000))
while r2=$(reply_text) x2=$(context_used); [ "$r2" = "$r1" ] || [ "$x2" -le "$x1" ]; do
    [ "$(now_ms)" -gt "$deadline" ] && break
    sleep 0.1
done
if [ "$r2" != "$r1" ] && [ "$x2" -gt "$x1" ]; then
    ok e2e_reply_grows
else
    fail e2e_reply_grows "context $x1 -> $x2 tokens; reply on screen:" "$r2"
fi

# While generating: a speed above zero and memory figures.
if status_line | grep -qE '^ generating │ [0-9]*[1-9][0-9]*\.[0-9] tok/s' &&
    status_line | grep -qE 'RSS [0-9.]+ (KiB|MiB|GiB)'; then
    ok e2e_status_bar
else
    fail e2e_status_bar "$(status_line)"
fi

# The message is in the pane (at the top, the reply may have filled the rest).
keys Home
check_screen e2e_message_in_pane '^  Tell me a long story about 日本$'
keys End

# Esc stops the reply within a second; the reply then stays as it is.
t0=$(now_ms)
keys Escape
if wait_idle 5; then
    took=$(($(now_ms) - t0))
    if [ "$took" -lt 1000 ]; then ok e2e_esc_stops; else fail e2e_esc_stops "took $took ms"; fi
else
    fail e2e_esc_stops "still not idle after 5 s: $(status_line)"
fi
x1=$(context_used)
sleep 0.5
check e2e_stopped_stays test "$(context_used)" = "$x1"
# The reply's header says it was stopped (page back to it).
for _ in $(seq 20); do
    screen | grep -qE '^Assistant .*, stopped' && break
    keys PPage
    sleep 0.05
done
check_screen e2e_stopped_note '^Assistant  [0-9]+ tokens, [0-9.]+ tok/s, stopped' 2
keys End

# Scrolled up, new text does not move the view and a marker says so.
long_reply "another story" || fail e2e_long_reply_2 "$(status_line)"
keys PPage
check_screen e2e_new_text_marker 'new text below'
keys End
wait_gone 'new text below' 5

# Enter while the reply is written keeps the message in the box.
type_text "not yet"
keys Enter
check_screen e2e_enter_while_busy '^› not yet$'
check_screen e2e_enter_while_busy_hint 'Esc stops it, then Enter sends this'
keys C-u
keys C-c
wait_idle 5

# Ctrl-C at an empty prompt says how to quit.
keys C-c
check_screen e2e_ctrl_c_hint 'Ctrl-D or /quit quits'

# Ctrl-D quits; the shell works as before (echo, line editing).
keys C-d
if wait_for '^shell\$ *$' 10; then
    type_text 'stty -a | tr " " "\n" | grep -xE -- "-?(icanon|echo)" | sort | tr "\n" " "; echo =$((6*7))'
    keys Enter
    if wait_for '^echo icanon =42' 10; then ok e2e_shell_usable_after_quit; else
        fail e2e_shell_usable_after_quit "$(screen)"
    fi
else
    fail e2e_quit "$(screen)"
fi
