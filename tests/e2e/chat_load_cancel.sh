#!/usr/bin/env bash
# Loading a model shows a progress box, and Esc cancels the load: the model
# in use stays and answers. A load slow enough to watch: the synthetic
# "large" phi3 (0.5 G parameters, 290 MiB as Q4_0) converted to INT8 at load
# on one thread, a few seconds; LMTERM_E2E_BIG=1 uses phi3-mini (2 GiB).
. "$(dirname "$0")/tmux_lib.bash"
require_tmux e2e_load_cancel
plan 7

SHAPE=large NAME=phi3-large
[ "${LMTERM_E2E_BIG:-}" = 1 ] && SHAPE=phi3-mini NAME=phi3-mini
MODELS="$E2E_HOME/models"
mkdir -p "$MODELS"
"$LM" synth --arch llama --shape tiny --type q8_0 -o "$MODELS/a-tiny.gguf" >/dev/null &&
    "$LM" synth --arch phi3 --shape $SHAPE --type q4_0 -o "$MODELS/b-big.gguf" >/dev/null ||
    { fail e2e_load_cancel_models "synth failed"; exit 0; }
start_shell 100 30 || { fail e2e_load_cancel_shell "no shell prompt in tmux"; exit 0; }

run_lmterm -m "$MODELS/a-tiny.gguf" -t 1 -n 8 -s "" --precision int8
wait_for 'Loaded llama-tiny' 30
keys F2
wait_for '│ +Model +Arch' 10
keys Down Enter
check_screen e2e_load_box '─ Loading ─' 10
check_screen e2e_load_box_says_what "$NAME.* at INT8"
check_screen e2e_load_box_says_esc 'Esc cancels; llama-tiny-synthetic'
pct() { screen | grep -oE '[0-9]+%│' | head -1 | tr -d '%│'; }
first=$(pct)
deadline=$(($(now_ms) + 30000))
until [ "$(pct)" -gt "${first:-0}" ] 2>/dev/null || [ "$(now_ms)" -gt "$deadline" ]; do sleep 0.2; done
check e2e_load_box_progresses test "$(pct)" -gt "${first:-0}"
keys Escape
check_screen e2e_load_cancelled 'Loading phi3-.* cancelled; llama-tiny-synthetic' 30
wait_gone '─ Loading ─' 5
check e2e_load_cancel_keeps_title wait_for '^ lmterm │ llama-tiny-synthetic' 2
type_text "still here"
keys Enter
wait_idle 30
check_screen e2e_load_cancel_still_answers '^Assistant  [0-9]+ tokens?' 10
type_text "/quit"
keys Enter
wait_for '^shell\$ *$' 10
rm -f "$MODELS/b-big.gguf"
