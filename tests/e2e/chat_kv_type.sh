#!/usr/bin/env bash
# The status bar's KV figure names the cache's type: f16 by default,
# q8_0 with --cache-type q8_0.
. "$(dirname "$0")/tmux_lib.bash"
require_tmux e2e_chat_kv_type
plan 2

SMALL="$TMP/small-llama.gguf" # head size 32: a q8_0 cache fits
"$LM" synth --arch llama --shape small --type q8_0 -o "$SMALL" >/dev/null ||
    { fail e2e_kv_model "synth failed"; exit 0; }

start_shell 200 24 || { fail e2e_kv_shell "no shell prompt in tmux"; exit 0; }
# 4 layers x 4 KV heads x 32 x 1024 positions x 2, in halves: 2 MiB
run_lmterm -m "$SMALL" -t 1 -c 1024 -s ""
wait_for 'KV [0-9.]+ MiB' 15
if status_line | grep -qE 'KV 2\.00 MiB f16'; then ok e2e_kv_default_f16
else fail e2e_kv_default_f16 "$(status_line)"; fi
quit_lmterm

run_lmterm -m "$SMALL" -t 1 -c 1024 -s "" --cache-type q8_0
wait_for 'KV [0-9.]+ MiB q8_0' 15
if status_line | grep -qE 'KV 1\.06 MiB q8_0'; then ok e2e_kv_q8_0
else fail e2e_kv_q8_0 "$(status_line)"; fi
quit_lmterm
