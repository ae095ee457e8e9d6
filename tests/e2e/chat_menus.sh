#!/usr/bin/env bash
# The menus of the full-screen chat: the model menu (F2) switches to a second
# synthetic model and the conversation goes on; the precision menu (F3)
# switches FP32 -> INT8 -> INT4 with a chat after each, the title bar and the
# weights' memory changing; a choice that does not fit in memory is refused;
# settings (F5) and the system prompt (F4); a theme switch changes the
# colours (capture-pane -e), the picker previews and Esc takes it back, a
# user theme is offered; the conversations list (F6) resumes a saved
# conversation; the demo model is labelled as random weights and the help
# says how to add a real model.
. "$(dirname "$0")/tmux_lib.bash"
require_tmux e2e_chat_menus
plan 54

MODELS="$E2E_HOME/models" # ~/models: a folder the default config scans
mkdir -p "$MODELS"
"$LM" synth --arch llama --shape tiny --type q8_0 -o "$MODELS/llama-a.gguf" >/dev/null &&
    "$LM" synth --arch phi3 --shape tiny --type f32 -o "$MODELS/phi3-b.gguf" >/dev/null ||
    { fail e2e_menus_models "synth failed"; exit 0; }
start_shell 100 30 || { fail e2e_menus_shell "no shell prompt in tmux"; exit 0; }

# chat_once TEXT: sends TEXT and waits for its reply to be complete (the
# reply's header shows its token count, below the message).
chat_once() {
    type_text "$1"
    keys Enter
    wait_for "^  $1\$" 15 || return 1
    wait_idle 60 || return 1
    local deadline=$(($(now_ms) + 10000))
    until screen | sed -n "/^  $1\$/,\$p" | grep -qE '^Assistant  [0-9]+ tokens?'; do
        [ "$(now_ms)" -gt "$deadline" ] && return 1
        sleep 0.1
    done
}

check_chat() {
    if chat_once "$2"; then ok "$1"; else fail "$1" "no reply to '$2':" "$(screen)"; fi
}

weights() { status_line | grep -oE 'weights [0-9.]+ [KMG]?i?B' | head -1; }
# bytes_of "weights 1.5 MiB": the size in bytes (rounded), for comparing sizes.
bytes_of() {
    awk '{ m = $3 == "GiB" ? 1073741824 : $3 == "MiB" ? 1048576 : $3 == "KiB" ? 1024 : 1
           if ($2 == "") print -1; else printf "%d\n", $2 * m }' <<<"$1"
}

# title_has NAME REGEX: the title bar comes to match.
title_has() {
    local deadline=$(($(now_ms) + ${3:-30} * 1000))
    until title_line | grep -qE -- "$2"; do
        if [ "$(now_ms)" -gt "$deadline" ]; then
            fail "$1" "title: $(title_line)"
            return 1
        fi
        sleep 0.1
    done
    ok "$1"
}

start() {
    keys C-l
    run_lmterm -t 1 -n 8 -s "" --temp 0 "$@"
    wait_for 'Loaded ' 30
}

# ---- the model menu ----

start -m "$MODELS/llama-a.gguf"
keys F2
check_screen e2e_model_menu_opens '│ +Model +Arch +Params +File +Stored +Context │'
check_screen e2e_model_menu_rows '● llama-a +llama +[0-9.]+ K +[0-9.]+ KiB +Q8_0 +8192 │'
check_screen e2e_model_menu_second 'phi3-b +phi3 +[0-9.]+ K +[0-9.]+ KiB +F32 +4096 │'
compare_screen model_menu_100x30 && ok e2e_model_menu_expected || fail e2e_model_menu_expected
keys Escape
wait_gone '│ +Model +Arch' 5
check_chat e2e_menus_first_chat "hello there"
keys F2
wait_for '│ +Model +Arch' 10
keys Down Enter
check_screen e2e_model_switch_loads 'Loaded phi3-tiny-synthetic.*' 30
title_has e2e_model_switch_title 'phi3-tiny-synthetic.*│ phi3 │ native F32'
check e2e_model_switch_keeps_conversation wait_for '^  hello there$' 5
check_chat e2e_model_switch_chat "and now in phi3"
keys F2
check_screen e2e_model_menu_marks_current '● phi3-b +phi3'
keys Escape
wait_gone '│ +Model +Arch' 5

# ---- the precision menu: FP32 -> INT8 -> INT4 ----

