#!/usr/bin/env python3
"""proxy.py: a tiny HTTP forward proxy for tests (absolute-form requests and CONNECT).

Every request line it gets is appended to --log (one line: METHOD TARGET), so
a test can tell a probe went through it.  A forwarded request is sent on a
new connection, and its answer (Content-Length framed) relayed as the last
on the client's connection;
CONNECT opens a tunnel (TLS passes through untouched).  Targets must be on
127.0.0.0/8: anything else is refused with 403.
"""
import argparse
import select
import socket
import socketserver
import sys
import threading
import urllib.parse

LOCK = threading.Lock()


def loopback(host):
    try:
        return socket.gethostbyname(host).startswith("127.")
    except OSError:
        return False


class Handler(socketserver.BaseRequestHandler):
    def note(self, line):
        with LOCK, open(self.server.log, "a") as f:
            f.write(line + "\n")

    def relay(self, a, b):
        socks = [a, b]
        while True:
            r, _, _ = select.select(socks, [], [], 30)
            if not r:
                return
            for s in r:
                try:
                    d = s.recv(65536)
                except OSError:
                    return
                if not d:
                    return
                try:
                    (b if s is a else a).sendall(d)
                except OSError:
                    return

    def handle(self):
        c = self.request
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                return
            buf += d
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            return
        self.note("%s %s" % (method, target))
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            if not loopback(host):
                c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            up = socket.create_connection((host, int(port)), timeout=10)
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                up.sendall(rest)
            self.relay(c, up)
            up.close()
            return
        u = urllib.parse.urlsplit(target)
        if u.scheme != "http" or not u.hostname or not loopback(u.hostname):
            c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        path = (u.path or "/") + ("?" + u.query if u.query else "")
        keep = [l for l in lines[1:] if not l.lower().startswith(("proxy-", "connection:"))]
        req = "\r\n".join(["%s %s %s" % (method, path, version)] + keep +
                          ["Connection: close", "", ""]).encode("latin-1") + rest
        up = socket.create_connection((u.hostname, u.port or 80), timeout=10)
        up.sendall(req)
        c.sendall(self.answer(up))
        up.close()

    def answer(self, up):
        """The upstream response, told to the client as its connection's last."""
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = up.recv(65536)
            if not d:
                return buf
            buf += d
        head, body = buf.split(b"\r\n\r\n", 1)
        n = 0
        for l in head.split(b"\r\n")[1:]:
            k, _, v = l.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v.strip())
        while len(body) < n:
            d = up.recv(65536)
            if not d:
                break
            body += d
        return head + b"\r\nConnection: close\r\n\r\n" + body[:n]


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.log = a.log
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
