#!/usr/bin/env bash
# `lmterm quantize` writes the same weights llama-quantize does: the model it
# makes from the F32 conformance file gives the very same logits as
# llama.cpp's own quantized file of that type.
source "$(dirname "$0")/../lib.sh"
if conformance_dir >/dev/null; then plan 13; else plan 8; fi

if dir=$(conformance_dir); then
    for t in q4_0 q4_1 q5_0 q5_1 q8_0 bf16; do
        T=$(echo $t | tr a-z A-Z)
        if ! "$LM" quantize "$dir/models/phi3-e64-F32.gguf" "$TMP/q.gguf" $t 2>"$TMP/err"; then
            fail "quantize_$t" "$(cat "$TMP/err")"
            continue
        fi
        # Both runs must succeed and give one number per vocabulary entry
        # before their outputs are compared: two failures print the same nothing.
        "$LM" logits -m "$TMP/q.gguf" "The quick brown fox" >"$TMP/a" 2>"$TMP/a.err"
        ra=$?
        "$LM" logits -m "$dir/models/phi3-e64-$T.gguf" "The quick brown fox" >"$TMP/b" 2>"$TMP/b.err"
        rb=$?
        why=$(logits_malformed "$TMP/a" 32064)
        if [ $ra -ne 0 ] || [ $rb -ne 0 ]; then
            fail "quantize_${t}_matches_llama_quantize" "logits exit statuses $ra (ours), $rb (llama-quantize's)" \
                "$(cat "$TMP/a.err" "$TMP/b.err" | head -2)"
        elif [ -n "$why" ]; then
            fail "quantize_${t}_matches_llama_quantize" "our file's logits: $why"
        elif ! cmp -s "$TMP/a" "$TMP/b"; then
            fail "quantize_${t}_matches_llama_quantize" "the logits differ: $(diff "$TMP/a" "$TMP/b" | grep -c '^<') of 32064 lines"
        else
            ok "quantize_${t}_matches_llama_quantize"
        fi
    done
else
    skip quantize_matches_llama_quantize "no ../shared/conformance"
fi

m=$TMP/small.gguf
"$LM" synth --arch llama --shape small --type f32 -o "$m" >/dev/null
if "$LM" quantize "$m" "$TMP/km.gguf" q4_k_m 2>"$TMP/err" && "$LM" info -m "$TMP/km.gguf" >"$TMP/info"; then
    grep -q "Q4_K" "$TMP/info" && grep -q "Q6_K" "$TMP/info" && ok quantize_q4_k_m_mixes_types || fail quantize_q4_k_m_mixes_types "$(grep types "$TMP/info")"
else
    fail quantize_q4_k_m_mixes_types "$(cat "$TMP/err")"
fi
"$LM" quantize "$(tiny_model llama q8_0)" "$TMP/x.gguf" q9_9 2>"$TMP/err"
[ $? -eq 1 ] && grep -q "unknown type" "$TMP/err" && ok quantize_unknown_type || fail quantize_unknown_type

# Progress on a terminal (a pseudo-terminal through script(1)), nothing when piped.
"$LM" quantize "$m" "$TMP/p.gguf" q8_0 2>"$TMP/err" >/dev/null
[ ! -s "$TMP/err" ] && ok quantize_quiet_when_piped || fail quantize_quiet_when_piped "$(cat "$TMP/err")"
"$LM" synth --arch llama --shape small --type q8_0 -o "$TMP/s.gguf" 2>"$TMP/err" >/dev/null
[ ! -s "$TMP/err" ] && ok synth_quiet_when_piped || fail synth_quiet_when_piped "$(cat "$TMP/err")"
if command -v script >/dev/null; then
    script -qec "'$LM' quantize '$m' '$TMP/p.gguf' q8_0" /dev/null >"$TMP/tty" 2>&1
    last=$(tr '\r' '\n' <"$TMP/tty" | grep -o "tensor [0-9]*/[0-9]*, [0-9]* MB/s, .*ETA" | tail -1)
    # the last update counts every tensor: "tensor N/N"
    [[ $last =~ tensor\ ([0-9]+)/([0-9]+) ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] &&
        ok quantize_progress_on_terminal || fail quantize_progress_on_terminal "$(tr '\r' '\n' <"$TMP/tty" | tail -3)"
    script -qec "'$LM' synth --arch llama --shape small --type q8_0 -o '$TMP/s.gguf'" /dev/null >"$TMP/tty" 2>&1
    tr '\r' '\n' <"$TMP/tty" | grep -q "tensor [0-9]*/[0-9]*, .* MB/s, .*ETA" &&
        ok synth_progress_on_terminal || fail synth_progress_on_terminal "$(tr '\r' '\n' <"$TMP/tty" | tail -3)"
else
    skip quantize_progress_on_terminal "no script(1)"
    skip synth_progress_on_terminal "no script(1)"
fi

# Every shape synth names is one it makes (the type check comes after the
# shape is found: an unwritable type answers without writing anything).
bad=
for a in phi3 llama; do
    for s in tiny small medium large phi3-mini llama3-8b; do
        "$LM" synth --arch $a --shape $s --type q8_1 -o "$TMP/never.gguf" 2>"$TMP/err"
        grep -q "unknown shape" "$TMP/err" || continue
        case "$a:$s" in phi3:llama3-8b | llama:phi3-mini | llama:large) ;; *) bad+=" $a:$s" ;; esac
    done
done
[ -z "$bad" ] && ok synth_knows_every_shape || fail synth_knows_every_shape "unknown:$bad"
