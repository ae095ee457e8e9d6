#!/usr/bin/env bash
# SIGTERM or SIGHUP in the middle of a reply: the conversation so far is
# saved to the transcripts folder before lmterm leaves, and the terminal is
# given back.
. "$(dirname "$0")/tmux_lib.bash"
require_tmux e2e_sigterm_autosave
plan 2

SMALL="$TMP/small-llama.gguf"
"$LM" synth --arch llama --shape small --type q8_0 -o "$SMALL" >/dev/null ||
    { fail e2e_autosave_model "synth failed"; exit 0; }
dir="$E2E_HOME/data/lmterm/transcripts"

for sig in TERM HUP; do
    start_shell 80 24 || { fail e2e_autosave_shell "no shell prompt in tmux"; exit 0; }
    run_lmterm -m "$SMALL" -t 1 -n 100000 --temp 0 -s "" --precision native
    wait_for 'Loaded llama-small' 15
    rm -rf "$dir"
    text="remember the word zebra-$sig please"
    type_text "$text"
    keys Enter
    wait_for '^ (reading|generating)' 15
    pkill -$sig -f -- "-m $SMALL -t 1 -n 100000"
    if wait_for '^shell\$ *$' 10 && grep -rqs "zebra-$sig" "$dir"; then
        ok "e2e_sig${sig,,}_autosaves_conversation"
    else
        fail "e2e_sig${sig,,}_autosaves_conversation" "$(ls -la "$dir" 2>&1)" "$(screen | tail -3)"
    fi
    t kill-server 2>/dev/null
done