# precision_switch NAME DOWNS LABEL: F3, DOWNS times Down, Enter; the
# title comes to show LABEL and the model answers.
precision_switch() {
    local name=$1 downs=$2 label=$3 i
    keys F3
    wait_for '│ +Precision +Weights as +Memory' 10 || { fail "$name" "no menu: $(screen)"; return; }
    for ((i = 0; i < downs; i++)); do keys Down; done
    keys Enter
    title_has "${name}_title" "│ $label │" || return
    wait_idle 30
    check_chat "${name}_chat" "say something at ${label%% *}"
}

keys F3
check_screen e2e_precision_menu_opens '│ +Precision +Weights as +Memory'
check_screen e2e_precision_menu_rows '● native +F32 +[0-9.]+ [KM]iB'
if screen | grep -qE 'FP16 +F16 +[0-9.]+ [KM]iB' && screen | grep -qE 'INT8 +Q8_0 +[0-9.]+ [KM]iB' &&
    screen | grep -qE 'INT4 +Q4_0 +[0-9.]+ [KM]iB'; then ok e2e_precision_menu_memory; else
    fail e2e_precision_menu_memory "$(screen)"
fi
keys Escape
wait_gone '│ +Precision +Weights' 5
precision_switch e2e_precision_fp32 1 "FP32 F32"
w_fp32=$(weights)
precision_switch e2e_precision_int8 2 "INT8 Q8_0"
w_int8=$(weights)
precision_switch e2e_precision_int4 1 "INT4 Q4_0"
w_int4=$(weights)
# Each step down in precision must shrink the weights, not merely change them.
b_fp32=$(bytes_of "$w_fp32") b_int8=$(bytes_of "$w_int8") b_int4=$(bytes_of "$w_int4")
if [ -n "$w_fp32" ] && [ -n "$w_int4" ] && [ "$b_fp32" -gt "$b_int8" ] && [ "$b_int8" -gt "$b_int4" ] &&
    [ "$b_int4" -gt 0 ]; then
    ok e2e_precision_memory_changes
else
    fail e2e_precision_memory_changes "FP32: $w_fp32, INT8: $w_int8, INT4: $w_int4"
fi
check e2e_precision_keeps_conversation wait_for '^  say something at INT8$' 5

# ---- settings and the system prompt ----

keys F5
check_screen e2e_settings_opens '│ +Temperature +0 '
check_screen e2e_settings_rows '│ +Context size +auto \(4096\)'
keys Down # Top-k
keys Enter C-u
type_text "7"
keys Enter
check_screen e2e_settings_sets 'Top-k: 7, from the next reply'
keys End Enter
check_screen e2e_settings_save_default 'Saved to .*config\.yaml'
if grep -q 'top_k: 7' "$E2E_HOME/config/lmterm/config.yaml" 2>/dev/null; then ok e2e_settings_saved_file; else
    fail e2e_settings_saved_file "$(cat "$E2E_HOME/config/lmterm/config.yaml" 2>&1)"
fi
keys Escape
wait_gone '│ +Temperature' 5
type_text "/set context 1024"
keys Enter
title_has e2e_set_context_reloads 'context [0-9]+/1024'

keys F4
check_screen e2e_system_dialog_opens 'No system prompt now'
check_screen e2e_system_dialog_presets 'Preset concise'
keys Home Down Down Down # Edit, None, assistant, concise
keys Enter
check_screen e2e_system_preset_set 'System prompt set'
keys C-Home
check e2e_system_prompt_shown wait_for '^System prompt$' 5
keys C-End

# ---- a choice that does not fit ----

quit_lmterm || fail e2e_menus_quit "$(screen)"
keys C-l
type_text "LMTERM_TEST_MEM_AVAILABLE=300000 $(printf '%q ' "$LM" -m "$MODELS/phi3-b.gguf" -t 1 -n 8 -s "")"
keys Enter
wait_for 'Loaded phi3-tiny' 30
keys F3
check_screen e2e_precision_does_not_fit 'FP16 +F16 +[0-9.]+ [KM]iB +does not fit'
keys Down Down Enter # FP16
check_screen e2e_precision_refused 'needs 408 KiB for its weights'
check e2e_precision_refused_keeps_title wait_for '^ lmterm.*│ native F32 │' 2
keys Escape
wait_gone '│ +Precision +Weights' 5

# ---- themes ----

title_colours() { screen -e | head -1; }
quit_lmterm
start -m "$MODELS/llama-a.gguf"
before=$(title_colours)
type_text "/theme light"
keys Enter
wait_for 'Theme light' 10
after=$(title_colours)
if [ "$before" != "$after" ] && grep -q '48;5;24m' <<<"$before" && grep -q '48;5;25m' <<<"$after"; then
    ok e2e_theme_switch_colours
