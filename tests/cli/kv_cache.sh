#!/usr/bin/env bash
# The KV cache's type (--cache-type, config cache_type; f16 by default) and
# bench --depth (generation after D tokens of context), and bench's -p 0 / -n 0
# (one test left out, as llama-bench does); the peak memory of a 512-token
# prompt (issue 15: at most file + KV cache + 64 MiB of scratch).
source "$(dirname "$0")/../lib.sh"
plan 14

m=$TMP/small-llama.gguf # head size 32: every cache type fits
"$LM" synth --arch llama --shape small --type q8_0 -o "$m" >/dev/null || { fail kv_synth; exit 0; }

kv_line() { "$LM" info -m "$m" -c 1024 "$@" | grep '^memory:'; }
f32=$(kv_line --cache-type f32)
f16=$(kv_line)
q8=$(kv_line --cache-type q8_0)
# 4 layers x 4 KV heads x 32 x 1024 positions x 2 (keys, values)
if grep -q "KV cache 4.00 MiB f32 at 1024" <<<"$f32" && grep -q "KV cache 2.00 MiB f16 at 1024" <<<"$f16" &&
    grep -q "KV cache 1.06 MiB q8_0 at 1024" <<<"$q8"; then
    ok kv_cache_type_sizes
else
    fail kv_cache_type_sizes "$f32" "$f16" "$q8"
fi

out=$("$LM" info -m "$m" --cache-type q4_0 2>&1)
rc=$?
if [ $rc -eq 2 ] && grep -q "invalid value 'q4_0' for --cache-type" <<<"$out"; then ok kv_cache_type_bad_value
else fail kv_cache_type_bad_value "exit $rc" "$out"; fi

cfg=$TMP/kv.yaml
printf 'cache_type: q8_0\n' >"$cfg"
if "$LM" info -m "$m" -c 1024 --config "$cfg" | grep -q "q8_0 at 1024"; then ok kv_cache_type_from_config
else fail kv_cache_type_from_config; fi
if "$LM" info -m "$m" -c 1024 --config "$cfg" --cache-type f32 | grep -q "f32 at 1024"; then
    ok kv_cache_type_option_over_config
else fail kv_cache_type_option_over_config; fi

for t in f16 q8_0 f32; do
    out=$("$LM" run -m "$m" --cache-type "$t" -p "one two three" -n 8 --temp 0 2>&1)
    if [ $? -eq 0 ] && [ -n "$out" ]; then ok "kv_run_$t"; else fail "kv_run_$t" "$out"; fi
done

q8tiny=$(tiny_model phi3 q8_0) # head size 16: no q8_0 cache
out=$("$LM" run -m "$q8tiny" --cache-type q8_0 -p hi -n 2 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "q8_0 KV cache needs a head size that is a multiple of 32" <<<"$out"; then
    ok kv_q8_0_needs_head_multiple_of_32
else fail kv_q8_0_needs_head_multiple_of_32 "exit $rc" "$out"; fi

json=$("$LM" bench -m "$m" -p 16 -n 4 --reps 1 --depth 300 --json 2>&1)
if grep -q '"depth": 300, "cache_type": "f16"' <<<"$json" &&
    awk -v v="$(sed -n 's/.*"gen_tps": \([0-9.]*\).*/\1/p' <<<"$json")" 'BEGIN { exit !(v > 0) }'; then
    ok bench_depth_json
else fail bench_depth_json "$json"; fi
if "$LM" bench -m "$m" -p 16 -n 4 --reps 1 --depth 300 | grep -q "after 300 tokens of context (f16 KV cache)"; then
    ok bench_depth_text
else fail bench_depth_text; fi
out=$("$LM" bench -m "$m" -c 256 -p 16 -n 4 --reps 1 --depth 300 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "shorter than the test (304 tokens)" <<<"$out"; then ok bench_depth_beyond_context
else fail bench_depth_beyond_context "exit $rc" "$out"; fi
json=$("$LM" bench -m "$m" -p 16 -n 0 --reps 1 --json 2>&1)
if grep -Eq '"prompt_tps": [0-9.]+,' <<<"$json" && grep -q '"gen_tps": null' <<<"$json" &&
    ! "$LM" bench -m "$m" -p 16 -n 0 --reps 1 | grep -q '^generation:'; then
    ok bench_prompt_only
else fail bench_prompt_only "$json"; fi
json=$("$LM" bench -m "$m" -p 0 -n 4 --reps 1 --json 2>&1)
out=$("$LM" bench -m "$m" -p 0 -n 0 2>&1)
rc=$?
if grep -q '"prompt_tps": null' <<<"$json" && grep -Eq '"gen_tps": [0-9.]+,' <<<"$json" &&
    [ $rc -eq 1 ] && grep -q "bench needs -p or -n above 0" <<<"$out"; then
    ok bench_gen_only
else fail bench_gen_only "$json" "exit $rc: $out"; fi
if is_sanitized; then
    skip prompt_512_peak_rss "ASan's shadow memory counts in the RSS"
else
    big=$TMP/large-q4_0.gguf # n_embd 2048, n_ff 8192: the batch scratch matters
    "$LM" synth --arch phi3 --shape large --type q4_0 -o "$big" >/dev/null
    json=$("$LM" bench -m "$big" -t 2 -c 512 -p 512 -n 1 --reps 1 --json 2>&1)
    peak=$(sed -n 's/.*"peak_rss_bytes": \([0-9]*\).*/\1/p' <<<"$json")
    file=$(stat -c %s "$big")
    kv=$((8 * 2 * 2048 * 512 * 2)) # layers x (keys, values) x n_embd x positions x f16
    limit=$((file + kv + 64 * 1048576))
    if [ -n "$peak" ] && [ "$peak" -le "$limit" ]; then ok prompt_512_peak_rss
    else fail prompt_512_peak_rss "peak ${peak:-?} > file $file + KV $kv + 64 MiB" "$json"; fi
    rm -f "$big"
fi
