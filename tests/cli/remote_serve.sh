#!/usr/bin/env bash
# The remote backend against the real `lmterm serve` on 127.0.0.1 (started
# here on a free port): at temperature 0, `chat --plain --remote` and `run
# --remote` print exactly the server's own non-streaming answer to the same
# messages; /model lists the server's model; --stats gives its figures; the
# key goes as a bearer token; a server gone gives one line and the chat
# goes on.
. "$(dirname "$0")/../lib.sh"
plan 7
. "$(dirname "$0")/serve_lib.bash"
plan 7

export HOME="$TMP/home" XDG_CACHE_HOME="$TMP/cache" XDG_STATE_HOME="$TMP/state"
export XDG_DATA_HOME="$TMP/data" XDG_CONFIG_HOME="$TMP/config"
command -v python3 >/dev/null || skip_all remote_serve "python3 is not installed"
M=$(tiny_model phi3 q8_0) || { fail remote_serve_model "synth failed"; exit 0; }
serve_start "$TMP/serve.log" -m "$M" -t 1 || { fail remote_serve_start "$(cat "$TMP/serve.log")"; exit 0; }
URL="http://127.0.0.1:$PORT/v1"
ID=$(jget "$(curl -s "$URL/models")" 'd["data"][0]["id"]')

# The server's own answer, not streamed, at temperature 0.
answer() {
    python3 - "$URL" "$ID" "$1" "${2:-}" <<'PY'
import json, sys, urllib.request
url, model, text, key = sys.argv[1:]
body = json.dumps({"model": model, "messages": [{"role": "user", "content": text}],
                   "temperature": 0, "max_tokens": 24}).encode()
h = {"Content-Type": "application/json"}
if key: h["Authorization"] = "Bearer " + key
req = urllib.request.Request(url + "/chat/completions", body, h)
sys.stdout.write(json.load(urllib.request.urlopen(req, timeout=60))["choices"][0]["message"]["content"])
PY
}
want=$(answer Hello; echo x)
want=${want%x}

got=$(printf 'Hello\n' | "$LM" chat --plain --remote "$URL" -m "$ID" -s "" --temp 0 -n 24 2>"$TMP/err"; echo x)
got=${got%x}
# the plain chat ends a reply with a newline
if [ "$got" = "$want"$'\n' ]; then ok remote_serve_plain_equals_nonstreaming; else
    fail remote_serve_plain_equals_nonstreaming "got:  $(printf '%q' "$got")" "want: $(printf '%q' "$want")" "$(cat "$TMP/err")"; fi
got=$("$LM" run --remote "$URL" -s "" --temp 0 -n 24 -p Hello 2>"$TMP/err"; echo x)
got=${got%x}
if [ "$got" = "$want"$'\n' ]; then ok remote_serve_run_equals_nonstreaming; else
    fail remote_serve_run_equals_nonstreaming "got:  $(printf '%q' "$got")" "want: $(printf '%q' "$want")" "$(cat "$TMP/err")"; fi

# /model: the server's models under its URL; --stats: the server's figures.
printf '/model\nHi\n' | "$LM" chat --plain --remote "$URL" -s "" --temp 0 -n 8 --stats >"$TMP/out" 2>"$TMP/err"
if grep -q "^Models on $URL" "$TMP/out" && grep -q "^ \*1\. $ID\$" "$TMP/out"; then
    ok remote_serve_model_list; else fail remote_serve_model_list "$(cat "$TMP/out")"; fi
if grep -qE "^stats: server: $URL, prompt tokens: [1-9][0-9]*, generated tokens: 8, prompt tok/s: [0-9.]+, generation tok/s: [1-9][0-9.]*, first token: [0-9.]+ s$" "$TMP/err"; then
    ok remote_serve_stats; else fail remote_serve_stats "$(cat "$TMP/err")"; fi

# A server gone: one line, exit status 1, the conversation kept in its transcript.
serve_stop
printf 'Hello again\n' | "$LM" chat --plain --remote "$URL" -m "$ID" >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q "cannot connect to 127.0.0.1:$PORT: Connection refused" "$TMP/err"; then
    ok remote_serve_gone; else fail remote_serve_gone "rc=$rc" "$(cat "$TMP/err")"; fi

# With a key: none gives 401 and says how to give one; the right one works.
export LM_SERVE_KEY=k-$$-secret
serve_start "$TMP/serve2.log" -m "$M" -t 1 --api-key-env LM_SERVE_KEY ||
    { fail remote_serve_key_start "$(cat "$TMP/serve2.log")"; exit 0; }
URL="http://127.0.0.1:$PORT/v1"
out=$("$LM" run --remote "$URL" -p hi -n 4 2>&1)
if [ $? -eq 1 ] && echo "$out" | grep -q 'HTTP 401.*--api-key-env'; then ok remote_serve_401; else
    fail remote_serve_401 "$out"; fi
want=$(answer Hello "$LM_SERVE_KEY")
got=$("$LM" run --remote "$URL" --api-key-env LM_SERVE_KEY -s "" --temp 0 -n 24 -p Hello 2>&1)
check remote_serve_key_accepted test "$got" = "$want"
serve_stop