else
    fail e2e_theme_switch_colours "before: $(cat -v <<<"$before")" "after: $(cat -v <<<"$after")"
fi
# The picker previews as the selection moves; Esc takes the theme back.
mkdir -p "$E2E_HOME/config/lmterm/themes"
printf 'elements:\n  title: { fg: white, bg: [196, red] }\n' >"$E2E_HOME/config/lmterm/themes/mine.yaml"
type_text "/theme"
keys Enter
check_screen e2e_theme_picker_opens '● light'
check e2e_theme_picker_user_theme wait_for '│   mine ' 5
keys Down # mine
deadline=$(($(now_ms) + 5000))
until title_colours | grep -q '48;5;196m' || [ "$(now_ms)" -gt "$deadline" ]; do sleep 0.1; done
check e2e_theme_picker_previews grep -q '48;5;196m' <<<"$(title_colours)"
keys Escape
wait_gone '● light' 5
deadline=$(($(now_ms) + 5000))
until title_colours | grep -q '48;5;25m' || [ "$(now_ms)" -gt "$deadline" ]; do sleep 0.1; done
check e2e_theme_picker_esc_restores grep -q '48;5;25m' <<<"$(title_colours)"

# ---- saved conversations ----

check_chat e2e_conversation_to_save "a conversation to find again"
quit_lmterm
start -m "$MODELS/llama-a.gguf"
keys F6
check_screen e2e_conversations_lists 'llama-tiny-synthetic.*a conversation to find again'
check_screen e2e_conversations_has_dates '│ +20[0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9] '
keys Enter
check_screen e2e_conversations_resumes '^  a conversation to find again$'
check e2e_conversations_resumed_note wait_for 'Loaded [0-9]+ messages? from' 5
check_chat e2e_conversations_goes_on "one more thing"
quit_lmterm

# ---- key bindings from the config ----

printf 'keys:\n  model_menu: Ctrl-O\n  settings: Alt-s\n' >"$TMP/keys.yaml"
start -m "$MODELS/llama-a.gguf" --config "$TMP/keys.yaml"
keys F2
sleep 0.5
if screen | grep -qE '│ +Model +Arch'; then fail e2e_keys_f2_unbound "$(screen)"; else ok e2e_keys_f2_unbound; fi
keys C-o
check_screen e2e_keys_ctrl_o_bound '│ +Model +Arch'
keys Escape
wait_gone '│ +Model +Arch' 5
keys M-s
check_screen e2e_keys_alt_s_bound '│ +Temperature'
keys Escape
wait_gone '│ +Temperature' 5
keys F1
check_screen e2e_keys_in_help '│ Ctrl-O +choose a model'
keys Escape
wait_gone '─ Help ─' 5
quit_lmterm

# ---- true colour, where the terminal has it ----

if infocmp xterm-direct >/dev/null 2>&1; then
    keys C-l
    type_text "TERM=xterm-direct $(printf '%q ' "$LM" -m "$MODELS/llama-a.gguf" -t 1 -s "")"
    keys Enter
    wait_for 'Loaded ' 30
    check e2e_true_colour grep -q '48;2;0;95;135m' <<<"$(screen -e | head -1)"
    quit_lmterm
else
    skip e2e_true_colour "no xterm-direct terminfo entry"
fi

# ---- first run: the demo model ----

keys C-l
type_text "HOME=$(printf '%q' "$TMP/empty-home") $(printf '%q ' "$LM" -t 1 -n 8 -s "")"
keys Enter
check_screen e2e_demo_title '^ lmterm │ demo model — random weights' 30
check_screen e2e_demo_notice 'This is the demo model: its weights are random'
keys F2
check_screen e2e_demo_in_model_menu '● demo model \(random weights\)'
keys Escape
wait_gone '│ +Model +Arch' 5
keys F1
wait_for '│ Keys' 5
for i in 1 2 3 4; do
    screen | grep -q '│ -m FILE.gguf' && break
    keys PageDown
    sleep 0.2
done
if screen | grep -q 'what you are using now' &&
    screen | grep -q '│ -m FILE.gguf' && screen | grep -q '│ config file'; then
    ok e2e_help_says_how_to_add_a_model
else
    fail e2e_help_says_how_to_add_a_model "$(screen)"
fi
keys Escape
wait_gone '─ Help ─' 5
quit_lmterm || fail e2e_menus_last_quit "$(screen)"
