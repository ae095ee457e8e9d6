#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub (and a few plain HTTP routes) for
lmterm's tests. Standard library only; listens on 127.0.0.1.

  hub_server.py --port-file F [--repo ORG/NAME=FILE[,FILE...]]... [--mode M]...
                [--token T] [--rate BYTES_PER_S] [--log F] [--rev R]...

Hub routes (as huggingface_hub uses them):
  GET  /api/models/ORG/NAME/tree/REV      the files: type, path, size, oid, lfs {oid, size}
  GET|HEAD /ORG/NAME/resolve/REV/FILE     the file, Range, ETag, X-Linked-Etag/-Size
Modes:
  redirect  resolve answers 302 to /cdn/... on "localhost" (another host name,
            so credentials must not follow)
  drop40    the first full GET of each file stops at 40 % and closes
  corrupt   one byte in the middle of every file body is flipped
  gated     resolve and tree need "Authorization: Bearer T" (--token), else 401
Plain routes for the HTTP client's tests:
  /echo              JSON: method, path, headers, body
  /status/N          answers status N
  /redirect?to=URL   302 to URL
  /stall             sends 5 bytes, then nothing for 60 s
  /bytes/N           N bytes of 'x'
  /sse               three server-sent events, 100 ms apart
Every request is logged to --log as one line: METHOD PATH range=R auth=yes|no
"""
import argparse
import hashlib
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, args):
        self.repos = {}  # "org/name" -> {basename: (path, size, sha256)}
        for spec in args.repo:
            name, _, files = spec.partition("=")
            entries = {}
            for f in filter(None, files.split(",")):
                h = hashlib.sha256()
                with open(f, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
                entries[os.path.basename(f)] = (f, os.path.getsize(f), h.hexdigest())
            self.repos[name] = entries
        self.modes = set(args.mode)
        self.token = args.token
        self.rate = args.rate
        self.revs = set(["main"] + args.rev)
        self.dropped = set()
        self.lock = threading.Lock()
        self.log = open(args.log, "a", buffering=1) if args.log else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hubstub/1"

    def log_message(self, fmt, *args):
        pass

    @property
    def st(self):
        return self.server.state

    def note(self):
        if self.st.log:
            rng = self.headers.get("Range", "-")
            auth = "yes" if self.headers.get("Authorization") else "no"
            self.st.log.write(f"{self.command} {self.path} range={rng} auth={auth}\n")

    def send_simple(self, code, body=b"", ctype="text/plain", extra=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def do_HEAD(self):
        self.handle_any()

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def handle_any(self):
        self.note()
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        if path == "/echo":
            return self.echo()
        if path.startswith("/status/"):
            code = int(path[8:])
            return self.send_simple(code, json.dumps({"error": f"status {code}"}),
                                    "application/json")
        if path == "/redirect":
            to = urllib.parse.parse_qs(url.query).get("to", ["/echo"])[0]
            return self.send_simple(302, "", extra={"Location": to})
        if path == "/stall":
            return self.stall()
        if path.startswith("/bytes/"):
            return self.send_simple(200, b"x" * int(path[7:]), "application/octet-stream")
        if path == "/sse":
            return self.sse()
        if path.startswith("/api/models/"):
            return self.tree(path[len("/api/models/"):])
        if path.startswith("/cdn/"):
            return self.resolve(path[len("/cdn/"):], cdn=True)
        return self.resolve(path.lstrip("/"), cdn=False)

    def echo(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
        out = {"method": self.command, "path": self.path,
               "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        self.send_simple(200, json.dumps(out), "application/json", {"ETag": '"echo-1"'})

    def stall(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            self.wfile.write(b"hello")
            self.wfile.flush()
            time.sleep(60)
        except OSError:
            pass
        self.close_connection = True

    def sse(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for i in range(3):
            self.wfile.write(f"data: {{\"n\": {i}}}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.1)
        self.wfile.write(b"data: [DONE]\n\n")
        self.close_connection = True

    def authorized(self):
        if "gated" not in self.st.modes:
            return True
        return self.headers.get("Authorization") == f"Bearer {self.st.token}"

    def gated(self):
        self.send_simple(401, json.dumps({"error": "Access to model is restricted. You must "
                                          "have access to it and be authenticated."}),
                         "application/json", {"X-Error-Code": "GatedRepo"})

    def tree(self, rest):
        # ORG/NAME/tree/REV[/PATH]
        parts = rest.split("/")
        if len(parts) < 4 or parts[2] != "tree":
            return self.send_simple(404, json.dumps({"error": "not found"}), "application/json")
        repo, rev = parts[0] + "/" + parts[1], parts[3]
        if repo not in self.st.repos:
            return self.send_simple(404, json.dumps({"error": "Repository not found"}),
                                    "application/json", {"X-Error-Code": "RepoNotFound"})
        if not self.authorized():
            return self.gated()
        if rev not in self.st.revs:
            return self.send_simple(404, json.dumps({"error": f"Invalid rev id: {rev}"}),
                                    "application/json", {"X-Error-Code": "RevisionNotFound"})
        items = [{"type": "file", "oid": hashlib.sha1(name.encode()).hexdigest(),
                  "size": size, "path": name,
                  "lfs": {"oid": sha, "size": size, "pointerSize": 134}}
                 for name, (_, size, sha) in sorted(self.st.repos[repo].items())]
        items.append({"type": "file", "oid": "0" * 40, "size": 12, "path": "README.md"})
        self.send_simple(200, json.dumps(items), "application/json")

    def resolve(self, rest, cdn):
        # ORG/NAME/resolve/REV/FILE
        parts = rest.split("/", 4)
        if len(parts) < 5 or parts[2] != "resolve":
            return self.send_simple(404, "not found")
        repo, rev, name = parts[0] + "/" + parts[1], parts[3], parts[4]
        if repo not in self.st.repos:
            return self.send_simple(404, "Repository not found", extra={"X-Error-Code": "RepoNotFound"})
        if not cdn and not self.authorized():
            return self.gated()
        if rev not in self.st.revs:
            return self.send_simple(404, "Revision not found",
                                    extra={"X-Error-Code": "RevisionNotFound"})
        entry = self.st.repos[repo].get(name)
        if not entry:
            return self.send_simple(404, "Entry not found", extra={"X-Error-Code": "EntryNotFound"})
        fpath, size, sha = entry
        if "redirect" in self.st.modes and not cdn:
            port = self.server.server_address[1]
            loc = f"http://localhost:{port}/cdn/{repo}/resolve/{rev}/{urllib.parse.quote(name)}"
            return self.send_simple(302, "", extra={"Location": loc, "X-Linked-Etag": f'"{sha}"',
                                                     "X-Linked-Size": str(size),
                                                     "ETag": '"git-oid"'})
        self.send_file(fpath, size, sha)

    def send_file(self, fpath, size, sha):
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= size:
                return self.send_simple(416, "", extra={"Content-Range": f"bytes */{size}"})
        length = size - start
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{sha}"')
        self.send_header("X-Linked-Etag", f'"{sha}"')
        self.send_header("X-Linked-Size", str(size))
        self.send_header("Connection", "close")
        if start:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        self.close_connection = True
        if self.command == "HEAD":
            return
        stop = size
        with self.st.lock:
            if "drop40" in self.st.modes and start == 0 and fpath not in self.st.dropped:
                self.st.dropped.add(fpath)
                stop = size * 40 // 100
        corrupt_at = size // 2 if "corrupt" in self.st.modes else -1
        pos = start
        t0 = time.monotonic()
        try:
            with open(fpath, "rb") as fh:
                fh.seek(start)
                while pos < stop:
                    chunk = fh.read(min(65536, stop - pos))
                    if not chunk:
                        break
                    if pos <= corrupt_at < pos + len(chunk):
                        b = bytearray(chunk)
                        b[corrupt_at - pos] ^= 0x5A
                        chunk = bytes(b)
                    self.wfile.write(chunk)
                    pos += len(chunk)
                    if self.st.rate:
                        ahead = (pos - start) / self.st.rate - (time.monotonic() - t0)
                        if ahead > 0:
                            time.sleep(ahead)
            self.wfile.flush()
            if stop < size:  # the drop: close without sending the rest
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--repo", action="append", default=[])
    ap.add_argument("--mode", action="append", default=[])
    ap.add_argument("--token", default="")
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--rev", action="append", default=[])
    ap.add_argument("--log")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
