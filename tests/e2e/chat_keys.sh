#!/usr/bin/env bash
# Keys and ways out of the full-screen chat: F1 help, a bracketed paste as
# one message, Tab completion, /edit, Ctrl-S, history kept across runs,
# Ctrl-Z and fg, SIGTERM and a crash signal (the terminal comes back sane),
# TERM=dumb falling back to --plain, NO_COLOR and 8/256-colour terminals.
. "$(dirname "$0")/tmux_lib.bash"
require_tmux e2e_chat_keys
plan 27

M=$(tiny_model llama q8_0) || { fail e2e_keys_model "synth failed"; exit 0; }
start_shell 80 24 || { fail e2e_keys_shell "no shell prompt in tmux"; exit 0; }

# shell_sane NAME: after lmterm is gone, the shell echoes and edits lines.
shell_sane() {
    keys C-l
    type_text 'stty -a | tr " " "\n" | grep -xE -- "-?(icanon|echo)" | sort | tr "\n" " "; echo =$((6*7))'
    keys Enter
    if wait_for '^echo icanon =42' 10; then ok "$1"; else fail "$1" "$(screen)"; fi
}

start() {
    keys C-l
    run_lmterm -m "$M" -t 1 -n 8 -s "" -c 4096 --precision native "$@"
    wait_for 'Loaded llama-tiny' 15
}

start
# The welcome screen, as a person sees it first.
compare_screen welcome_80x24 && ok e2e_welcome_expected || fail e2e_welcome_expected

# F1 opens the help over the chat, Esc closes it and the chat is as before.
before=$(settled_screen)
keys F1
check_screen e2e_help_opens '│ Enter +send the message'
compare_screen help_80x24 && ok e2e_help_expected || fail e2e_help_expected
for i in 1 2 3 4; do # page by page down to the commands
    keys PageDown
    wait_for '│ /regen +write the last reply again' 1 && break
done
check_screen e2e_help_scrolls '│ /regen +write the last reply again'
keys Escape
wait_gone '─ Help ─' 5
after=$(settled_screen)
check e2e_help_closes test "$before" = "$after"
keys F1
wait_for '─ Help ─' 5
keys F1
check e2e_help_f1_closes wait_gone '─ Help ─' 5

# A three-line paste arrives whole: three lines in the box, one message.
t set-buffer -b p "$(printf 'first pasted line\nsecond pasted line\nthird pasted line')"
t paste-buffer -p -d -b p -t e2e
check_screen e2e_paste_in_box '^  third pasted line'
keys Enter
wait_idle 15
messages=$(screen | grep -c '^You$')
block=$(screen | sed -n '/^You$/,/^$/p' | tr '\n' '|')
if [ "$messages" -eq 1 ] &&
    [ "$block" = "You|  first pasted line|  second pasted line|  third pasted line||" ]; then
    ok e2e_paste_one_message
else
    fail e2e_paste_one_message "$messages messages: $block"
fi

# Alt-Enter and Ctrl-J start a new line in the message.
type_text "line A"
keys M-Enter
type_text "line B"
keys C-j
type_text "line C"
check_screen e2e_newline_keys '^  line C'
keys C-u C-h C-u C-h C-u

# Tab completes slash commands.
type_text "/reg"
keys Tab
check_screen e2e_tab_completes '^› /regen *$'
keys C-u

# /edit takes the last message back into the box.
type_text "/edit"
keys Enter
check_screen e2e_edit '^  third pasted line$'
keys C-u C-h C-u C-h C-u C-h

# Ctrl-S saves the conversation as a transcript.
type_text "a message to save"
keys Enter
wait_idle 15
keys C-s
wait_for 'Saved to' 10
if ls "$E2E_HOME"/data/lmterm/transcripts/lmterm-*.json >/dev/null 2>&1; then ok e2e_ctrl_s_saves; else
    fail e2e_ctrl_s_saves "$(screen)"
fi

# -r brings a saved conversation back on the screen.
saved=$(ls "$E2E_HOME"/data/lmterm/transcripts/lmterm-*.json 2>/dev/null | head -1)
quit_lmterm || fail e2e_quit_before_resume "$(screen)"
start -r "$saved"
check_screen e2e_resume_shows_conversation '^  a message to save$'

# Ctrl-Z hands the terminal to the shell; fg brings the chat back whole.
before=$(settled_screen)
keys C-z
if wait_for 'Stopped' 10; then
    type_text "fg"
    keys Enter
    wait_for 'Loaded llama-tiny' 10
    after=$(settled_screen)
    check e2e_ctrl_z_fg test "$before" = "$after"
else
    fail e2e_ctrl_z_fg "$(screen)"
fi

# The typed messages are in the history: after a restart, Up brings them back.
quit_lmterm || fail e2e_quit "$(screen)"
shell_sane e2e_shell_sane_after_quit
start
keys Up
check_screen e2e_history_kept '^› a message to save$'
keys C-u

quit_lmterm || fail e2e_quit_after_history "$(screen)"

