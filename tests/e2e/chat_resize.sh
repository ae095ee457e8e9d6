#!/usr/bin/env bash
# Resizing 80x24 -> 200x50 -> 40x15 (and while a reply streams) reflows the
# conversation: no garbage (the screen equals a full redraw), no line wider
# than the terminal, no wide character cut or lost.
. "$(dirname "$0")/tmux_lib.bash"
require_tmux e2e_chat_resize
plan 18

SMALL="$TMP/small-phi3.gguf"
"$LM" synth --arch phi3 --shape small --type q8_0 -c 8192 -o "$SMALL" >/dev/null ||
    { fail e2e_resize_model "synth failed"; exit 0; }

MSG="日本語のテキストはとても長いのでこの行は折り返されるはずです。絵文字も😀🎉👍あります and English words to wrap 中文字符测试"

start_shell 80 24 || { fail e2e_resize_shell "no shell prompt in tmux"; exit 0; }
run_lmterm -m "$SMALL" -t 1 -c 8192 -n 0 --temp 0 -s "" --precision native
wait_for 'Loaded phi3-small' 15
type_text "$MSG"
keys Enter
wait_for '^Assistant  0 tokens' 15
wait_idle 15

# layout_problem COLS ROWS STATUS_RE: what is out of place in the pane, if
# anything, for a layout drawn at COLS x ROWS: the title bar on row 1, the
# input box's top border (full width) and prompt on the rows above the status
# bar, and the status bar on the last row. tmux always gives back a pane of
# its own size, so only the program's landmarks tell a layout drawn for the
# old size from one drawn for the new.
layout_problem() {
    local cols=$1 rows=$2 status_re=$3 pane n border w
    pane=$(screen)
    n=$(printf '%s\n' "$pane" | wc -l)
    border=$(printf '%s\n' "$pane" | sed -n "$((rows - 2))p")
    w=$(printf '%s' "$border" | LC_ALL=C.UTF-8 wc -L)
    if [ "$n" -ne "$rows" ]; then
        echo "$n rows, want $rows"
    elif ! printf '%s\n' "$pane" | sed -n 1p | grep -qE '^ (lmterm │ )?phi3-small'; then
        echo "row 1 is not the title bar: $(printf '%s\n' "$pane" | sed -n 1p)"
    elif ! [[ $border == "── "*"─" ]] || [ "$w" -ne "$cols" ]; then
        echo "row $((rows - 2)) is not the input box's border, $cols wide ($w): $border"
    elif ! printf '%s\n' "$pane" | sed -n "$((rows - 1))p" | grep -q '^› '; then
        echo "row $((rows - 1)) is not the input line: $(printf '%s\n' "$pane" | sed -n "$((rows - 1))p")"
    elif ! printf '%s\n' "$pane" | sed -n "${rows}p" | grep -qE "$status_re"; then
        echo "row $rows is not the status bar /$status_re/: $(printf '%s\n' "$pane" | sed -n "${rows}p")"
    fi
}

# check_layout NAME COLS ROWS STATUS_RE: the landmarks are in place within 3 s.
check_layout() {
    local why deadline=$(($(now_ms) + 3000))
    while why=$(layout_problem "$2" "$3" "$4") && [ -n "$why" ] && [ "$(now_ms)" -lt "$deadline" ]; do
        sleep 0.05
    done
    if [ -z "$why" ]; then ok "$1"; else
        fail "$1" "$why"
        screen | sed 's/^/    | /'
    fi
}

# The user's message as the pane shows it, put back together.
shown_message() {
    sed -n '/^You$/,/^$/p' | sed '1d;$d' | sed 's/^  //' | tr -d '\n '
}

# check_size NAME COLS ROWS: the pane after a resize.
check_size() {
    local name=$1 cols=$2 rows=$3 before after
    before=$(settled_screen)
    keys C-l
    after=$(settled_screen)
    if [ "$before" = "$after" ]; then ok "${name}_no_garbage"; else
        fail "${name}_no_garbage" "the screen differs from a full redraw:"
        diff <(echo "$before") <(echo "$after") | sed 's/^/    /'
    fi
    check_layout "${name}_layout" "$cols" "$rows" '^ idle'
    if [ "$(echo "$after" | shown_message)" = "$(echo "$MSG" | tr -d ' ')" ] &&
        ! echo "$after" | grep -q $'\xef\xbf\xbd'; then
        ok "${name}_wide_chars_whole"
    else
        fail "${name}_wide_chars_whole" "shown: $(echo "$after" | shown_message)"
    fi
    if echo "$after" | head -1 | grep -qE '^ (lmterm │ )?phi3-small' && echo "$after" | tail -1 | grep -q '^ idle'; then
        ok "${name}_bars"
    else
        fail "${name}_bars" "$after"
    fi
}

check_size e2e_80x24 80 24
compare_screen chat_80x24 && ok e2e_80x24_expected || fail e2e_80x24_expected
resize 200 50
check_size e2e_200x50 200 50
resize 40 15
check_size e2e_40x15 40 15
compare_screen chat_40x15 && ok e2e_40x15_expected || fail e2e_40x15_expected

# Resizing while a reply streams.
resize 80 24
type_text "/set max-tokens 100000"
keys Enter
long_reply || fail e2e_long_reply "$(status_line)"
for size in "120 40" "60 20" "100 30" "40 15"; do
    resize $size
    sleep 0.15
done
check_layout e2e_resize_mid_reply_layout_40x15 40 15 '^ generating'
resize 80 24
check_layout e2e_resize_mid_reply_layout_80x24 80 24 '^ generating'
keys Escape
wait_idle 5
before=$(settled_screen)
keys C-l
after=$(settled_screen)
check e2e_resized_stream_no_garbage test "$before" = "$after"
check_layout e2e_resized_stream_layout 80 24 '^ idle'
quit_lmterm || fail e2e_resize_quit "$(screen)"
