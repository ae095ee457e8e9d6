#!/usr/bin/env bash
# lmterm serve with several models: -m given twice and the configuration's
# model_dirs, all listed in /v1/models; a request naming another model than
# the loaded one has it loaded on demand (after the slots are idle) and gets
# the same answer as `lmterm run` on that model; an unknown model is a 404
# model_not_found; a model that does not load is a 500 and the server goes on.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/serve_lib.bash"

export HOME="$TMP/home" XDG_CONFIG_HOME="$TMP/config" XDG_CACHE_HOME="$TMP/cache" XDG_DATA_HOME="$TMP/data"
mkdir -p "$TMP/dir/sub" "$HOME"
P=$(tiny_model phi3 q8_0) || skip_all serve_models "synth failed"
L=$(tiny_model llama q8_0) || skip_all serve_models "synth failed"
"$LM" synth --arch llama --shape tiny --type q4_0 -o "$TMP/dir/sub/dir-llama.gguf" >/dev/null ||
    skip_all serve_models "synth failed"
head -c 4096 /dev/urandom >"$TMP/dir/broken.gguf"
cat >"$TMP/config.yaml" <<EOF
model_dirs:
  - $TMP/dir
EOF
plan 12
CHAT=/v1/chat/completions
COMP=/v1/completions
P_ID=tiny-phi3-q8_0 L_ID=tiny-llama-q8_0 D_ID=dir-llama

# A second -m that names nothing: one line, exit 1, before listening.
"$LM" serve -m "$P" -m "$TMP/missing.gguf" --port 0 >/dev/null 2>"$TMP/err"
rc=$?
check serve_models_bad_extra test $rc -eq 1 -a "$(wc -l <"$TMP/err")" -eq 1

serve_start "$TMP/log" --config "$TMP/config.yaml" -m "$P" -m "$L" -t 1 -c 512 --parallel 2 ||
    { fail serve_models_start "see above"; exit 0; }
ok serve_models_start

# /v1/models: the -m's in order, then model_dirs' files by name; the first loaded.
models=$(curl -s -m 10 "http://127.0.0.1:$PORT/v1/models")
if [ "$(jget "$models" '[m["id"] for m in d["data"]], [m["meta"]["loaded"] for m in d["data"]]')" = \
    "(['$P_ID', '$L_ID', 'broken', '$D_ID'], [True, False, False, False])" ] &&
    grep -q "serving $P_ID (and 3 more on demand) on http://127.0.0.1:$PORT " "$TMP/log"; then
    ok serve_models_list
else
    fail serve_models_list "$models" "$(head -1 "$TMP/log")"
fi

# complete ID PROMPT: the text of /v1/completions at temperature 0 on model ID.
complete() {
    gen $COMP "$(python3 -c 'import json,sys; print(json.dumps({"model": sys.argv[1], "prompt": sys.argv[2], "max_tokens": 16, "temperature": 0}))' "$1" "$2")"
}
# chat ID: a chat answer on model ID.
chat() {
    gen $CHAT "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story\"}],\"max_tokens\":16,\"temperature\":0}"
}
run_on() { "$LM" run -m "$1" -t 1 -c 512 --temp 0 -n 16 -p "$2"; }

# Each model answers as `lmterm run` on it does, the chat in its own template.
phi_tmpl=$'<|user|>\nTell me a story<|end|>\n<|assistant|>\n'
llama_tmpl=$'<|start_header_id|>user<|end_header_id|>\n\nTell me a story<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n'
check_model() { # NAME ID FILE TEMPLATE
    local c t run_c run_t
    t=$(chat "$2") # first: its template is the asked model's, not the loaded one's
    c=$(complete "$2" "Once upon")
    run_c=$(run_on "$3" "Once upon")
    run_t=$(run_on "$3" "$4")
    if [ "$(jget "$c" 'd["status"]')" = 200 ] && [ "$(jget "$c" 'd["text"]')" = "$run_c" ] &&
        [ "$(jget "$t" 'd["text"]')" = "$run_t" ] && [ -n "$run_t" ]; then
        ok "$1"
    else
        fail "$1" "completion: $c" "run: $run_c" "chat: $t" "run: $run_t"
    fi
}
check_model serve_models_first "$P_ID" "$P" "$phi_tmpl"
check_model serve_models_second "$L_ID" "$L" "$llama_tmpl"
models=$(curl -s -m 10 "http://127.0.0.1:$PORT/v1/models")
check serve_models_switched test "$(jget "$models" '[m["id"] for m in d["data"] if m["meta"]["loaded"]]')" = "['$L_ID']"
check_model serve_models_dir "$D_ID" "$TMP/dir/sub/dir-llama.gguf" "$llama_tmpl"

# The file's name works as its id; the answer names the model's id.
body=$(curl -s -m 60 "http://127.0.0.1:$PORT$COMP" -H 'Content-Type: application/json' \
    -d "{\"model\":\"$P_ID.gguf\",\"prompt\":\"Once upon\",\"max_tokens\":16,\"temperature\":0}")
if [ "$(jget "$body" 'd["model"], d["choices"][0]["text"]')" = "$(python3 -c 'import sys; print((sys.argv[1], sys.argv[2]))' "$P_ID" "$(run_on "$P" "Once upon")")" ]; then
    ok serve_models_file_name
else
    fail serve_models_file_name "$body"
fi

# Requests for both models at once (2 slots): the one for the other model
# waits for the slots to be idle; every answer is its single-client answer.
for i in 1 2 3; do
    for id in "$P_ID" "$L_ID"; do
        printf '{"path":"%s","body":{"model":"%s","prompt":"Once upon","max_tokens":16,"temperature":0}}\n' $COMP "$id"
    done
done >"$TMP/jobs"
timeout 300 $CLIENT many "$PORT" 6 "$TMP/jobs" >"$TMP/answers"
want_p=$(run_on "$P" "Once upon")
want_l=$(run_on "$L" "Once upon")
bad=$(python3 - "$TMP/answers" "$want_p" "$want_l" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
want = [sys.argv[2], sys.argv[3]] * 3
print(sum(1 for r, w in zip(rows, want) if r["status"] != 200 or r["text"] != w) + 6 - len(rows))
EOF
)
check serve_models_interleaved test "$bad" = 0

# An unknown model: 404 in OpenAI's error object, code model_not_found.
out=$(gen $CHAT '{"model":"no-such-model","messages":[{"role":"user","content":"hi"}],"max_tokens":2}')
check serve_models_unknown test "$(jget "$out" 'd["status"], d["error"]["code"], d["error"]["param"], d["error"]["type"]')" = \
    "(404, 'model_not_found', 'model', 'invalid_request_error')"

# A model that does not load: a 500 with one message naming it; the server
# goes on, and the next request for a good model is answered.
out=$(gen $CHAT '{"model":"broken","messages":[{"role":"user","content":"hi"}],"max_tokens":2}')
after=$(complete "$L_ID" "Once upon")
if [ "$(jget "$out" 'd["status"], d["error"]["code"]')" = "(500, 'model_load_failed')" ] &&
    jget "$out" 'd["error"]["message"]' | grep -q "model 'broken' could not be loaded: " &&
    [ "$(jget "$after" 'd["status"], d["text"]')" = "$(python3 -c 'import sys; print((200, sys.argv[1]))' "$want_l")" ]; then
    ok serve_models_load_failure
else
    fail serve_models_load_failure "$out" "$after"
fi

serve_stop
check serve_models_sigterm test "$SERVE_RC" -eq 0
