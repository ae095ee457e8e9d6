#!/usr/bin/env bash
# `lmterm run` produces text for synthetic models of both architectures and
# for every conformance model; `tokenize`, `logits` and `info` answer.
source "$(dirname "$0")/../lib.sh"
# 17 checks, one a conformance model and three tokenize lines with the data,
# one skip line without it
if dir=$(conformance_dir); then plan $((17 + $(ls "$dir"/models/*.gguf | wc -l) + 3)); else plan 18; fi

for arch in phi3 llama; do
    for type in f32 f16 q8_0 q4_0; do
        m=$(tiny_model $arch $type) || { fail "synth_${arch}_$type"; continue; }
        out=$("$LM" run -m "$m" -p "hello there" -n 12 --temp 0.7 --seed 3 2>"$TMP/err")
        if [ $? -eq 0 ] && [ -n "$(printf '%s' "$out" | tr -d '[:space:]')" ]; then
            ok "run_synth_${arch}_$type"
        else
            fail "run_synth_${arch}_$type" "$(cat "$TMP/err")"
        fi
    done
done

# synth --output-type: output.weight of its own type, as llama-quantize makes it
"$LM" synth --arch llama --shape small --type q4_0 --output-type q6_k -o "$TMP/mixed.gguf" >/dev/null
t=$("$LM" info -m "$TMP/mixed.gguf" | grep '^tensor types:')
case $t in *"Q4_0 x29"*"Q6_K x1"*) ok synth_output_type ;; *) fail synth_output_type "$t" ;; esac
"$LM" run -m "$TMP/mixed.gguf" -p "hello" -n 4 >/dev/null 2>&1 && ok run_synth_output_type ||
    fail run_synth_output_type
"$LM" synth --arch llama --shape small --type q4_0 --output-type q8_k -o "$TMP/bad.gguf" 2>"$TMP/err"
[ $? -eq 1 ] && grep -q 'output.weight of type Q8_K' "$TMP/err" && [ ! -e "$TMP/bad.gguf" ] &&
    ok synth_output_type_refused || fail synth_output_type_refused "$(cat "$TMP/err")"

m=$(tiny_model llama q8_0)
a=$("$LM" run -m "$m" -p "the river" -n 16 --temp 0.8 --seed 42 2>/dev/null)
b=$("$LM" run -m "$m" -p "the river" -n 16 --temp 0.8 --seed 42 2>/dev/null)
c=$("$LM" run -m "$m" -p "the river" -n 16 --temp 0.8 --seed 43 2>/dev/null)
[ "$a" = "$b" ] && ok run_same_seed_same_text || fail run_same_seed_same_text "$a" "$b"
[ "$a" != "$c" ] && ok run_other_seed_other_text || fail run_other_seed_other_text "$a"

n=$("$LM" logits -m "$m" "hello" | wc -l)
v=$("$LM" info -m "$m" | sed -n 's/^vocabulary: *\([0-9]*\) tokens.*/\1/p')
[ -n "$v" ] && [ "$n" -eq "$v" ] && ok logits_one_line_per_token || fail logits_one_line_per_token "$n lines, vocab '$v'"

"$LM" info -m "$m" | grep -q "^architecture: *llama" && ok info_names_architecture || fail info_names_architecture

if dir=$(conformance_dir); then
    for f in "$dir"/models/*.gguf; do
        name=$(basename "$f" .gguf)
        out=$("$LM" run -m "$f" -p "Once upon a time" -n 8 --temp 0 2>"$TMP/err")
        if [ $? -eq 0 ] && [ -n "$out" ]; then ok "run_conformance_$name"; else fail "run_conformance_$name" "$(cat "$TMP/err")"; fi
    done
    # tokenize matches llama.cpp for a line of each vocabulary
    t=$("$LM" tokenize -m "$dir/models/phi3-e64-Q4_0.gguf" "Hello world")
    [ "$t" = "1 15043 3186" ] && ok tokenize_phi3_cli || fail tokenize_phi3_cli "$t"
    t=$("$LM" tokenize -m "$dir/models/phi3-e64-Q4_0.gguf" --no-bos --no-special "Hello world")
    [ "$t" = "15043 3186" ] && ok tokenize_no_bos_cli || fail tokenize_no_bos_cli "$t"
    t=$("$LM" tokenize -m "$dir/models/llama3-e32-Q4_0.gguf" "")
    [ "$t" = "128000" ] && ok tokenize_empty_llama3 || fail tokenize_empty_llama3 "$t"
else
    skip run_conformance_models "no ../shared/conformance"
fi

"$LM" run -p x >/dev/null 2>"$TMP/err"; rc=$?
[ $rc -eq 1 ] && grep -q "^lmterm: no model given" "$TMP/err" && ok run_without_model_explains || fail run_without_model_explains "exit $rc: $(cat "$TMP/err")"
"$LM" run --temp abc >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok bad_option_value_is_usage_error || fail bad_option_value_is_usage_error "exit $rc"
