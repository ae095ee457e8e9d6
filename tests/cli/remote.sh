#!/usr/bin/env bash
# The remote backend against a server on 127.0.0.1 that this script starts:
# `run --remote` and `chat --plain --remote` give the server's answer, --stats
# gives its figures, transcripts name the server and -r goes back to it, and
# each failure (refused, unknown host, idle timeout, 401, unknown model, 429,
# 5xx, a stream cut or malformed mid-reply, a body past 16 MiB) is one line
# on stderr with exit status 1, the reply so far kept. The server is the
# stand-in of tests/tools/openai_stub.py.
. "$(dirname "$0")/../lib.sh"
plan 34

export HOME="$TMP/home" XDG_CACHE_HOME="$TMP/cache" XDG_STATE_HOME="$TMP/state"
export XDG_DATA_HOME="$TMP/data" XDG_CONFIG_HOME="$TMP/config"
STUB="$(dirname "$0")/../tools/openai_stub.py"
command -v python3 >/dev/null || skip_all remote "python3 is not installed"

# start_stub NAME [ARGS]: a stub server; its URL in $URL
start_stub() {
    local pf="$TMP/$1.port"
    shift
    python3 "$STUB" --port-file "$pf" --lifetime 300 "$@" &
    STUB_PIDS="$STUB_PIDS $!"
    for _ in $(seq 100); do [ -s "$pf" ] && break; sleep 0.05; done
    URL="http://127.0.0.1:$(cat "$pf")/v1"
}
STUB_PIDS=""
trap 'for p in $STUB_PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
start_stub open --log "$TMP/open.log"
OPEN=$URL
start_stub locked --key sekrit-key-123 --log "$TMP/locked.log"
LOCKED=$URL

