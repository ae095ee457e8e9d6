#!/usr/bin/env bash
# The precision menu's measurements (F3): "Measure all…" compares every
# precision in the background with progress in the menu, the chat answering
# meanwhile; the results (generation tok/s with a bar, RSS, ΔPPL, KL) show
# in the menu and are kept in the state folder, so a new start shows them
# at once; Esc in the menu cancels a running measurement.
. "$(dirname "$0")/tmux_lib.bash"
require_tmux e2e_chat_measure
plan 7

[ -r /usr/share/common-licenses/GPL-3 ] || skip_all e2e_chat_measure "no GPL-3 text"
# a model whose measurement takes a while (cancelled), one that is quick
big=$TMP/medium.gguf M=$TMP/small.gguf
"$LM" synth --arch phi3 --shape medium --type q8_0 -o "$big" >/dev/null &&
    "$LM" synth --arch phi3 --shape small --type f16 -o "$M" >/dev/null || { fail e2e_measure "synth failed"; exit 0; }
start_shell 150 30 || { fail e2e_measure_shell "no shell prompt in tmux"; exit 0; }
run_lmterm -m "$big" -t 1 -n 8 -s "" --temp 0
wait_for 'Loaded ' 30

keys F3
wait_for '│ +Precision +Weights as +Memory +Gen tok/s +RSS +ΔPPL +KL' 10
check_screen e2e_measure_offered 'Measure all… +speed, memory, accuracy'
for _ in 1 2 3 4 5; do keys Down; done
keys Enter
if wait_for 'Measuring… +[0-9]+%' 20 && wait_for '│ [a-z0-9]+: .*\(Esc cancels\)' 20; then ok e2e_measure_progress_in_menu; else
    fail e2e_measure_progress_in_menu "$(screen)"; fi
keys Escape # cancels the measurement, the menu stays
if wait_for 'Measurement cancelled' 60 && screen | grep -qE '│ +Precision +Weights as'; then
    ok e2e_measure_esc_cancels; else fail e2e_measure_esc_cancels "$(screen)"; fi
keys Escape
wait_gone '│ +Precision +Weights' 5
quit_lmterm

# the quick model, to the end, with a chat while it runs
run_lmterm -m "$M" -t 1 -n 8 -s "" --temp 0
wait_for 'Loaded ' 30
keys F3
wait_for 'Measure all…' 10
for _ in 1 2 3 4 5; do keys Down; done
keys Enter
wait_for 'F3 hide, it goes on' 10
keys F3 # hides the menu; the measurement goes on
wait_gone '│ +Precision +Weights' 5
sleep 0.5 # Escape then a letter too soon reads as Alt-letter
type_text "hello while measuring"
keys Enter
if wait_for '^  hello while measuring$' 15 && wait_for '^Assistant  [0-9]+ tokens?' 120; then
    ok e2e_measure_chat_goes_on; else fail e2e_measure_chat_goes_on "$(screen)"; fi
if wait_for 'Measurement done: 5 of 5 precisions measured' 600; then ok e2e_measure_done; else
    fail e2e_measure_done "$(screen)"; fi
keys F3
wait_for '│ +Precision +Weights' 10
rows=$(screen | grep -cE '(native|FP32|FP16|INT8|INT4) +[A-Z0-9_]+ +[0-9.]+ [KMG]iB +[0-9.]+ [█▏▎▍▌▋▊▉ ]{8} +[0-9.]+ [KMG]iB +([+-][0-9.e+-]+ +[0-9.]+|base +base) +│')
[ "$rows" -eq 5 ] && ok e2e_measure_rows_filled || fail e2e_measure_rows_filled "$rows rows" "$(screen)"
keys Escape
quit_lmterm

# a new start shows the kept figures at once
run_lmterm -m "$M" -t 1 -n 8 -s "" --temp 0
wait_for 'Loaded ' 30
keys F3
if wait_for 'FP32 +F32 .* base +base' 10; then ok e2e_measure_kept; else fail e2e_measure_kept "$(screen)"; fi
keys Escape
quit_lmterm || true # its exit is not what this script tests
