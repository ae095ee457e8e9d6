#!/usr/bin/env python3
"""An OpenAI client for the serve tests, on the standard library only.

  serve_client.py gen PORT PATH JSON [KEY]
      One request; prints the answer normalised to one JSON line:
      {"status", "text", "finish", "usage", "timings", "error", "events",
       "done", "retry_after"}. A stream's text is its chunks joined; "done"
      says the stream ended with data: [DONE].
  serve_client.py many PORT CLIENTS JSONL
      Each line of the file JSONL is {"path", "body"}; CLIENTS threads send
      them all; prints one normalised answer a line, in the file's order.
  serve_client.py bench PORT CLIENTS MAX_TOKENS
      CLIENTS streamed chat requests at once (different prompts, greedy);
      prints the aggregate generated tokens per second over the wall time and
      the latency of each client's first token.
  serve_client.py hang PORT PATH JSON SECONDS
      Sends a request and closes the connection after SECONDS without
      reading the answer (a client that goes away).
"""
import http.client
import json
import sys
import threading
import time


def request(port, method, path, body=None, headers=None, timeout=120):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def parse_stream(data, out, chat):
    text, events, done = [], 0, False
    for block in data.decode("utf-8").split("\n\n"):
        if not block.strip():
            continue
        if not block.startswith("data: "):
            raise ValueError("not an event: %r" % block[:80])
        payload = block[6:]
        if done:
            raise ValueError("an event after [DONE]")
        if payload == "[DONE]":
            done = True
            continue
        obj = json.loads(payload)
        events += 1
        if "error" in obj:
            out["error"] = obj["error"]
            continue
        if obj.get("usage"):
            out["usage"] = obj["usage"]
        for ch in obj.get("choices", []):
            if chat:
                text.append(ch["delta"].get("content") or "")
            else:
                text.append(ch.get("text") or "")
            if ch.get("finish_reason"):
                out["finish"] = ch["finish_reason"]
                out["timings"] = obj.get("timings")
    out.update(text="".join(text), events=events, done=done)


def generate(port, path, body, key=None):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    status, hdrs, data = request(port, "POST", path, raw, headers)
    out = {"status": status, "retry_after": hdrs.get("retry-after")}
    if status != 200:
        out["error"] = json.loads(data).get("error")
        return out
    chat = "chat" in path
    if isinstance(body, dict) and body.get("stream"):
        parse_stream(data, out, chat)
        return out
    obj = json.loads(data)
    ch = obj["choices"][0]
    out.update(text=ch["message"]["content"] if chat else ch["text"],
               finish=ch["finish_reason"], usage=obj.get("usage"), timings=obj.get("timings"),
               object=obj.get("object"))
    return out


def many(port, clients, jobs):
    results = [None] * len(jobs)
    next_job = [0]
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                i = next_job[0]
                next_job[0] += 1
            if i >= len(jobs):
                return
            try:
                results[i] = generate(port, jobs[i]["path"], jobs[i]["body"])
            except Exception as e:  # reported, never raised: the test counts them
                results[i] = {"status": 0, "error": repr(e)}

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def hang(port, path, body, seconds):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    time.sleep(seconds)
    conn.sock.close()


def timed_stream(port, body, out):
    """Streams one chat request; out gets the time of the first text and the tokens."""
    t0 = time.time()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    first = None
    usage = None
    while True:
        line = r.readline()
        if not line:
            break
        line = line.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        obj = json.loads(line[6:])
        if obj.get("usage"):
            usage = obj["usage"]
        for ch in obj.get("choices", []):
            if first is None and ch.get("delta", {}).get("content"):
                first = time.time() - t0
    conn.close()
    out.update(first=first, tokens=usage["completion_tokens"] if usage else 0, end=time.time())


def bench(port, clients, max_tokens):
    results = [dict() for _ in range(clients)]
    threads = []
    t0 = time.time()
    for i in range(clients):
        # the run's time in the prompt: no run finds its prompt in a slot's cache
        topic = ["rivers", "stars", "cats", "ships", "trees", "clocks", "bread", "snow"][i % 8]
        body = {"messages": [{"role": "user", "content": "Run %.3f, client %d: tell me a story about %s." %
                              (t0, i, topic)}],
                "max_tokens": max_tokens, "temperature": 0, "stream": True,
                "stream_options": {"include_usage": True}}
        threads.append(threading.Thread(target=timed_stream, args=(port, body, results[i])))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = max(r["end"] for r in results) - t0
    tokens = sum(r["tokens"] for r in results)
    firsts = [r["first"] * 1000 for r in results if r["first"] is not None]
    print(json.dumps({"clients": clients, "tokens": tokens, "wall_s": round(wall, 2),
                      "aggregate_tps": round(tokens / wall, 2),
                      "first_token_ms_mean": round(sum(firsts) / len(firsts)) if firsts else None,
                      "first_token_ms_max": round(max(firsts)) if firsts else None}))


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "gen":
        key = sys.argv[5] if len(sys.argv) > 5 else None
        body = sys.argv[4]
        try:
            body = json.loads(body)
        except ValueError:
            pass  # sent as it is: the malformed-body checks
        print(json.dumps(generate(port, sys.argv[3], body, key)))
    elif cmd == "many":
        with open(sys.argv[4]) as f:
            jobs = [json.loads(line) for line in f if line.strip()]
        for r in many(port, int(sys.argv[3]), jobs):
            print(json.dumps(r))
    elif cmd == "bench":
        bench(port, int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "hang":
        hang(port, sys.argv[3], sys.argv[4], float(sys.argv[5]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