# The ways out give the terminal back as lmterm found it. Bash would repair
# the line modes of a job killed by a signal, and readline toggles bracketed
# paste itself, so lmterm runs under sh, which repairs nothing, and the pane
# is read before any shell runs again: the line modes (stty in sh), the main
# screen (#{alternate_on}), a visible cursor (#{cursor_flag}), mouse
# reporting off (the #{mouse_*_flag}s) and bracketed paste off (tmux wraps a
# paste-buffer -p in ESC[200~ only while the program asked for it; cat -v
# shows what arrives).
cat >"$TMP/under_sh" <<'WRAP'
"$@"
echo "lmterm exit $?"
stty -a | tr ' ' '\n' | grep -xE -- '-?(icanon|echo)' | sort | tr '\n' ' '
echo '=line modes'
timeout --foreground 60 cat -v
stty sane
WRAP
pane_modes() {
    t display-message -p -t e2e 'alt=#{alternate_on} cursor=#{cursor_flag} mouse=#{mouse_standard_flag}#{mouse_button_flag}#{mouse_any_flag}#{mouse_sgr_flag}'
}
# exits_clean NAME HOW: HOW is quit or a signal name.
exits_clean() {
    local name=$1 how=$2 running after problems=""
    keys C-l
    type_text "sh $(printf '%q ' "$TMP/under_sh" "$LM" -m "$M" -t 1 -n 8 -s "" -c 4096 --precision native)"
    keys Enter
    if ! wait_for 'Loaded llama-tiny' 15; then
        fail "$name" "lmterm did not start" "$(screen)"
        return
    fi
    running=$(pane_modes)
    if [ "$how" = quit ]; then
        type_text "/quit"
        keys Enter
    else
        pkill "-$how" -f -- "^$LM -m $M -t 1 -n 8"
    fi
    if ! wait_for '=line modes' 10; then
        fail "$name" "lmterm did not end" "$(screen)"
        return
    fi
    after=$(pane_modes)
    t set-buffer -b probe "PROBE"
    t paste-buffer -p -d -b probe -t e2e
    wait_for 'PROBE' 5
    [[ $running == "alt=1 cursor="?" mouse="*1* ]] ||
        problems="$problems; while running: $running (want alt=1 and a mouse mode: the check sees nothing)"
    [ "$after" = "alt=0 cursor=1 mouse=0000" ] || problems="$problems; after: $after (want alt=0 cursor=1 mouse=0000)"
    screen | grep -q '^echo icanon =line modes' ||
        problems="$problems; line modes: $(screen | grep '=line modes')"
    screen | grep -qF '^[[200~' && problems="$problems; bracketed paste still on"
    keys C-c
    wait_for '^shell\$ *$' 70
    if [ -z "$problems" ]; then ok "$name"; else
        fail "$name" "${problems#; }"
        screen | sed 's/^/    | /'
    fi
}
exits_clean e2e_quit_restores quit
# SIGTERM: lmterm leaves and gives the terminal back.
exits_clean e2e_sigterm_restores TERM
# SIGHUP (the terminal window closed) takes the same way out.
exits_clean e2e_sighup_restores HUP
# A crash signal: the terminal is restored before the process dies.
exits_clean e2e_crash_restores SEGV

# TERM=dumb: the plain chat, with a word on why.
keys C-l
type_text "TERM=dumb $(printf '%q' "$LM") -m $(printf '%q' "$M") -t 1 -n 4 --temp 0 -s ''"
keys Enter
check_screen e2e_dumb_terminal_message 'TERM=dumb.*using --plain'
check_screen e2e_dumb_terminal_prompt '^> ?$'
type_text "hello there"
keys Enter
# The reply: a line of the model's text after the echo of the message, then
# the next prompt.
after_message() {
    screen | sed -n '/^> hello there$/,$p' | sed 1d |
        awk '/[^[:space:]]/ { while (n > 0) { print ""; n-- } print; next } { n++ }'
}
deadline=$(($(now_ms) + 15000))
until after_message | tail -1 | grep -qE '^> ?$' || [ "$(now_ms)" -gt "$deadline" ]; do sleep 0.05; done
if after_message | head -1 | grep -qE '^[^>]*[^[:space:]>]' &&
    after_message | tail -1 | grep -qE '^> ?$' && [ "$(after_message | wc -l)" -ge 2 ]; then
    ok e2e_plain_reply
else
    fail e2e_plain_reply "no reply text and next prompt after the message:"
    screen | sed 's/^/    | /'
fi
keys C-c
check_screen e2e_plain_ctrl_c '\^C \(Ctrl-D or /quit quits\)'
type_text "/quit"
keys Enter
wait_for '^shell\$ *$' 10 || fail e2e_dumb_quit "$(screen)"

# Colours: 256 on tmux-256color, the basic 8 on xterm, none with NO_COLOR.
colours_of() {
    keys C-l
    type_text "$1 $(printf '%q' "$LM") -m $(printf '%q' "$M") -t 1 -s ''"
    keys Enter
    wait_for 'Loaded llama-tiny' 15
    screen -e >"$TMP/colours"
    quit_lmterm
}
colours_of "TERM=tmux-256color"
check e2e_colours_256 grep -q '38;5;' "$TMP/colours"
colours_of "TERM=xterm"
if grep -qE '\[3[0-7]m|;3[0-7]m|\[3[0-7];' "$TMP/colours" && ! grep -q '38;5;' "$TMP/colours"; then
    ok e2e_colours_8
else
    fail e2e_colours_8 "$(head -3 "$TMP/colours" | cat -v)"
fi
colours_of "NO_COLOR=1 TERM=tmux-256color"
if ! grep -qE '38;5;|\[3[0-7]m|;3[0-7]m|\[4[0-7]m|;4[0-7]m' "$TMP/colours" &&
    grep -q $'\e\\[[0-9;]*7m' "$TMP/colours"; then
    ok e2e_no_color
else
    fail e2e_no_color "$(head -3 "$TMP/colours" | cat -v)"
fi
