#!/usr/bin/env python3
"""hostile_httpd.py: a well-behaved and a hostile HTTP(S) target for tests.

Raw sockets, so a path can break HTTP the way real targets do:
  /ok             200 "hello itsmd ok" (keep-alive; also any path not below)
  /status/NNN     answers NNN
  /header         200 with X-Itsmd: probe-42
  /echo           200, body "METHOD BODY AUTHORIZATION" of the request
  /peer           200, body "peer ADDRESS": the client's address, as seen here
  /slow-drip      200 headers, then one body byte a second, never ending
  /endless        200 chunked, an endless body as fast as it can be read
  /huge           200 with a 64 MiB Content-Length body
  /redirect-loop  302 to itself, forever
  /reset          closes with a TCP reset before answering
  /garbage        bytes that are not HTTP, then close
  /hang           accepts, reads the request, never answers
With --banner TEXT every connection is greeted with TEXT first (a TCP
banner, for the tcp probe's expect).  With --cert/--key it speaks TLS (the handshake runs in the request's
thread, so a client that never finishes one holds up nobody).
"""
import argparse
import os
import socket
import socketserver
import ssl
import struct
import sys
import time

HANG_S = 3600


def send(conn, data):
    try:
        conn.sendall(data)
        return True
    except OSError:
        return False


def response(status, body, extra=b"", close=False):
    head = b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n" % (
        status, len(body))
    if close:
        head += b"Connection: close\r\n"
    return head + extra + b"\r\n" + body


class Handler(socketserver.BaseRequestHandler):
    def read_request(self, buf):
        """One request: (method, path, headers dict, body, rest) or None."""
        while b"\r\n\r\n" not in buf:
            try:
                d = self.request.recv(65536)
            except OSError:
                return None
            if not d:
                return None
            buf += d
            if len(buf) > 1 << 20:
                return None
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, path, _ = lines[0].split(" ", 2)
        except ValueError:
            return None
        hdrs = {}
        for l in lines[1:]:
            if ":" in l:
                k, v = l.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0") or 0)
        while len(rest) < n:
            try:
                d = self.request.recv(65536)
            except OSError:
                return None
            if not d:
                return None
            rest += d
        return method, path, hdrs, rest[:n], rest[n:]

    def handle(self):
        buf = b""
        if self.server.ctx is not None:
            self.request.settimeout(10)
            try:
                self.request = self.server.ctx.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # the client refused our certificate: the test's point
            self.request.settimeout(None)
        if self.server.banner:
            send(self.request, self.server.banner.encode() + b"\r\n")
        while True:
            req = self.read_request(buf)
            if req is None:
                return
            method, path, hdrs, body, buf = req
            path = path.split("?", 1)[0]
            if not self.answer(method, path, hdrs, body):
                return

    def answer(self, method, path, hdrs, body):
        c = self.request
        if path == "/slow-drip":
            send(c, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            for _ in range(HANG_S):
                if not send(c, b"x"):
                    break
                time.sleep(1)
            return False
        if path == "/endless":
            send(c, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n%s\r\n" % (65536, b"y" * 65536)
            deadline = time.time() + 120
            while time.time() < deadline and send(c, chunk):
                pass
            return False
        if path == "/huge":
            n = 64 << 20
            send(c, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
            block = b"z" * 65536
            while n > 0 and send(c, block):
                n -= len(block)
            return False
        if path == "/redirect-loop":
            return send(c, response(302, b"", b"Location: /redirect-loop\r\n"))
        if path == "/reset":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if path == "/garbage":
            send(c, b"\x00\xffSSH-2.0-not-http\r\n\x07garbage garbage\r\n" * 4)
            return False
        if path == "/hang":
            time.sleep(HANG_S)
            return False
        if path.startswith("/status/"):
            try:
                st = int(path[8:])
            except ValueError:
                st = 400
            return send(c, response(st, b"status %d\n" % st))
        if path == "/header":
            return send(c, response(200, b"header\n", b"X-Itsmd: probe-42\r\n"))
        if path == "/peer":
            return send(c, response(200, b"peer %s\n" % self.client_address[0].encode()))
        if path == "/echo":
            out = b"%s %s %s" % (method.encode(), body,
                                 hdrs.get("authorization", "-").encode())
            return send(c, response(200, out))
        return send(c, response(200, b"hello itsmd ok\n"))

    def finish(self):
        try:
            self.request.close()
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--banner")
    a = ap.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.ctx = None
    srv.banner = a.banner
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.ctx = ctx
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