# The server's own non-streaming answer to one user message.
plain_answer() {
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys, urllib.request
url, model, text = sys.argv[1:]
body = json.dumps({"model": model, "messages": [{"role": "user", "content": text}],
                   "temperature": 0}).encode()
req = urllib.request.Request(url + "/chat/completions", body, {"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(req, timeout=10))["choices"][0]["message"]["content"])
PY
}

# ---- answers ----
want=$(plain_answer "$OPEN" stub-echo Hello)
got=$("$LM" run --remote "$OPEN" -m stub-echo -p Hello 2>"$TMP/err")
check remote_run_answer test "$got" = "$want"

got=$(printf 'Hello\n' | "$LM" chat --plain --remote "$OPEN" -m stub-echo --temp 0 2>"$TMP/err")
if [ "$got" = "$want" ]; then ok remote_plain_equals_nonstreaming; else
    fail remote_plain_equals_nonstreaming "got: $got" "want: $want" "$(cat "$TMP/err")"; fi

# Sampling goes to the server as the request's parameters.
"$LM" run --remote "$OPEN" -m stub-echo -p x --temp 0.25 --top-p 0.5 --top-k 7 --seed 42 -n 33 >/dev/null 2>&1
last=$(grep '"messages"' "$TMP/open.log" | tail -1)
if echo "$last" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); sys.exit(0 if (r["temperature"],r["top_p"],r["top_k"],r["seed"],r["max_tokens"],r["stream"])==(0.25,0.5,7,42,33,True) else 1)'; then
    ok remote_sampling_sent; else fail remote_sampling_sent "$last"; fi

# No -m: the server's first model.
got=$("$LM" run --remote "$OPEN" -p Hi 2>&1)
check remote_first_model test "$got" = "$(plain_answer "$OPEN" stub-echo Hi)"

# --stats: the server's usage and timings, and time to first token.
printf 'one\n' | "$LM" chat --plain --remote "$OPEN" -m stub-usage --stats >/dev/null 2>"$TMP/err"
if grep -qE '^stats: server: http://127.0.0.1:[0-9]+/v1, prompt tokens: 11, generated tokens: 9, prompt tok/s: 123.50, generation tok/s: 45.25, first token: [0-9.]+ s$' "$TMP/err"; then
    ok remote_stats_from_server; else fail remote_stats_from_server "$(cat "$TMP/err")"; fi

# Two turns: the history goes with the second.
got=$(printf 'one\ntwo\n' | "$LM" chat --plain --remote "$OPEN" -m stub-echo 2>/dev/null | tail -1)
check remote_history_sent test "$got" = "You said: two (turn 2) é😀 done."

# ---- transcripts ----
export XDG_DATA_HOME="$TMP/data2"
printf 'first\n' | "$LM" chat --plain --remote "$OPEN" -m stub-echo >/dev/null 2>&1
tr=$(ls "$XDG_DATA_HOME"/lmterm/transcripts/*.json 2>/dev/null | tail -1)
if [ -n "$tr" ] && grep -q '"backend": "openai"' "$tr" && grep -q "\"server\": \"$OPEN\"" "$tr" &&
    grep -q '"path": "stub-echo"' "$tr"; then ok remote_transcript_names_server; else
    fail remote_transcript_names_server "$(cat "$tr" 2>/dev/null | head -5)"; fi
got=$(printf 'second\n' | "$LM" chat --plain -r "$tr" 2>"$TMP/err" | tail -1)
check remote_resume_on_server test "$got" = "You said: second (turn 2) é😀 done."

# ---- keys ----
out=$("$LM" run --remote "$LOCKED" -m stub-echo -p hi 2>&1)
rc=$?
if [ $rc -eq 1 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] && echo "$out" | grep -q 'HTTP 401' &&
    echo "$out" | grep -q -- '--api-key-env'; then ok remote_401_no_key; else
    fail remote_401_no_key "rc=$rc" "$out"; fi
out=$(WRONG_KEY=nope "$LM" run --remote "$LOCKED" -m stub-echo --api-key-env WRONG_KEY -p hi 2>&1)
if [ $? -eq 1 ] && echo "$out" | grep -q 'HTTP 401.*set WRONG_KEY to a valid API key'; then
    ok remote_401_wrong_key; else fail remote_401_wrong_key "$out"; fi
out=$("$LM" run --remote "$LOCKED" --api-key-env UNSET_KEY_VAR -p hi 2>&1)
if [ $? -eq 1 ] && echo "$out" | grep -q 'UNSET_KEY_VAR is not set'; then ok remote_key_var_unset; else
    fail remote_key_var_unset "$out"; fi
export LM_TEST_KEY=sekrit-key-123
got=$(printf 'Hello\n' | "$LM" chat --plain --remote "$LOCKED" -m stub-echo --api-key-env LM_TEST_KEY 2>"$TMP/err")
check remote_key_accepted test "$got" = "$want"
tr=$(ls -t "$XDG_DATA_HOME"/lmterm/transcripts/*.json | head -1)
if ! grep -rqs sekrit "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME" "$TMP/err" &&
    grep -q '"api_key_env": "LM_TEST_KEY"' "$tr"; then ok remote_key_not_saved; else
    fail remote_key_not_saved "$(grep -rl sekrit "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$TMP/err")"; fi
unset LM_TEST_KEY

# ---- failures: one line on stderr, exit 1 ----
# fails NAME EXPECTED-REGEX [STDOUT-REGEX] -- lmterm arguments
fails() {
    local name=$1 re=$2 outre=$3
    shift 4
    local t0 t1 rc
    t0=$(date +%s.%N)
    timeout 60 "$LM" "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    t1=$(date +%s.%N)
    if [ $rc -eq 1 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -qE "$re" "$TMP/err" &&
        { [ -z "$outre" ] || grep -qE "$outre" "$TMP/out"; }; then
        ok "$name"
    else
        fail "$name" "rc=$rc after $(echo "$t1 - $t0" | bc) s" "stderr: $(cat "$TMP/err")" "stdout: $(cat "$TMP/out")"
    fi
}
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
fails remote_refused "^lmterm: cannot connect to 127.0.0.1:$dead: Connection refused$" "" -- run --remote "http://127.0.0.1:$dead/v1" -p hi
fails remote_refused_plain "cannot connect to 127.0.0.1:$dead" "" -- chat --plain --remote "http://127.0.0.1:$dead/v1" </dev/null
fails remote_unknown_host "^lmterm: cannot resolve host no-such-host.invalid \(DNS lookup failed\)$" "" -- run --remote http://no-such-host.invalid/v1 -p hi
fails remote_unknown_model "model 'nosuch' is not on .* \(it has: stub-echo, stub-long" "" -- run --remote "$OPEN" -m nosuch -p hi
fails remote_429 "^lmterm: HTTP 429 from .*: stub says 429: slow down$" "" -- run --remote "$OPEN" -m err-429 -p hi
fails remote_500 "^lmterm: HTTP 500 from .*: stub says 500: the server broke$" "" -- run --remote "$OPEN" -m err-500 -p hi
fails remote_503 "^lmterm: HTTP 503 from .*: stub says 503" "" -- run --remote "$OPEN" -m err-503 -p hi
fails remote_stream_cut "closed the connection mid-answer; the reply so far is kept" "^You said: hi" -- run --remote "$OPEN" -m cut -p hi
fails remote_no_done "ended the stream before the reply.s end; the reply so far is kept" "^You said" -- run --remote "$OPEN" -m nodone -p hi
fails remote_malformed "malformed JSON in its stream .*; the reply so far is kept" "^You said: hi" -- run --remote "$OPEN" -m malformed -p hi
fails remote_huge "larger than 16 MiB" "" -- run --remote "$OPEN" -m huge -p hi
fails remote_bad_url_server "^lmterm: HTTP 404 from .*/nope for /chat/completions: no such path \(is the model id right, and does the URL end in /v1\?\)$" "" -- run --remote "${OPEN%/v1}/nope" -m stub-echo -p hi

# The idle timeout (from servers: in the configuration) ends a silent stream.
cat >"$TMP/servers.yaml" <<EOF2
servers:
  - name: stub
    url: $OPEN
    model: hang
    idle_timeout: 1
EOF2
t0=$(date +%s)
fails remote_idle_timeout "no data from 127.0.0.1:[0-9]+ for 1 s \(timeout\); the reply so far is kept" "^You said" -- run --config "$TMP/servers.yaml" --remote stub -p hi
t=$(($(date +%s) - t0))
check remote_idle_timeout_bounded test "$t" -le 3

# A server that never accepts the connection: the connect timeout (1 s
# here, from the configuration; 10 s by default) ends the wait.
python3 - "$TMP/hole.port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
held = []
for _ in range(8):  # fill the accept queue: later connections get no answer
    c = socket.socket(); c.setblocking(False)
    try: c.connect(s.getsockname())
    except BlockingIOError: pass
    held.append(c)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
time.sleep(30)
PY
STUB_PIDS="$STUB_PIDS $!"
for _ in $(seq 100); do [ -s "$TMP/hole.port" ] && break; sleep 0.05; done
cat >"$TMP/hole.yaml" <<EOF2
servers:
  - name: hole
    url: http://127.0.0.1:$(cat "$TMP/hole.port")/v1
    connect_timeout: 1
EOF2
for form in run plain; do
    t0=$(date +%s%N)
    if [ $form = run ]; then args=(run -p hi); else args=(chat --plain); fi
    fails "remote_connect_timeout_$form" "^lmterm: no connection to 127.0.0.1:[0-9]+ within 1.0 s \(timeout\)$" "" -- \
        "${args[@]}" --config "$TMP/hole.yaml" --remote hole </dev/null
    ms=$((($(date +%s%N) - t0) / 1000000))
    check "remote_connect_timeout_${form}_bounded" test "$ms" -lt 2500
done

# A chat that fails mid-reply goes on: the next message is answered.
printf 'one\n/model stub-echo\ntwo\n' | "$LM" chat --plain --remote "$OPEN" -m cut >"$TMP/out" 2>"$TMP/err"
if [ "$(grep -c 'kept' "$TMP/err")" -eq 1 ] && grep -q 'You said: two (turn 2)' "$TMP/out"; then
    ok remote_chat_goes_on; else fail remote_chat_goes_on "$(cat "$TMP/out" "$TMP/err")"; fi

# Ctrl-C (SIGINT) stops a streaming reply: the time from the signal to the
# reply's --stats line, the text so far kept.
{ printf 'Hello\n'; sleep 8; } | "$LM" chat --plain --remote "$OPEN" -m stub-long --stats \
    >"$TMP/out" 2>"$TMP/err" &
pid=$!
for _ in $(seq 200); do grep -q 'w5 ' "$TMP/out" 2>/dev/null && break; sleep 0.02; done
t0=$(date +%s%N)
kill -INT $pid
for _ in $(seq 1000); do grep -q '^stats:' "$TMP/err" && break; sleep 0.002; done
ms=$((($(date +%s%N) - t0) / 1000000))
echo "    (Ctrl-C to the end of the reply: $ms ms)"
kill $pid 2>/dev/null
wait $pid 2>/dev/null
if grep -q '^stats:' "$TMP/err" && [ "$ms" -lt 100 ] && grep -q '^w0 w1 w2 w3 w4 w5' "$TMP/out"; then
    ok remote_stop_within_100ms; else fail remote_stop_within_100ms "$ms ms" "$(cat "$TMP/err")"; fi

check remote_usage_error test "$("$LM" run --remote not-a-url -p hi >/dev/null 2>&1; echo $?)" -eq 2
