#!/usr/bin/env python3
"""A stand-in OpenAI-compatible server for lmterm's remote backend tests.

Listens on 127.0.0.1 (port 0: a free one, written to --port-file), answers
GET /v1/models and POST /v1/chat/completions, streamed (server-sent events in
chunked encoding, split at awkward places: inside CRLF, inside UTF-8
characters) or not. The reply is a function of the messages alone, so a
streamed answer and a plain one can be compared. The model id picks a
behaviour, to script every failure a client must survive:

  stub-echo       a short reply ("You said: ...", with é and 😀)
  stub-long       400 pieces, 30 ms apart (for stopping)
  stub-usage      as echo, then usage and llama.cpp timings
  err-429 / err-500 / err-503   that status with an OpenAI error body
  cut             a few pieces, then the connection drops mid-chunk
  malformed       a few pieces, then data that is not JSON
  huge            an endless event (the client must give up at 16 MiB)
  hang            headers, one piece, then silence (idle timeout)
  nodone          pieces and a clean end of body, but no finish or [DONE]
  anything else   404 model not found

--key KEY requires "Authorization: Bearer KEY" (401 otherwise); --log FILE
appends each request body and whether an Authorization header came;
--tls CERT KEY serves HTTPS.
"""
import argparse
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODELS = ["stub-echo", "stub-long", "stub-usage"]
FAULTS = ["err-429", "err-500", "err-503", "cut", "malformed", "huge", "hang", "nodone"]


def reply_text(messages):
    last = ""
    for m in messages:
        if m.get("role") == "user":
            last = m.get("content", "")
    n = sum(1 for m in messages if m.get("role") == "user")
    return "You said: %s (turn %d) é😀 done." % (last, n)


def pieces(text, size=5):
    """Splits text into pieces of about size characters."""
    return [text[i:i + size] for i in range(0, len(text), size)]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    # ---- helpers ----
    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, message, kind="invalid_request_error"):
        self.send_json(status, {"error": {"message": message, "type": kind}})

    def raw(self, data):
        """Writes bytes, flushed, in small slices: the client sees splits."""
        for i in range(0, len(data), 7):
            self.wfile.write(data[i:i + 7])
            self.wfile.flush()

    def chunk(self, data):
        self.raw(b"%x\r\n" % len(data) + data + b"\r\n")

    def event(self, obj, crlf=False):
        end = b"\r\n\r\n" if crlf else b"\n\n"
        self.chunk(b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + end)

    def authorized(self):
        got = self.headers.get("Authorization")
        if self.server.log:
            with open(self.server.log, "a") as f:
                f.write(json.dumps({"path": self.path, "auth": bool(got),
                                    "auth_ok": got == "Bearer %s" % self.server.key}) + "\n")
        if self.server.key and got != "Bearer %s" % self.server.key:
            self.error(401, "Invalid API key", "authentication_error")
            return False
        return True

    # ---- endpoints ----
    def do_GET(self):
        if not self.authorized():
            return
        if self.path.rstrip("/") == "/v1/models":
            self.send_json(200, {"object": "list",
                                 "data": [{"id": m, "object": "model", "owned_by": "stub"}
                                          for m in MODELS + FAULTS]})
        else:
            self.error(404, "no such path")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if not self.authorized():
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self.error(404, "no such path")
        if self.server.log:
            with open(self.server.log, "a") as f:
                f.write(body.decode() + "\n")
        try:
            req = json.loads(body)
        except ValueError:
            return self.error(400, "bad JSON")
        model = req.get("model", "")
        text = reply_text(req.get("messages", []))
        if model.startswith("err-"):
            status = int(model[4:])
            return self.error(status, "stub says %d: slow down" % status if status == 429
                              else "stub says %d: the server broke" % status, "server_error")
        if model not in MODELS + FAULTS:
            return self.error(404, "model '%s' not found" % model, "not_found_error")
        if not req.get("stream"):
            return self.send_json(200, {
                "id": "cmpl-1", "object": "chat.completion", "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": len(pieces(text)),
                          "total_tokens": 11 + len(pieces(text))}})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.stream(model, text)

    def delta(self, content, finish=None):
        return {"id": "cmpl-1", "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": content} if content is not None
                             else {}, "finish_reason": finish}]}

    def stream(self, model, text):
        self.chunk(b": a comment line, as servers send to keep a stream open\n\n")
        self.event({"choices": [{"index": 0, "delta": {"role": "assistant"},
                                 "finish_reason": None}]})
        if model == "stub-long":
            for i in range(400):
                self.event(self.delta("w%d " % i))
                time.sleep(0.03)
        elif model == "huge":
            self.chunk(b"data: {\"x\": \"")
            block = b"x" * (1 << 20)
            for _ in range(40):
                self.chunk(block)
            return
        else:
            for i, p in enumerate(pieces(text)):
                self.event(self.delta(p), crlf=i % 2 == 1)
                if model in ("cut", "malformed", "hang") and i == 2:
                    break
            if model == "cut":
                self.raw(b"40\r\ndata: {\"choi")  # a chunk that never ends
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if model == "malformed":
                self.event(b"{\"choices\": [tru")
                time.sleep(0.2)
                self.raw(b"0\r\n\r\n")
                return
            if model == "hang":
                time.sleep(30)
                return
            if model == "nodone":
                self.raw(b"0\r\n\r\n")
                return
        self.event(self.delta(None, "stop"))
        if model == "stub-usage":
            self.event({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 9},
                        "timings": {"prompt_n": 11, "prompt_per_second": 123.5,
                                    "predicted_n": 9, "predicted_per_second": 45.25}})
        self.event(b"[DONE]")
        self.raw(b"0\r\n\r\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--key")
    ap.add_argument("--log")
    ap.add_argument("--lifetime", type=float, default=120, help="seconds before it exits")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS with this pair")
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if a.tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.daemon_threads = True
    srv.handle_error = lambda request, address: None  # a client hanging up is a test case
    srv.key, srv.log = a.key, a.log
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    threading.Timer(a.lifetime, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
