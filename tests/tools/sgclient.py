#!/usr/bin/env python3
"""A test client and a plain kernel echo server, for the shell tests.

  sgclient.py echo HOST PORT [-n COUNT] [-c CONCURRENCY] [-s SIZE]
                   [--third-segment] [--timeout SEC] [--json]
      COUNT connections, CONCURRENCY at a time; each sends SIZE random
      bytes and reads them back. --third-segment makes the data ride on the
      handshake's third segment (TCP_QUICKACK off before connect, so the
      kernel delays the ACK and piggybacks it on the first write).
      Prints "ok N fail M p50_ms X p99_ms Y retrans R" (R: segments the
      clients sent again, TCP_INFO's total_retrans); exit 0 iff every one
      worked.
  sgclient.py hold HOST PORT READYFILE
      One connection that echoes a byte, then writes READYFILE with its
      local port and the options TCP_INFO shows, and holds the connection
      for 60 s (or until killed).
  sgclient.py serve HOST PORT
      A plain kernel echo server, the baseline to compare with.
"""
import argparse
import os
import socket
import struct
import sys
import threading
import time


# Sent in one go before reading back: always fits in the socket buffers.
SMALL = 65536


def one(host, port, size, third, timeout):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    phase = "connecting"
    try:
        if third:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
        t0 = time.monotonic()
        s.connect((host, port))
        t1 = time.monotonic()
        phase = "exchanging data"
        data = os.urandom(size)
        # More than the socket buffers hold is sent while the echo is read
        # back, or both sides would wait for each other.
        err, th = [], None
        if size > SMALL:
            def send():
                try:
                    s.sendall(data)
                except OSError as e:
                    err.append(e)
            th = threading.Thread(target=send)
            th.start()
        else:
            s.sendall(data)
        got = bytearray()
        while len(got) < size:
            chunk = s.recv(min(size - len(got), 1 << 20))
            if not chunk:
                break
            got += chunk
        if th is not None:
            th.join()
            if err:
                raise err[0]
        if got != data:
            print("port %d: got %d of %d bytes back" % (s.getsockname()[1], len(got), size), file=sys.stderr)
        # tcpi_total_retrans: segments this side had to send again.
        info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        retrans = struct.unpack_from("I", info, 100)[0]
        return got == data, (t1 - t0) * 1000.0, retrans
    except OSError as e:
        try:
            lport = s.getsockname()[1]
        except OSError:
            lport = 0
        print("connection to %s port %d from port %d, %s: %s" % (
            host, port, lport, phase, e), file=sys.stderr)
        return False, None, 0
    finally:
        s.close()


def cmd_echo(a):
    lat, ok, fail, retrans = [], [0], [0], [0]
    lock = threading.Lock()
    todo = list(range(a.n))

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                todo.pop()
            good, ms, rt = one(a.host, a.port, a.s, a.third_segment, a.timeout)
            with lock:
                retrans[0] += rt
                if good:
                    ok[0] += 1
                    lat.append(ms)
                else:
                    fail[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(a.c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p))] if lat else -1.0

    print("ok %d fail %d p50_ms %.3f p99_ms %.3f retrans %d" % (
        ok[0], fail[0], pct(0.5), pct(0.99), retrans[0]))
    return 0 if fail[0] == 0 and ok[0] == a.n else 1


def cmd_hold(a):
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect((a.host, a.port))
    s.sendall(b"x")
    if s.recv(1) != b"x":
        return 1
    # TCP_INFO as the kernel reports it to the client: tcpi_options (ts,
    # sack, wscale bits), the shifts, tcpi_snd_mss.
    i = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    opts = i[5]
    info = "tcpinfo:%s%s%s snd_wscale:%d rcv_wscale:%d snd_mss:%d" % (
        "ts," if opts & 1 else "", "sack," if opts & 2 else "",
        "wscale" if opts & 4 else "", i[6] & 0xF, i[6] >> 4,
        int.from_bytes(i[16:20], "little"))
    with open(a.ready + ".tmp", "w") as f:
        f.write("%d %s\n" % (s.getsockname()[1], info))
    os.rename(a.ready + ".tmp", a.ready)
    time.sleep(60)
    s.close()
    return 0


def cmd_serve(a):
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.host, a.port))
    ls.listen(128)

    def echo(c):
        with c:
            while True:
                d = c.recv(65536)
                if not d:
                    return
                c.sendall(d)

    while True:
        c, _ = ls.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("echo")
    e.add_argument("host")
    e.add_argument("port", type=int)
    e.add_argument("-n", type=int, default=1)
    e.add_argument("-c", type=int, default=1)
    e.add_argument("-s", type=int, default=100)
    e.add_argument("--third-segment", action="store_true")
    e.add_argument("--timeout", type=float, default=10.0)
    h = sub.add_parser("hold")
    h.add_argument("host")
    h.add_argument("port", type=int)
    h.add_argument("ready")
    s = sub.add_parser("serve")
    s.add_argument("host")
    s.add_argument("port", type=int)
    a = p.parse_args()
    return {"echo": cmd_echo, "hold": cmd_hold, "serve": cmd_serve}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
