#!/usr/bin/env bash
# `lmterm perplexity` scores as llama-perplexity does: every case of
# ../shared/conformance/perplexity/gpl3-c128.json within the agreement its
# README states (PPL 0.1 % for F32/F16/BF16/Q8_0, 0.5 % for 4- and 5-bit
# types, applied to the final estimate, its error and every running value;
# KL mean, median and max within 10 % or 2e-6; same top token within 5
# points). Then the command's own behaviour: default text, too-short text,
# --kl-base by precision, text output.
source "$(dirname "$0")/../lib.sh"

gpl=/usr/share/common-licenses/GPL-3
[ -r "$gpl" ] || skip_all perplexity "no $gpl (the default text)"
dir=$(conformance_dir) || dir=
ref=$dir/perplexity/gpl3-c128.json
if [ -n "$dir" ] && [ -f "$ref" ]; then
    n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["cases"]))' "$ref")
    plan $((n + 5))
else
    plan 6
    skip perplexity_conformance "no ../shared/conformance/perplexity"
fi

if [ -n "$dir" ] && [ -f "$ref" ]; then
    for ((i = 0; i < n; i++)); do
        read -r model base < <(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["cases"][int(sys.argv[2])]; print(c["model"], c.get("kl_base", ""))' "$ref" "$i")
        args=(-m "$dir/models/$model" -f "$gpl" -c 128 --chunks 8 --json)
        [ -n "$base" ] && args+=(--kl-base "$dir/models/$base")
        name=perplexity_${model%.gguf}
        if ! "$LM" perplexity "${args[@]}" >"$TMP/out.json" 2>"$TMP/err"; then
            fail "$name" "$(cat "$TMP/err")"
            continue
        fi
        if msg=$(python3 - "$ref" "$i" "$TMP/out.json" <<'PY'
import json, sys
case = json.load(open(sys.argv[1]))["cases"][int(sys.argv[2])]
got = json.load(open(sys.argv[3]))
m = case["model"]
tol = 0.001 if any(t in m for t in ("-F32", "-F16", "-BF16", "-Q8_0")) else 0.005
bad = []
def rel(key, a, b, t):
    if abs(a - b) > t * abs(b):
        bad.append("%s: %.6g vs llama.cpp %.6g (%.4f%%, allowed %.1f%%)" % (key, a, b, 100 * abs(a - b) / abs(b), 100 * t))
rel("ppl", got["ppl"], case["ppl"], tol)
rel("ppl_err", got["ppl_err"], case["ppl_err"], tol)
if len(got["ppl_by_chunk"]) != len(case["ppl_by_chunk"]):
    bad.append("%d chunks, llama.cpp %d" % (len(got["ppl_by_chunk"]), len(case["ppl_by_chunk"])))
for k, (a, b) in enumerate(zip(got["ppl_by_chunk"], case["ppl_by_chunk"])):
    rel("ppl_by_chunk[%d]" % k, a, b, tol)
if "kl_base" in case:
    for key in ("kld_mean", "kld_median", "kld_max"):
        a, b = got.get(key), case[key]
        if a is None or not (abs(a - b) <= 0.1 * abs(b) or abs(a - b) <= 2e-6):
            bad.append("%s: %s vs llama.cpp %g" % (key, a, b))
    a, b = got.get("same_top_pct"), case["same_top_pct"]
    if a is None or abs(a - b) > 5:
        bad.append("same_top_pct: %s vs llama.cpp %g" % (a, b))
print("; ".join(bad))
sys.exit(1 if bad else 0)
PY
        ); then ok "$name"; else fail "$name" "$msg"; fi
    done
fi

# The command itself, on a tiny model.
tiny=$(tiny_model phi3 q8_0)
echo "A text far too short to score." >"$TMP/short.txt"
"$LM" perplexity -m "$tiny" -f "$TMP/short.txt" -c 128 >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q "needs at least 256" "$TMP/err" &&
    ok perplexity_short_text_one_line || fail perplexity_short_text_one_line "rc $rc" "$(cat "$TMP/err")"
"$LM" perplexity -m "$tiny" -f "$TMP/none.txt" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q "none.txt" "$TMP/err" &&
    ok perplexity_missing_text_one_line || fail perplexity_missing_text_one_line "rc $rc" "$(cat "$TMP/err")"
if true; then
    "$LM" perplexity -m "$tiny" -c 64 --chunks 3 >"$TMP/out" 2>"$TMP/err"
    grep -q "GPL-3 (the default text" "$TMP/out" && grep -q '^\[1\][0-9.]*$' "$TMP/out" &&
        grep -q '^\[3\][0-9.]*$' "$TMP/out" && ! grep -q '^\[4\]' "$TMP/out" &&
        grep -q '^Final estimate: PPL = [0-9.]* +/- [0-9.]*$' "$TMP/out" && [ ! -s "$TMP/err" ] &&
        ok perplexity_default_text_and_running_lines || fail perplexity_default_text_and_running_lines "$(cat "$TMP/out" "$TMP/err")"
    # a precision of the same file as the base: FP32 of a Q8_0 file
    "$LM" perplexity -m "$tiny" -c 64 --chunks 2 --kl-base fp32 --json >"$TMP/out.json" 2>"$TMP/err"
    python3 - "$TMP/out.json" <<'PY' && ok perplexity_kl_base_precision || fail perplexity_kl_base_precision "$(cat "$TMP/out.json" "$TMP/err")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["kl_base"].endswith(" at fp32"), j["kl_base"]
assert len(j["ppl_by_chunk"]) == 2 and j["scored"] == 2 * 31
assert 0 <= j["kld_median"] <= j["kld_max"] and 0 <= j["kld_mean"] <= j["kld_max"]
assert 0 <= j["same_top_pct"] <= 100 and j["ppl"] > 1 and j["base_ppl"] > 1
PY
    # the model against itself: no divergence at all, the same top token everywhere
    "$LM" perplexity -m "$tiny" -c 64 --chunks 2 --kl-base "$tiny" --json >"$TMP/out.json" 2>"$TMP/err"
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(not (j["kld_max"] == 0 and j["same_top_pct"] == 100 and j["ppl"] == j["base_ppl"]))' "$TMP/out.json" &&
        ok perplexity_kl_against_itself_is_zero || fail perplexity_kl_against_itself_is_zero "$(cat "$TMP/out.json" "$TMP/err")"
fi
