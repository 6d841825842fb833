#!/usr/bin/env python3
"""httpd.py: the HTTP target of integration tests and the demo.

GET/HEAD /            status from DIR/status (default 200) after DIR/delay s
GET/HEAD /status/NNN  answers NNN
GET/HEAD /slow/SECS   answers 200 after SECS seconds
Files are read on every request, so a test changes behaviour by writing them.
"""
import argparse
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def read_file(path, default, conv):
    try:
        with open(path) as f:
            return conv(f.read().strip())
    except (OSError, ValueError):
        return default


class Handler(BaseHTTPRequestHandler):
    server_version = "itsmd-test-httpd/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass  # quiet: tests read their own assertions, not an access log

    def answer(self, with_body):
        path = self.path.split("?", 1)[0]
        status, delay = 200, 0.0
        if path == "/":
            status = read_file(os.path.join(self.server.dir, "status"), 200, int)
            delay = read_file(os.path.join(self.server.dir, "delay"), 0.0, float)
        elif path.startswith("/status/"):
            try:
                status = int(path[len("/status/"):])
            except ValueError:
                status = 400
        elif path.startswith("/slow/"):
            try:
                delay = float(path[len("/slow/"):])
            except ValueError:
                status = 400
        else:
            status = 404
        if not 100 <= status <= 999:
            status = 500
        if delay > 0:
            time.sleep(min(delay, 3600))
        body = ("itsmd test httpd: %s -> %d\n" % (path, status)).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to tell

    def do_GET(self):
        self.answer(True)

    def do_HEAD(self):
        self.answer(False)


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a sleeping /slow request must not hold up exit


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True, help="directory with status/delay files")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    try:
        srv = Server(("127.0.0.1", a.port), Handler)
    except OSError as e:
        print("httpd.py: cannot listen on 127.0.0.1:%d: %s" % (a.port, e.strerror),
              file=sys.stderr)
        return 1
    srv.dir = a.dir
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
