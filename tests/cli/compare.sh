#!/usr/bin/env bash
# `lmterm compare`: every precision of a conformance model, with the table,
# the JSON and the Markdown report checked column by column, the KL columns
# tied to `lmterm perplexity --kl-base`, a precision that does not fit
# skipped with its reason, the record kept for the precision menu, and
# Ctrl-C printing what was measured.
source "$(dirname "$0")/../lib.sh"

gpl=/usr/share/common-licenses/GPL-3
dir=$(conformance_dir) || skip_all compare "no ../shared/conformance"
[ -r "$gpl" ] || skip_all compare "no $gpl"
plan 8
m=$dir/models/phi3-e64-Q8_0.gguf
export XDG_STATE_HOME=$TMP/state
args=(-m "$m" -f "$gpl" -c 128 --chunks 3 -p 64 -n 8)

if "$LM" compare "${args[@]}" --json -o "$TMP/report.md" >"$TMP/out.json" 2>"$TMP/err"; then
    "$LM" perplexity -m "$m" -f "$gpl" -c 128 --chunks 3 --precision int4 --kl-base fp32 --json >"$TMP/ppl.json" 2>>"$TMP/err"
    if msg=$(python3 - "$TMP/out.json" "$TMP/ppl.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); ppl = json.load(open(sys.argv[2]))
bad = []
rows = {r["precision"]: r for r in j["rows"]}
if sorted(rows) != sorted(["native", "fp32", "fp16", "int8", "int4"]): bad.append("rows %s" % sorted(rows))
if j["base"] != "fp32" or j["chunks"] != 3 or j["n_ctx"] != 128 or j["cancelled"]: bad.append("header %s" % {k: j[k] for k in ("base", "chunks", "n_ctx", "cancelled")})
types = {"native": "Q8_0", "fp32": "F32", "fp16": "F16", "int8": "Q8_0", "int4": "Q4_0"}
for p, r in rows.items():
    if r["state"] != "done": bad.append("%s: %s %s" % (p, r["state"], r["why"])); continue
    if r["type"] != types[p]: bad.append("%s: type %s" % (p, r["type"]))
    for k in ("load_s", "prompt_tps", "gen_tps", "rss_bytes", "weight_bytes", "ppl", "ppl_err"):
        if not r.get(k, 0) > 0: bad.append("%s: %s = %s" % (p, k, r.get(k)))
    for k in ("dppl", "kld_mean", "kld_median", "kld_max", "same_top_pct"):
        if k not in r: bad.append("%s: no %s" % (p, k))
    if not (0 <= r["kld_median"] <= r["kld_max"] and 0 <= r["kld_mean"] <= r["kld_max"] and 0 <= r["same_top_pct"] <= 100):
        bad.append("%s: KL columns out of order %s" % (p, r))
    if abs(r["dppl"] - (r["ppl"] - rows["fp32"]["ppl"])) > 1e-3: bad.append("%s: dppl %s" % (p, r["dppl"]))
b = rows["fp32"]
if not (b["is_base"] and b["kld_max"] == 0 and b["same_top_pct"] == 100 and b["dppl"] == 0): bad.append("base row %s" % b)
w = {p: rows[p]["weight_bytes"] for p in rows}
if not (w["int4"] < w["int8"] == w["native"] < w["fp16"] < w["fp32"]): bad.append("weights %s" % w)
# the file is Q8_0: native and int8 are the same weights, the same numbers
for k in ("ppl", "kld_mean", "kld_max", "same_top_pct"):
    if rows["native"][k] != rows["int8"][k]: bad.append("native and int8 differ in %s" % k)
# the same measurement as `lmterm perplexity --precision int4 --kl-base fp32`
for k in ("ppl", "kld_mean", "kld_median", "kld_max", "same_top_pct"):
    a, c = rows["int4"][k], ppl[k]
    if abs(a - c) > 1e-6 * max(1, abs(c)): bad.append("int4 %s: compare %s, perplexity %s" % (k, a, c))
print("; ".join(bad)); sys.exit(1 if bad else 0)
PY
    ); then ok compare_json_every_column; else fail compare_json_every_column "$msg"; fi
    md=$TMP/report.md
    [ "$(grep -c '^| \(native\|fp32\*\|fp16\|int8\|int4\) ' "$md")" -eq 5 ] &&
        grep -q '^| precision | weights | prompt tok/s | generation tok/s | memory (RSS) | PPL | ΔPPL | KL mean | KL max | same top |$' "$md" &&
        ! grep '^| \(native\|fp\|int\)' "$md" | awk -F'|' 'NF != 12' | grep -q . &&
        ok compare_markdown_report || fail compare_markdown_report "$(cat "$md")"
    python3 - "$XDG_STATE_HOME/lmterm/measurements.json" "$m" <<'PY' && ok compare_keeps_results_for_menu || fail compare_keeps_results_for_menu "$(cat "$XDG_STATE_HOME/lmterm/measurements.json" 2>&1)"
