#!/usr/bin/env bash
# lmterm chat --plain from a pipe: one message a line ('\' at the end goes
# on in the next line), slash commands, replies on stdout, --stats on
# stderr, exit 0 at the end of the input.
. "$(dirname "$0")/../lib.sh"
plan 16

export HOME="$TMP/home" XDG_CACHE_HOME="$TMP/cache" XDG_STATE_HOME="$TMP/state"
export XDG_DATA_HOME="$TMP/data" XDG_CONFIG_HOME="$TMP/config"
M=$(tiny_model llama q8_0) || { fail plain_chat_model "synth failed"; exit 0; }
STATS_RE='^stats: prompt tokens evaluated: [0-9]+, generated tokens: [0-9]+, prompt tok/s: [0-9.]+, generation tok/s: [0-9.]+$'

chat() { "$LM" chat --plain -m "$M" -t 1 -n 12 "$@"; }

# Two messages, two replies, two stats lines; exit 0.
printf 'hello\nhow are you\n' | chat --stats >"$TMP/out" 2>"$TMP/err"
rc=$?
n_stats=$(grep -cE "$STATS_RE" "$TMP/err")
if [ $rc -eq 0 ] && [ "$n_stats" -eq 2 ] && [ "$(grep -c . "$TMP/out")" -ge 2 ]; then
    ok plain_chat_two_messages
else
    fail plain_chat_two_messages "rc=$rc, stats lines=$n_stats" "$(cat "$TMP/err")"
fi

# The second turn reads only its own tokens: the first is in the cache.
first=$(grep -E "$STATS_RE" "$TMP/err" | sed -n 1p | sed -E 's/.*evaluated: ([0-9]+), generated tokens: ([0-9]+).*/\1 \2/')
second=$(grep -E "$STATS_RE" "$TMP/err" | sed -n 2p | sed -E 's/.*evaluated: ([0-9]+).*/\1/')
read -r first_eval first_gen <<<"$first"
if [ -n "$second" ] && [ "$second" -lt $((first_eval + first_gen)) ]; then
    ok plain_chat_cached_turn
else
    fail plain_chat_cached_turn "first turn $first_eval + $first_gen tokens, second turn evaluated $second"
fi

# A line ending in '\' continues the message: three lines, one reply.
printf 'one \\\ntwo \\\nthree\n' | chat --stats >/dev/null 2>"$TMP/err"
check plain_chat_continuation test "$(grep -cE "$STATS_RE" "$TMP/err")" -eq 1

# Slash commands work the same way; their answers go to stdout.
printf '/system be brief\n/system\n/help\n/frobnicate\n/set temp 0\n' | chat >"$TMP/out" 2>&1
if grep -q 'System prompt: be brief' "$TMP/out" && grep -q '/regen' "$TMP/out" &&
    grep -q 'Unknown command /frobnicate' "$TMP/out" && grep -q 'temp 0,' "$TMP/out"; then
    ok plain_chat_commands
else
    fail plain_chat_commands "$(cat "$TMP/out")"
fi

# /quit ends the chat: the message after it gets no reply.
printf '/quit\nnever sent\n' | chat --stats >/dev/null 2>"$TMP/err"
rc=$?
check plain_chat_quit test $rc -eq 0 -a "$(grep -cE "$STATS_RE" "$TMP/err")" -eq 0

# No input at all: exit 0 at once.
chat </dev/null >/dev/null 2>&1
check plain_chat_empty_input test $? -eq 0

# /save writes JSON and Markdown; /load brings the conversation back.
printf 'remember this\n/save %s\n' "$TMP/conv" | chat >/dev/null 2>"$TMP/err"
if [ -s "$TMP/conv.json" ] && [ -s "$TMP/conv.md" ]; then
    ok plain_chat_save
else
    fail plain_chat_save "$(cat "$TMP/err")"
fi
printf '/load %s\nand now\n' "$TMP/conv.json" | chat --stats >/dev/null 2>"$TMP/err"
if grep -q 'Loaded 2 messages' "$TMP/err" && grep -qE "$STATS_RE" "$TMP/err"; then
    ok plain_chat_load
else
    fail plain_chat_load "$(cat "$TMP/err")"
fi

