#!/usr/bin/env python3
"""webhook_rx.py: a webhook receiver for tests.  Every POST it accepts is
appended to --record as one JSON line; while the file --fail exists it
answers 500 and records nothing, so a test can make it fail and recover."""
import argparse
import http.server
import json
import os

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--record", required=True)
ap.add_argument("--fail", required=True)
args = ap.parse_args()


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if os.path.exists(args.fail):
            self.send_response(500)
            self.end_headers()
            return
        try:
            doc = json.loads(body)
        except ValueError as e:
            doc = {"invalid": str(e), "raw": body.decode("latin-1")}
        doc["_content_type"] = self.headers.get("Content-Type")
        with open(args.record, "a") as f:
            f.write(json.dumps(doc, sort_keys=True) + "\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", args.port), H).serve_forever()
