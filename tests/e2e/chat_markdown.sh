#!/usr/bin/env bash
# A reply's Markdown on the screen (capture-pane -e shows the attributes):
# headings like the reply's header, **strong** bold, *emphasis* italic,
# `inline code` like a code block, list bullets and numbers, block quotes like
# notices, the markers themselves gone; the transcript keeps the raw text.
# Alt-W copies the last reply and Alt-K the code block in view to the
# clipboard with OSC 52: tmux (set-clipboard on) turns it into a paste buffer;
# with set-clipboard off the chat says why the copy cannot arrive.
. "$(dirname "$0")/tmux_lib.bash"
require_tmux e2e_chat_markdown
command -v python3 >/dev/null || skip_all e2e_chat_markdown "python3 is not installed"
plan 12
SGR_AT="python3 $(dirname "$0")/sgr_at.py"

M=$(tiny_model llama q8_0) || { fail e2e_md_model "synth failed"; exit 0; }
REPLY=$'# Heading one\nSome **bold** and *italic* and `inline code` here.\n- first item\n- second item\n1. numbered\n> a quote\n```python\nprint(1)\n```\nplain end'
python3 - "$TMP/md.json" "$M" "$REPLY" <<'PY'
import json, sys
path, model, reply = sys.argv[1:4]
json.dump({"format": "lmterm-transcript", "version": 1, "created": 1796416001,
           "model": {"path": model, "name": "llama-tiny-synthetic (random weights)", "precision": "native"},
           "template": "llama3", "system_prompt": "",
           "messages": [{"role": "user", "content": "show me markdown", "time": 1796416001},
                        {"role": "assistant", "content": reply, "time": 1796416001}]},
          open(path, "w"), indent=2)
PY

start_shell 100 30 || { fail e2e_md_shell "no shell prompt in tmux"; exit 0; }
t set -g set-clipboard on
# lmterm asks the tmux that $TMUX names for its set-clipboard option
tmux_env="$(t display-message -p '#{socket_path}'),0,0"
type_text "TMUX=$tmux_env $(printf '%q ' "$LM" -m "$M" -r "$TMP/md.json" -t 1 -n 4 -s "")"
keys Enter
wait_for '^  plain end' 15 || { fail e2e_md_start "$(screen)"; exit 0; }
settled_screen >/dev/null
screen -e >"$TMP/cap"
at() { $SGR_AT "$TMP/cap" "$1"; }

# check_attrs NAME TEXT WANT: the first character of TEXT has the attributes WANT.
check_attrs() {
    local got
    got=$(at "$2")
    if [ "$got" = "$3" ]; then ok "$1"; else fail "$1" "'$2': $got" "want: $3"; fi
}
header=$(at "Assistant")     # the reply's header: bold, the assistant's colour
code=$(at "print(1)")        # a fenced code block: the theme's code colours
notice=$(at "Welcome to")    # a notice: the theme's notice colour
plain=$(at "plain end")      # body text
check_attrs e2e_md_heading "Heading one" "$header"
check_attrs e2e_md_strong "bold and" "${plain/bold=0/bold=1}"
check_attrs e2e_md_emphasis "italic and" "${plain/italic=0/italic=1}"
check_attrs e2e_md_inline_code "inline code" "$code"
check_attrs e2e_md_quote "a quote" "$notice"
if screen | grep -qxF "  · first item" && screen | grep -qxF "  1. numbered" &&
    screen | grep -qxF "  │ a quote" && [ "$(at "· first")" = "$header" ] &&
    [ "$(at "1. numbered")" = "$header" ]; then
    ok e2e_md_list_and_quote_markers
else
    fail e2e_md_list_and_quote_markers "$(screen | sed -n '/^Assistant/,/plain end/p')"
fi
if ! screen | grep -qE '\*\*|`inline|^  # |^  > |^  - ' && [ "$plain" != "$header" ]; then
    ok e2e_md_markers_hidden
else
    fail e2e_md_markers_hidden "$(screen | sed -n '/^Assistant/,/plain end/p')"
fi

# The transcript keeps what the model wrote.
type_text "/save $TMP/saved"
keys Enter
wait_for 'Saved to' 10
got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages"][1]["content"], end="")' "$TMP/saved.json" 2>&1)
[ "$got" = "$REPLY" ] && ok e2e_md_transcript_raw || fail e2e_md_transcript_raw "$got"

# Alt-W: the last reply, through OSC 52, lands in a tmux paste buffer.
t delete-buffer 2>/dev/null
keys M-w
if wait_for 'Copied the last reply \([0-9]+ bytes\) to the clipboard' 5 &&
    [ "$(t show-buffer 2>/dev/null)" = "$REPLY" ]; then
    ok e2e_md_copy_reply_osc52
else
    fail e2e_md_copy_reply_osc52 "buffer: $(t show-buffer 2>&1 | head -3)" "$(screen | tail -6)"
fi
# Alt-K: the code block in view.
keys M-k
if wait_for 'Copied the code block \(8 bytes\)' 5 && [ "$(t show-buffer 2>/dev/null)" = "print(1)" ]; then
    ok e2e_md_copy_code_block
else
    fail e2e_md_copy_code_block "buffer: $(t show-buffer 2>&1 | head -3)" "$(screen | tail -6)"
fi
# With set-clipboard off the copy cannot arrive, and the chat says so.
t set -g set-clipboard off
keys M-w
check_screen e2e_md_copy_says_unsupported "set-clipboard is off, so programs cannot copy" 5
keys C-c
type_text "/quit"
keys Enter
check e2e_md_quit wait_for '^shell\$ *$' 10