# -r resumes it: the next reply follows the saved turns.
echo 'and then' | chat -r "$TMP/conv.json" --stats >/dev/null 2>"$TMP/err"
rc=$?
if [ $rc -eq 0 ] && grep -qE "$STATS_RE" "$TMP/err"; then
    ok plain_chat_resume
else
    fail plain_chat_resume "rc=$rc" "$(cat "$TMP/err")"
fi
printf '{"broken": ' >"$TMP/bad.json"
echo hi | chat -r "$TMP/bad.json" >/dev/null 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q '^lmterm: .*bad.json' "$TMP/err"; then
    ok plain_chat_resume_bad_file
else
    fail plain_chat_resume_bad_file "rc=$rc" "$(cat "$TMP/err")"
fi

# /regen writes the last reply again; /clear empties the conversation.
printf 'hello\n/regen\n/clear\n/regen\n' | chat --stats >"$TMP/out" 2>"$TMP/err"
if [ "$(grep -cE "$STATS_RE" "$TMP/err")" -eq 2 ] && grep -q 'Conversation cleared' "$TMP/out" &&
    grep -q 'no reply to regenerate' "$TMP/out"; then
    ok plain_chat_regen_clear
else
    fail plain_chat_regen_clear "$(cat "$TMP/out" "$TMP/err")"
fi

# A model that is not there: one line on stderr, exit 1.
"$LM" chat --plain -m "$TMP/missing.gguf" </dev/null >/dev/null 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q '^lmterm: .*missing.gguf' "$TMP/err"; then
    ok plain_chat_missing_model
else
    fail plain_chat_missing_model "rc=$rc" "$(cat "$TMP/err")"
fi

# Without -m, a demo model is made in the cache folder and used.
echo hi | "$LM" chat --plain -t 1 -n 4 >/dev/null 2>"$TMP/err"
rc=$?
if [ $rc -eq 0 ] && [ -s "$XDG_CACHE_HOME/lmterm/demo-model.gguf" ] && grep -q 'demo model' "$TMP/err"; then
    ok plain_chat_demo_model
else
    fail plain_chat_demo_model "rc=$rc" "$(cat "$TMP/err")"
fi

# The default command with a pipe for input is the plain chat too, TERM=dumb or not.
echo hi | TERM=dumb "$LM" -m "$M" -t 1 -n 4 --stats >/dev/null 2>"$TMP/err"
check plain_chat_default_from_pipe grep -qE "$STATS_RE" "$TMP/err"

# The menus as numbered lists: /model lists the models (configured and found
# in ~/models), /model NAME loads one and the conversation goes on with it;
# /precision P converts the weights; /set threads reloads; /load lists the
# conversations autosave wrote. (-m names another file: it is listed first.)
mkdir -p "$HOME/models"
P=$(tiny_model phi3 f32) && cp "$M" "$HOME/models/a.gguf" && cp "$P" "$HOME/models/b.gguf"
printf '/model\n/model b\nhello\n/precision int8\n/precision\nagain\n/set threads 2\n/load\n' |
    chat --stats >"$TMP/out" 2>"$TMP/err"
if grep -q '^Models (' "$TMP/out" && grep -qE '^  3\. b: phi3, .*F32, context 4096' "$TMP/out" &&
    grep -q 'Loaded phi3-tiny-synthetic.*native F32' "$TMP/err" &&
    grep -q 'Loaded phi3-tiny-synthetic.*INT8 Q8_0.*goes on with it' "$TMP/err" &&
    grep -qE '^ \* INT8 +Q8_0' "$TMP/out" && [ "$(grep -cE "$STATS_RE" "$TMP/err")" -eq 2 ] &&
    grep -q 'threads 2' "$TMP/out" && grep -q '^Saved conversations' "$TMP/out"; then
    ok plain_chat_model_precision_lists
else
    fail plain_chat_model_precision_lists "$(cat "$TMP/out" "$TMP/err")"
fi

# A precision that does not fit in memory is refused with the reason.
printf '/precision fp16\n' | LMTERM_TEST_MEM_AVAILABLE=1000 chat -m "$P" >"$TMP/out" 2>"$TMP/err"
if grep -q 'at FP16 needs .* for its weights, more than the 1000 B of memory available' "$TMP/err"; then
    ok plain_chat_precision_refused
else
    fail plain_chat_precision_refused "$(cat "$TMP/out" "$TMP/err")"
fi
