#!/usr/bin/env bash
# valgrind memcheck over a short `lmterm run` and a short `chat --plain`
# session: no leaks, no invalid reads or writes. Skipped under the sanitizers
# (they and valgrind do not mix) and when valgrind is absent.
source "$(dirname "$0")/../lib.sh"

command -v valgrind >/dev/null || skip_all valgrind_memcheck "valgrind not installed"
is_sanitized && skip_all valgrind_memcheck "binary built with AddressSanitizer"
plan 2
model=$(tiny_model phi3 q4_0) || { fail valgrind_synth; exit 0; }
export XDG_DATA_HOME=$TMP/data XDG_STATE_HOME=$TMP/state XDG_CONFIG_HOME=$TMP/config
vg() { valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=9 "$@"; }

vg "$LM" run -m "$model" -p "hello there" -n 8 --seed 1 -t 2 >/dev/null 2>"$TMP/vg1"
[ $? -eq 0 ] && ok valgrind_run_clean || fail valgrind_run_clean "$(grep -m5 '==' "$TMP/vg1")"

printf 'hello\n/system be brief\nhow are you\n/save %s\n' "$TMP/t.json" |
    vg "$LM" chat --plain -m "$model" -n 8 --seed 1 -t 2 >/dev/null 2>"$TMP/vg2"
[ $? -eq 0 ] && ok valgrind_plain_chat_clean || fail valgrind_plain_chat_clean "$(grep -m5 '==' "$TMP/vg2")"
