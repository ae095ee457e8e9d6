#!/usr/bin/env bash
# Limits before allocation: a context whose KV cache would not fit in the
# memory available is refused in one line before anything large is allocated.
source "$(dirname "$0")/../lib.sh"
plan 2

m=$TMP/bigctx.gguf
"$LM" synth --arch llama --shape small --type q8_0 -c 16000000 -o "$m" || { fail limits_synth; exit 0; }
# 16 M positions of 4 layers x 128 keys and values, in f16 (the default): 31 GiB
out=$(/usr/bin/env time -f "maxrss %M" "$LM" run -m "$m" -c 16000000 -p hi -n 2 2>&1)
rc=$?
rss=$(sed -n 's/^maxrss //p' <<<"$out")
if [ $rc -eq 1 ] && grep -q "^lmterm: a KV cache for 16000000 positions needs" <<<"$out"; then
    ok huge_context_refused_in_one_line
else
    fail huge_context_refused_in_one_line "exit $rc" "$out"
fi
if [ -n "$rss" ] && [ "$rss" -lt 262144 ]; then ok huge_context_nothing_large_allocated
elif [ -z "$rss" ]; then skip huge_context_nothing_large_allocated "no /usr/bin/time"
else fail huge_context_nothing_large_allocated "peak RSS $rss KiB"; fi
