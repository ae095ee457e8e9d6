#!/usr/bin/env bash
# A model file cut short while lmterm has it mapped (SIGBUS on the next read
# of a lost page) is reported and unloaded; the chat itself survives.
source "$(dirname "$0")/../lib.sh"
plan 2

cp "$(tiny_model llama q8_0)" "$TMP/model.gguf" || { fail truncated_synth; exit 0; }
export XDG_DATA_HOME=$TMP/data XDG_STATE_HOME=$TMP/state XDG_CONFIG_HOME=$TMP/config
mkfifo "$TMP/in"
"$LM" chat --plain --stats -m "$TMP/model.gguf" -n 8 --seed 1 -t 2 <"$TMP/in" >"$TMP/out" 2>"$TMP/err" &
pid=$!
exec 3>"$TMP/in"
wait_for() { # PATTERN COUNT
    local deadline=$((SECONDS + 30))
    while [ "$(grep -c "$1" "$TMP/err")" -lt "$2" ] && [ $SECONDS -lt $deadline ] && kill -0 $pid 2>/dev/null; do
        sleep 0.05
    done
}
echo "hello there" >&3
wait_for '^stats:' 1
truncate -s 20000 "$TMP/model.gguf"
echo "and again" >&3
wait_for 'cut short' 1
alive=no
kill -0 $pid 2>/dev/null && alive=yes
echo "one more" >&3
echo "/quit" >&3
exec 3>&-
wait $pid
rc=$?
if grep -q "cut short on disk" "$TMP/err" && [ $alive = yes ] && [ $rc -lt 128 ]; then
    ok truncated_model_reported_and_unloaded
else
    fail truncated_model_reported_and_unloaded "alive=$alive exit=$rc" "$(tail -4 "$TMP/err")"
fi
grep -q "no model is loaded" "$TMP/err" && ok after_unload_chat_says_no_model ||
    fail after_unload_chat_says_no_model "$(tail -3 "$TMP/err")"
