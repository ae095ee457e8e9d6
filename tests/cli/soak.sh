#!/usr/bin/env bash
# Soak: a scripted 200-turn conversation in plain mode on a tiny model with a
# small context, so the oldest turns are dropped every few turns. Replies must
# keep coming, and the resident memory after warm-up (turn 20) may grow by
# less than 1 MiB by turn 200.
source "$(dirname "$0")/../lib.sh"
plan 3

model=$(tiny_model llama q8_0) || { fail soak_synth; exit 0; }
export XDG_DATA_HOME=$TMP/data XDG_STATE_HOME=$TMP/state XDG_CONFIG_HOME=$TMP/config
mkfifo "$TMP/in"
"$LM" chat --plain --stats -m "$model" -c 256 -n 24 -t 1 --temp 0.8 --seed 1 -s "Be brief." \
    <"$TMP/in" >"$TMP/out" 2>"$TMP/err" &
pid=$!
exec 3>"$TMP/in"

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null; }
replies() { grep -c '^stats:' "$TMP/err"; }

turns=200 stalled=0 rss20=0
for i in $(seq 1 $turns); do
    echo "Turn $i: tell me about the river and the mountain in the morning light." >&3
    deadline=$((SECONDS + 60))
    while [ "$(replies)" -lt "$i" ] && [ $SECONDS -lt $deadline ] && kill -0 $pid 2>/dev/null; do
        sleep 0.02
    done
    if [ "$(replies)" -lt "$i" ]; then stalled=$i; break; fi
    [ "$i" -eq 20 ] && rss20=$(rss_kib)
done
# Read while the process still runs: a dead one has no RSS to compare.
alive=no
kill -0 $pid 2>/dev/null && alive=yes
rss200=$(rss_kib)
answered=$(replies)
exec 3>&-
wait $pid
rc=$?

if [ $stalled -eq 0 ] && [ $rc -eq 0 ] && [ "$answered" -eq $turns ] && [ $alive = yes ]; then
    ok soak_200_turns_all_answered
else
    fail soak_200_turns_all_answered "stalled at turn $stalled, $answered replies, alive at the end: $alive, exit $rc" \
        "$(tail -3 "$TMP/err")"
fi
drops=$(grep -c "no longer fit" "$TMP/err")
[ "$drops" -ge 10 ] && ok soak_context_overflowed_often || fail soak_context_overflowed_often "$drops notices"
growth=$((${rss200:-0} - ${rss20:-0}))
echo "    RSS at turn 20: ${rss20} KiB, at turn 200: ${rss200} KiB (growth ${growth} KiB)"
if is_sanitized; then
    skip soak_rss_growth_under_1mib "AddressSanitizer keeps freed memory in quarantine"
elif [ $stalled -ne 0 ] || [ $alive != yes ] || [ "$answered" -ne $turns ]; then
    fail soak_rss_growth_under_1mib "no figure to compare: $answered of $turns turns answered, alive at the end: $alive"
elif [ "${rss20:-0}" -gt 0 ] && [ "${rss200:-0}" -gt 0 ] && [ "$growth" -lt 1024 ]; then
    ok soak_rss_growth_under_1mib
else
    fail soak_rss_growth_under_1mib "grew ${growth} KiB"
fi
