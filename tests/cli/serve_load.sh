#!/usr/bin/env bash
# lmterm serve under several clients: the bounded queue (503 + Retry-After),
# clients that go away (their slot and queue places free at once), 8 clients
# on 4 slots each getting its single-client answer, and a load loop of 200
# requests from 8 clients with the server's memory flat.
. "$(dirname "$0")/../lib.sh"
plan 6
. "$(dirname "$0")/serve_lib.bash"

export HOME="$TMP/home" XDG_CONFIG_HOME="$TMP/config" XDG_CACHE_HOME="$TMP/cache"
M=$(tiny_model phi3 q8_0) || { fail serve_load_model "synth failed"; exit 0; }
S="$TMP/small.gguf"
"$LM" synth --arch phi3 --shape small --type q8_0 -o "$S" >/dev/null || { fail serve_load_model "synth small failed"; exit 0; }
CHAT=/v1/chat/completions
URL() { echo "http://127.0.0.1:$PORT$CHAT"; }
# A long streamed generation (seconds on the small model), in the background.
long_stream() { # OUT
    curl -sN -m 60 "$(URL)" -H 'Content-Type: application/json' -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":3000,"temperature":0,"repeat_penalty":1.3,"stream":true}' >"$1" 2>/dev/null &
}

# ---- the queue: one slot busy, two waiting, the next one refused ----
serve_start "$TMP/log" -m "$S" -t 1 -c 4096 --parallel 1 --queue 2 || { fail serve_queue_start "no server"; exit 0; }
long_stream "$TMP/a"
pid_a=$!
for _ in $(seq 100); do [ -s "$TMP/a" ] && break; sleep 0.05; done
long_stream "$TMP/b"
pid_b=$!
long_stream "$TMP/c"
pid_c=$!
sleep 0.5
over=$(gen $CHAT '{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}')
if [ "$(jget "$over" 'd["status"], d["retry_after"], d["error"]["code"]')" = "(503, '1', 'queue_full')" ]; then
    ok serve_queue_overflow_503
else
    fail serve_queue_overflow_503 "$over"
fi

# The clients go away: the running generation stops within a token and the
# waiting ones leave the queue, so the next request is answered at once
# (the first alone would have taken seconds more).
kill "$pid_a" "$pid_b" "$pid_c" 2>/dev/null
wait "$pid_a" "$pid_b" "$pid_c" 2>/dev/null
t0=$(date +%s%N)
next=$(gen $CHAT '{"messages":[{"role":"user","content":"hi"}],"max_tokens":4,"temperature":0}')
ms=$((($(date +%s%N) - t0) / 1000000))
if [ "$(jget "$next" 'd["status"]')" = 200 ] && [ "$ms" -lt 1500 ]; then
    ok serve_disconnect_frees_slot
else
    fail serve_disconnect_frees_slot "answered after $ms ms" "$next"
fi
# A client that closes before the answer of a whole (non-streamed) request.
$CLIENT hang "$PORT" $CHAT '{"messages":[{"role":"user","content":"hi"}],"max_tokens":3000,"temperature":0,"repeat_penalty":1.3}' 0.3
t0=$(date +%s%N)
next=$(gen $CHAT '{"messages":[{"role":"user","content":"hi"}],"max_tokens":4,"temperature":0}')
ms=$((($(date +%s%N) - t0) / 1000000))
if [ "$(jget "$next" 'd["status"]')" = 200 ] && [ "$ms" -lt 1500 ]; then
    ok serve_disconnect_whole_frees_slot
else
    fail serve_disconnect_whole_frees_slot "answered after $ms ms" "$next"
fi
grep -q 'connection lost' "$TMP/log"
check serve_log_lost_connection test $? -eq 0
serve_stop

# ---- 8 clients on 4 slots: each answer equals its single-client answer (the
# small model: long enough that the requests overlap) ----
serve_start "$TMP/log2" -m "$S" -t 1 -c 512 --parallel 4 || { fail serve_parallel_start "no server"; exit 0; }
: >"$TMP/jobs"
for i in 1 2 3 4 5 6 7 8; do
    python3 -c 'import json,sys; i=int(sys.argv[1]); print(json.dumps({"path": "/v1/chat/completions", "body": {"messages":[{"role":"user","content":"question number %d: %s" % (i, "why " * i)}],"max_tokens":24 + 4 * i,"temperature":0,"stream": i % 2 == 0}}))' $i >>"$TMP/jobs"
done
timeout 120 $CLIENT many "$PORT" 1 "$TMP/jobs" >"$TMP/alone"
timeout 120 $CLIENT many "$PORT" 8 "$TMP/jobs" >"$TMP/together"
strip() { python3 -c 'import json,sys
for line in open(sys.argv[1]):
    d = json.loads(line); print(json.dumps([d["status"], d.get("text"), d.get("finish"), (d.get("usage") or {}).get("completion_tokens")]))' "$1"; }
if [ "$(strip "$TMP/alone" | grep -c '^\[200,')" -eq 8 ] && [ "$(strip "$TMP/alone")" = "$(strip "$TMP/together")" ]; then
    ok serve_parallel_equals_alone
else
    fail serve_parallel_equals_alone "$(diff <(strip "$TMP/alone") <(strip "$TMP/together") | head -6)"
fi
serve_stop

# ---- load: 200 requests from 8 clients, no failure, memory flat ----
if is_sanitized; then
    skip serve_load_rss "AddressSanitizer keeps freed memory in quarantine"
    exit 0
fi
serve_start "$TMP/log3" -m "$M" -t 1 -c 512 --parallel 4 --quiet || { fail serve_load_start "no server"; exit 0; }
python3 -c 'import json
for i in range(200):
    print(json.dumps({"path": "/v1/chat/completions" if i % 3 else "/v1/completions",
                      "body": {"messages": [{"role": "user", "content": "load %d" % i}], "prompt": "load %d" % i,
                               "max_tokens": 8 + i % 16, "temperature": 0.7, "stream": i % 2 == 0}}))' >"$TMP/load"
head -40 "$TMP/load" >"$TMP/warm"
timeout 120 $CLIENT many "$PORT" 8 "$TMP/warm" >/dev/null
rss0=$(rss_kib "$SERVE_PID")
timeout 300 $CLIENT many "$PORT" 8 "$TMP/load" >"$TMP/load_out"
rss1=$(rss_kib "$SERVE_PID")
n_ok=$(grep -c '"status": 200' "$TMP/load_out")
d=$(((rss1 - rss0) / 1024))
if [ "$n_ok" -eq 200 ] && [ "${d#-}" -le 8 ]; then
    ok serve_load_rss
else
    fail serve_load_rss "$n_ok of 200 answered; RSS $rss0 KiB -> $rss1 KiB" "$(grep -v '"status": 200' "$TMP/load_out" | head -3)"
fi
serve_stop
