#!/usr/bin/env python3
"""A real webhook receiver for oxftp's hook tests.

Listens on 127.0.0.1 (the given port, or a free one), checks each POST's
X-Oxftp-Signature (sha256=HMAC-SHA256(secret, body)) and appends one JSON line
per accepted event to --out: {"id": ..., "header_id": ..., "body": {...}}.
A bad or missing signature gets 401 and is not recorded. Prints nothing; the
chosen port goes to --port-file once the socket is listening.
"""
import argparse
import hashlib
import hmac
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--secret", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--port-file", required=True)
args = parser.parse_args()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        expected = "sha256=" + hmac.new(args.secret.encode(), body, hashlib.sha256).hexdigest()
        given = self.headers.get("X-Oxftp-Signature", "")
        if not hmac.compare_digest(expected, given):
            self.send_response(401)
            self.end_headers()
            return
        event = json.loads(body)
        line = json.dumps({"id": event["id"], "header_id": self.headers.get("X-Oxftp-Event-Id"), "body": event})
        with lock, open(args.out, "a") as f:
            f.write(line + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
tmp = args.port_file + ".tmp"
with open(tmp, "w") as f:
    f.write(str(server.server_address[1]))
os.rename(tmp, args.port_file)
server.serve_forever()
