#!/usr/bin/env bash
# lmterm serve, one client at a time: the routes, streaming and whole answers
# agreeing with each other and with `lmterm run`, usage and cached tokens,
# stop strings, max_tokens, every error's status and JSON, the API key,
# curl -N, the access log, a bad model, SIGTERM in the middle of a stream.
. "$(dirname "$0")/../lib.sh"
plan 32
. "$(dirname "$0")/serve_lib.bash"

export HOME="$TMP/home" XDG_CONFIG_HOME="$TMP/config" XDG_CACHE_HOME="$TMP/cache"
M=$(tiny_model phi3 q8_0) || { fail serve_model "synth failed"; exit 0; }
CHAT=/v1/chat/completions
COMP=/v1/completions

# A model that does not load: exit 1, one line, nothing listening.
start=$(date +%s%N)
"$LM" serve -m "$TMP/missing.gguf" --port 0 >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && ! grep -q serving "$TMP/err"; then
    ok serve_bad_model
else
    fail serve_bad_model "rc=$rc" "$(cat "$TMP/err")"
fi

serve_start "$TMP/log" -m "$M" -t 1 -c 512 || { fail serve_start "see above"; exit 0; }
ok serve_start

# /health and /v1/models
h=$(curl -s -m 10 "http://127.0.0.1:$PORT/health")
check serve_health test "$h" = '{"status":"ok"}'
models=$(curl -s -m 10 "http://127.0.0.1:$PORT/v1/models")
mid=${M##*/}
if [ "$(jget "$models" 'd["object"] + " " + d["data"][0]["id"] + " " + d["data"][0]["object"]')" = "list ${mid%.gguf} model" ]; then
    ok serve_models
else
    fail serve_models "$models"
fi

# Streamed and whole answers agree at temperature 0, and name their objects.
req='{"messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":24,"temperature":0}'
whole=$(gen $CHAT "$req")
streamed=$(gen $CHAT "${req%\}},\"stream\":true,\"stream_options\":{\"include_usage\":true}}")
w_text=$(jget "$whole" 'd["text"]')
if [ "$(jget "$whole" 'd["status"], d["finish"], d["object"]')" = "(200, 'length', 'chat.completion')" ] &&
    [ "$(jget "$streamed" 'd["status"], d["finish"], d["done"]')" = "(200, 'length', True)" ] &&
    [ "$w_text" = "$(jget "$streamed" 'd["text"]')" ] && [ -n "$w_text" ]; then
    ok serve_stream_equals_whole
else
    fail serve_stream_equals_whole "$whole" "$streamed"
fi

# usage: prompt tokens are the template's tokens (BOS and all), completion
# tokens what max_tokens allowed; a stream's usage chunk says the same.
tmpl=$'<|user|>\nTell me a story<|end|>\n<|assistant|>\n'
n_prompt=$("$LM" tokenize -m "$M" -- "$tmpl" | wc -w)
if [ "$(jget "$whole" 'd["usage"]["prompt_tokens"], d["usage"]["completion_tokens"], d["usage"]["total_tokens"]')" = "($n_prompt, 24, $((n_prompt + 24)))" ] &&
    [ "$(jget "$streamed" 'd["usage"]["prompt_tokens"], d["usage"]["completion_tokens"]')" = "($n_prompt, 24)" ]; then
    ok serve_usage
else
    fail serve_usage "template tokens $n_prompt" "$whole" "$streamed"
fi

# The same conversation again: all but the last prompt token come from the cache.
again=$(gen $CHAT "$req")
if [ "$(jget "$again" 'd["usage"]["prompt_tokens_details"]["cached_tokens"], d["timings"]["cache_n"], d["timings"]["prompt_n"]')" = "($((n_prompt - 1)), $((n_prompt - 1)), 1)" ] &&
    [ "$(jget "$again" 'd["text"]')" = "$w_text" ]; then
    ok serve_prompt_cache
else
    fail serve_prompt_cache "$again"
fi

# The chat's prompt is the template's text: /v1/completions on that text
# answers the same, and so does `lmterm run` on it.
comp=$(gen $COMP "$(python3 -c 'import json,sys; print(json.dumps({"prompt": sys.argv[1], "max_tokens": 24, "temperature": 0}))' "$tmpl")")
run_text=$("$LM" run -m "$M" -t 1 -c 512 --temp 0 -n 24 -p "$tmpl")
if [ "$(jget "$comp" 'd["text"]')" = "$w_text" ] && [ "$run_text" = "$w_text" ]; then
    ok serve_same_as_run
else
    fail serve_same_as_run "chat: $w_text" "completions: $(jget "$comp" 'd["text"]')" "run: $run_text"
fi
comp_s=$(gen $COMP '{"prompt":"Once upon","max_tokens":16,"temperature":0,"stream":true}')
comp_w=$(gen $COMP '{"prompt":"Once upon","max_tokens":16,"temperature":0}')
run_text=$("$LM" run -m "$M" -t 1 -c 512 --temp 0 -n 16 -p "Once upon")
if [ "$(jget "$comp_s" 'd["text"]')" = "$(jget "$comp_w" 'd["text"]')" ] &&
    [ "$(jget "$comp_w" 'd["text"]')" = "$run_text" ] && [ "$(jget "$comp_w" 'd["object"]')" = text_completion ]; then
    ok serve_completions
else
    fail serve_completions "$comp_s" "$comp_w" "run: $run_text"
fi

# A stop string from the middle of the answer cuts it there: finish "stop",
# the stop string not sent back, streamed or not.
stop=$(python3 -c 'import sys; t=sys.argv[1]; print(t[len(t)//2:len(t)//2+3])' "$w_text")
prefix=$(python3 -c 'import sys; t=sys.argv[1]; print(t[:t.index(sys.argv[2])])' "$w_text" "$stop")
sreq=$(python3 -c 'import json,sys; print(json.dumps({"messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":24,"temperature":0,"stop":[sys.argv[1]]}))' "$stop")
s_whole=$(gen $CHAT "$sreq")
s_stream=$(gen $CHAT "${sreq%\}},\"stream\":true}")
if [ "$(jget "$s_whole" 'd["finish"]')" = stop ] && [ "$(jget "$s_whole" 'd["text"]')" = "$prefix" ] &&
    [ "$(jget "$s_stream" 'd["finish"], d["text"] == d["text"]')" = "('stop', True)" ] &&
    [ "$(jget "$s_stream" 'd["text"]')" = "$prefix" ]; then
    ok serve_stop_string
else
    fail serve_stop_string "stop '$stop', expected '$prefix'" "$s_whole" "$s_stream"
fi

# max_tokens beyond the context is clamped: the answer ends with "length"
# when the context (512 per slot) is full (its last token needs no room).
big=$(gen $CHAT '{"messages":[{"role":"user","content":"go"}],"max_tokens":100000,"temperature":0,"repeat_penalty":1.5}')
if [ "$(jget "$big" 'd["status"], d["finish"], d["usage"]["total_tokens"] <= 513')" = "(200, 'length', True)" ] ||
    [ "$(jget "$big" 'd["status"], d["finish"]')" = "(200, 'stop')" ]; then
    ok serve_max_tokens_clamped
else
    fail serve_max_tokens_clamped "$big"
fi

# Errors: status and OpenAI's error object.
expect_error() { # NAME STATUS PARAM BODY [PATH]
    local out
    out=$(gen "${5:-$CHAT}" "$4")
    if [ "$(jget "$out" 'd["status"], (d["error"] or {}).get("param"), bool((d["error"] or {}).get("message")), (d["error"] or {}).get("type")')" = "($2, $3, True, 'invalid_request_error')" ]; then
        ok "$1"
    else
        fail "$1" "expected $2 $3" "$out"
    fi
}
expect_error serve_err_malformed 400 None '{"messages":[{'
expect_error serve_err_not_object 400 None '[1,2]'
expect_error serve_err_no_messages 400 "'messages'" '{}'
expect_error serve_err_role 400 "'messages.role'" '{"messages":[{"role":"wizard","content":"x"}]}'
expect_error serve_err_type 400 "'temperature'" '{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}'
expect_error serve_err_n 400 "'n'" '{"messages":[{"role":"user","content":"x"}],"n":3}'
printf '{"messages":[{"role":"user","content":"\xc3\x28"}]}' >"$TMP/bad_utf8"
code=$(curl -s -m 10 -o "$TMP/body" -w '%{http_code}' --data-binary @"$TMP/bad_utf8" "http://127.0.0.1:$PORT$CHAT")
check serve_err_utf8 test "$code $(jget "$(cat "$TMP/body")" 'd["error"]["param"]')" = "400 messages.content"
expect_error serve_err_prompt 400 "'prompt'" '{"prompt":{"a":1}}' $COMP
long=$(python3 -c 'import json; print(json.dumps({"messages":[{"role":"user","content":"word " * 2000}]}))')
out=$(gen $CHAT "$long")
if [ "$(jget "$out" 'd["status"], d["error"]["code"]')" = "(400, 'context_length_exceeded')" ] &&
    jget "$out" 'd["error"]["message"]' | grep -q 'more than the context of 512'; then
    ok serve_err_context
else
    fail serve_err_context "$out"
fi
code=$(curl -s -m 10 -o "$TMP/body" -w '%{http_code}' "http://127.0.0.1:$PORT/v1/nothing")
check serve_err_404 test "$code $(jget "$(cat "$TMP/body")" 'd["error"]["code"]')" = "404 not_found"
code=$(curl -s -m 10 -o "$TMP/body" -w '%{http_code}' "http://127.0.0.1:$PORT$CHAT")
check serve_err_405 test "$code $(jget "$(cat "$TMP/body")" 'd["error"]["code"]')" = "405 method_not_allowed"
head -c $((8 * 1024 * 1024 + 10)) /dev/zero | tr '\0' ' ' >"$TMP/huge"
code=$(curl -s -m 30 -o "$TMP/body" -w '%{http_code}' --data-binary @"$TMP/huge" "http://127.0.0.1:$PORT$CHAT")
check serve_err_413 test "$code $(jget "$(cat "$TMP/body")" 'd["error"]["code"]')" = "413 request_too_large"
h=$(curl -s -m 10 "http://127.0.0.1:$PORT/health")
check serve_alive_after_errors test "$h" = '{"status":"ok"}'

# curl -N: server-sent events as they come, ending with data: [DONE].
curl -sN -m 30 "http://127.0.0.1:$PORT$CHAT" -H 'Content-Type: application/json' \
    -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":8,"temperature":0,"stream":true}' >"$TMP/sse"
if [ "$(grep -c '^data: {' "$TMP/sse")" -ge 3 ] && [ "$(grep '^data: ' "$TMP/sse" | tail -1)" = "data: [DONE]" ] &&
    grep -q '"finish_reason":"length"' "$TMP/sse" && ! grep -v -E '^(data: .*)?$' "$TMP/sse" | grep -q .; then
    ok serve_curl_stream
else
    fail serve_curl_stream "$(head -c 600 "$TMP/sse")"
fi

# The access log: one line per request with method, path, status and tokens.
if grep -qE '^[0-9-]+T[0-9:]+Z POST /v1/chat/completions 200 prompt=[0-9]+ gen=8 [0-9.]+ms$' "$TMP/log" &&
    grep -qE ' GET /health 200 ' "$TMP/log" && grep -qE ' POST /v1/chat/completions 413 ' "$TMP/log"; then
    ok serve_access_log
else
    fail serve_access_log "$(tail -5 "$TMP/log")"
fi
# lmterm's own OpenAI client (the remote backend) against lmterm serve:
# the same text as the server's answer to the messages it sends.
out=$(printf 'Tell me a story\n' | timeout 60 "$LM" chat --plain --remote "http://127.0.0.1:$PORT/v1" -s "be brief" -n 12 --temp 0 --stats 2>"$TMP/remote_err")
rc=$?
direct=$(gen $CHAT '{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"Tell me a story"}],"max_tokens":12,"temperature":0}')
if [ $rc -eq 0 ] && [ "$out" = "$(jget "$direct" 'd["text"]')" ] && grep -q 'generated tokens: 12,' "$TMP/remote_err"; then
    ok serve_lmterm_remote_client
else
    fail serve_lmterm_remote_client "rc=$rc: $out" "$direct" "$(cat "$TMP/remote_err")"
fi
serve_stop
check serve_sigterm_idle test "$SERVE_RC" -eq 0

# --api-key-env: 401 without the key or with a wrong one, 200 with it;
# /health needs none; --quiet writes no access log.
export LMTERM_TEST_KEY=sekrit-123
serve_start "$TMP/log2" -m "$M" -t 1 -c 256 --api-key-env LMTERM_TEST_KEY --quiet || { fail serve_key_start "no server"; exit 0; }
r='{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}'
none=$(gen $CHAT "$r")
wrong=$(gen $CHAT "$r" sekrit-124)
right=$(gen $CHAT "$r" sekrit-123)
if [ "$(jget "$none" 'd["status"], d["error"]["code"]')" = "(401, 'invalid_api_key')" ] &&
    [ "$(jget "$wrong" 'd["status"]')" = 401 ] && [ "$(jget "$right" 'd["status"]')" = 200 ] &&
    [ "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")" = 200 ] &&
    [ "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/models")" = 401 ]; then
    ok serve_api_key
else
    fail serve_api_key "$none" "$wrong" "$right"
fi
serve_stop
check serve_quiet test "$(grep -c ' POST ' "$TMP/log2")" -eq 0
"$LM" serve -m "$M" --api-key-env LMTERM_NO_SUCH_VARIABLE --port 0 2>"$TMP/err"
check serve_key_unset test $? -eq 1 -a "$(wc -l <"$TMP/err")" -eq 1

# SIGTERM in the middle of a long stream: the stream still ends with its
# final chunk and [DONE], and the server exits 0 within 2 s.
S=$("$LM" synth --arch phi3 --shape small --type q8_0 -o "$TMP/small.gguf" >/dev/null && echo "$TMP/small.gguf")
serve_start "$TMP/log3" -m "$S" -t 1 -c 4096 || { fail serve_small_start "no server"; exit 0; }
: >"$TMP/sse2"
curl -sN -m 60 "http://127.0.0.1:$PORT$CHAT" -H 'Content-Type: application/json' \
    -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":4000,"temperature":0,"repeat_penalty":1.3,"stream":true}' >"$TMP/sse2" &
curl_pid=$!
for _ in $(seq 100); do [ "$(grep -c '^data: {' "$TMP/sse2")" -ge 5 ] && break; sleep 0.05; done
t0=$(date +%s%N)
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
SERVE_RC=$?
ms=$((($(date +%s%N) - t0) / 1000000))
serve_sanitizer_check
wait "$curl_pid"
if [ "$SERVE_RC" -eq 0 ] && [ "$ms" -lt 2000 ] && [ "$(grep '^data: ' "$TMP/sse2" | tail -1)" = "data: [DONE]" ] &&
    grep -q '"finish_reason":"stop"' "$TMP/sse2"; then
    ok serve_sigterm_stream
else
    fail serve_sigterm_stream "rc=$SERVE_RC after ${ms} ms" "$(tail -c 400 "$TMP/sse2")"
fi
