#!/usr/bin/env python3
# snmp_agent.py: a tiny scripted SNMPv2c agent for tests, on 127.0.0.1 only.
#
#   snmp_agent.py PORT LOG [--max-varbinds N] [--drop] [--delay SECONDS]
#
# Answers GET for any OID under .1.3.6.1.4.1.99999 with Gauge32 = 10 x the
# last sub-identifier (noSuchObject elsewhere).  --max-varbinds N: a GET of
# more than N varbinds gets tooBig (RFC 3416 4.2.1: error-status tooBig,
# error-index 0, no varbinds), as an agent with a small maximum message
# size does.  --drop: answer nothing (a silent host that still counts).
# --delay S: answer each request S seconds after it came (a slow agent; the
# requests it holds are the ones a poller has out).
# Every request appends "TIME SRCPORT NVARBINDS" to LOG, so a test can see
# what reached the agent and when.
import heapq
import select
import socket
import sys
import time

BASE = bytes([0x2b, 6, 1, 4, 1]) + bytes([0x86, 0x8d, 0x1f])	# 1.3.6.1.4.1.99999


def tlv(b, i):
    tag = b[i]
    n = b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7f
        n = int.from_bytes(b[i:i + k], "big")
        i += k
    return tag, b[i:i + n], i + n


def enc(tag, payload):
    n = len(payload)
    if n < 0x80:
        return bytes([tag, n]) + payload
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(ln)]) + ln + payload


def enc_int(tag, v):
    return enc(tag, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def dec_int(b):
    return int.from_bytes(b, "big", signed=True)


def last_arc(oid):
    v = 0
    for c in oid:
        v = (v << 7) | (c & 0x7f)
        if not c & 0x80:
            last, v = v, 0
    return last


def answer(pkt, maxvb):
    _, msg, _ = tlv(pkt, 0)
    _, ver, i = tlv(msg, 0)
    _, comm, i = tlv(msg, i)
    ptag, pdu, _ = tlv(msg, i)
    _, reqid, j = tlv(pdu, 0)
    _, _, j = tlv(pdu, j)
    _, _, j = tlv(pdu, j)
    _, vbl, _ = tlv(pdu, j)
    oids, k = [], 0
    while k < len(vbl):
        _, vb, k = tlv(vbl, k)
        _, oid, _ = tlv(vb, 0)
        oids.append(oid)
    if ptag != 0xa0:
        return len(oids), None
    if maxvb and len(oids) > maxvb:
        err, vbs = 1, b""
    else:
        err, vbs = 0, b""
        for oid in oids:
            if oid.startswith(BASE) and len(oid) > len(BASE):
                val = enc_int(0x42, 10 * last_arc(oid))
            else:
                val = bytes([0x80, 0])		# noSuchObject
            vbs += enc(0x30, enc(0x06, oid) + val)
    body = enc(0x02, reqid) + enc_int(0x02, err) + enc_int(0x02, 0) + enc(0x30, vbs)
    return len(oids), enc(0x30, enc(0x02, ver) + enc(0x04, comm) + enc(0xa2, body))


def main():
    port, logpath = int(sys.argv[1]), sys.argv[2]
    maxvb = int(sys.argv[sys.argv.index("--max-varbinds") + 1]) \
        if "--max-varbinds" in sys.argv else 0
    drop = "--drop" in sys.argv
    delay = float(sys.argv[sys.argv.index("--delay") + 1]) if "--delay" in sys.argv else 0
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    log = open(logpath, "a", buffering=1)
    due, seq = [], 0
    while True:
        wait = max(0, due[0][0] - time.monotonic()) if due else None
        if select.select([s], [], [], wait)[0]:
            pkt, peer = s.recvfrom(65535)
            try:
                n, reply = answer(pkt, maxvb)
            except (IndexError, ValueError, UnboundLocalError):
                n, reply = -1, None
            log.write(f"{time.time():.3f} {peer[1]} {n}\n")
            if reply is not None and not drop:
                seq += 1
                heapq.heappush(due, (time.monotonic() + delay, seq, reply, peer))
        while due and due[0][0] <= time.monotonic():
            _, _, reply, peer = heapq.heappop(due)
            s.sendto(reply, peer)


main()