import json, os, sys
j = json.load(open(sys.argv[1]))
e = [e for e in j["models"] if e["path"] == os.path.realpath(sys.argv[2])]
st = os.stat(sys.argv[2])
assert len(e) == 1 and e[0]["size"] == st.st_size and e[0]["mtime"] == int(st.st_mtime)
assert sorted(r["precision"] for r in e[0]["rows"]) == ["fp16", "fp32", "int4", "int8", "native"]
PY
else
    fail compare_json_every_column "$(cat "$TMP/err")"
    fail compare_markdown_report "no report: compare failed"
    fail compare_keeps_results_for_menu "compare failed"
fi

# The terminal table: a row per precision, every column filled, bars.
LC_ALL=C.UTF-8 "$LM" compare "${args[@]}" --chunks 2 >"$TMP/table" 2>"$TMP/err"
rows=$(grep -cE '^(native|fp32\*|fp16|int8|int4) +(Q8_0|F32|F16|Q4_0) +[0-9.]+ [█▏▎▍▌▋▊▉ ]{10} +[0-9.]+ [█▏▎▍▌▋▊▉ ]{10} +[0-9.]+ [KMG]iB [█▏▎▍▌▋▊▉ ]{10} +[0-9.]+ +[+-][0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+%$' "$TMP/table")
[ "$rows" -eq 5 ] && grep -q "^precision  weights  prompt tok/s" "$TMP/table" && grep -q "against fp32" "$TMP/table" &&
    ok compare_table_every_column || fail compare_table_every_column "$rows rows match" "$(cat "$TMP/table" "$TMP/err")"
LC_ALL=C "$LM" compare "${args[@]}" --chunks 2 --precisions int4,int8 >"$TMP/table" 2>"$TMP/err"
grep -q '^int8\* .*#' "$TMP/table" && ! grep -q '█' "$TMP/table" && [ "$(grep -cE '^(native|fp32|fp16)' "$TMP/table")" -eq 0 ] &&
    ok compare_ascii_bars_and_subset || fail compare_ascii_bars_and_subset "$(cat "$TMP/table" "$TMP/err")"

# A precision that does not fit is skipped, and says why.
# int4 needs its 2.3 MB of weights and a 256 MiB margin, fp32 16.7 MB more
LMTERM_TEST_MEM_AVAILABLE=$((265 * 1024 * 1024)) "$LM" compare "${args[@]}" --chunks 2 --precisions fp32,int4 >"$TMP/table" 2>"$TMP/err"
grep -q '^fp32 .*skipped: does not fit: needs .* available' "$TMP/table" && grep -q '^int4\* ' "$TMP/table" &&
    ok compare_skips_what_does_not_fit || fail compare_skips_what_does_not_fit "$(cat "$TMP/table" "$TMP/err")"

"$LM" compare -m "$m" --precisions int3 >/dev/null 2>"$TMP/err"
[ $? -eq 2 ] && grep -q "unknown precision 'int3'" "$TMP/err" && ok compare_bad_precision || fail compare_bad_precision "$(cat "$TMP/err")"

# Ctrl-C: the rows measured so far, and exit status 1.
med=$TMP/medium.gguf
"$LM" synth --arch phi3 --shape medium --type q8_0 -o "$med" 2>/dev/null
"$LM" compare -m "$med" -f "$gpl" -c 256 -p 64 -n 8 --precisions int4,int8 >"$TMP/table" 2>"$TMP/err" &
pid=$!
sleep 2
kill -INT $pid
wait $pid
rc=$?
[ $rc -eq 1 ] && grep -q "interrupted" "$TMP/err" && grep -q '^precision' "$TMP/table" && grep -q '^int[48]\*\? .*cancelled' "$TMP/table" &&
    ok compare_ctrl_c_prints_what_was_measured || fail compare_ctrl_c_prints_what_was_measured "rc $rc" "$(cat "$TMP/table" "$TMP/err")"
