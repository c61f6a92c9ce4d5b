#!/usr/bin/python3
"""standin.py -- a stand-in for synguard(8) that only checks the harness.

	standin.py [-ft] [-c FILE]

tests/systemd/run.sh --standin installs this as /usr/sbin/synguard in the
test container, to prove the container, the unit's sandbox and the
harness's steps work before the daemon itself speaks sd_notify. It is NOT a
model of synguard's data path: the kernel answers the handshakes here.

What it does is what the unit must allow synguard to do:
  - open an AF_PACKET socket, an IPPROTO_RAW socket, set TCP_REPAIR and
    SO_RCVBUFFORCE (CAP_NET_RAW, CAP_NET_ADMIN as ambient capabilities);
  - read /proc/sys/net/core/rmem_max and net.ipv4.tcp_rmem;
  - accept TCP on 127.0.0.1:8080 and [::1]:8080 and hand every connection
    to the backend with the sg_handoff header and SCM_RIGHTS;
  - speak sd_notify: READY=1, STATUS=, WATCHDOG=1 at half WATCHDOG_USEC,
    RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM;
  - answer "stats" and "reload" on the control socket (mode 0660).
"""
import os
import selectors
import signal
import socket
import struct
import sys
import time

LISTEN = [("127.0.0.1", 8080), ("::1", 8080)]
BACKEND = "/run/synguard-app/app.sock"
CONTROL = "/run/synguard/control.sock"
TCP_REPAIR = 19
SO_RCVBUFFORCE = 33
HANDOFF_MAGIC = 0x31484753
HANDOFF = struct.Struct("=IHHBBHHH16s16sHHBB2sIIQ")


def log(msg):
    print("synguard-standin: " + msg, file=sys.stderr, flush=True)


def notify(msg):
    """Send one sd_notify message; nothing if NOTIFY_SOCKET is unset."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    if path.startswith("@"):
        path = "\0" + path[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.sendto(msg.encode(), path)
    finally:
        s.close()


def privileges():
    """Everything the real daemon needs its two capabilities for."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 1 << 22)
    s.close()
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW).close()
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
    t.close()
    for f in ("/proc/sys/net/core/rmem_max", "/proc/sys/net/ipv4/tcp_rmem"):
        with open(f) as fh:
            fh.read()


def handoff(conn, seq):
    """Pass an accepted TCP connection to the backend, as synguard does."""
    fam = conn.family
    peer, local = conn.getpeername(), conn.getsockname()
    pa = socket.inet_pton(fam, peer[0]).ljust(16, b"\0")
    la = socket.inet_pton(fam, local[0]).ljust(16, b"\0")
    hdr = HANDOFF.pack(HANDOFF_MAGIC, 1, HANDOFF.size, fam, 0, 0, peer[1],
                       local[1], pa, la, 536, 1460, 0, 0, b"\0\0", 0, 0, seq)
    b = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        b.connect(BACKEND)
        socket.send_fds(b, [hdr], [conn.fileno()])
    finally:
        b.close()
        conn.close()


def control(c, stats):
    """One control request, one answer, as synguardctl expects."""
    req = c.recv(256).decode(errors="replace").strip()
    if req in ("stats", "stats prometheus"):
        ans = "ok\nhandoff %20d\n" % stats["handed"]
    elif req == "reload":
        os.kill(os.getpid(), signal.SIGHUP)
        ans = "ok\n"
    else:
        ans = "error: unknown command (try help)\n"
    c.sendall(ans.encode())
    c.close()


def serve():
    privileges()
    sel = selectors.DefaultSelector()
    for addr, port in LISTEN:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(64)
        sel.register(s, selectors.EVENT_READ, "tcp")
    try:
        os.unlink(CONTROL)
    except FileNotFoundError:
        pass
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o117)
    ctl.bind(CONTROL)
    os.umask(old)
    ctl.listen(8)
    sel.register(ctl, selectors.EVENT_READ, "ctl")

    flags = {"hup": False, "term": False}
    signal.signal(signal.SIGHUP, lambda *_: flags.__setitem__("hup", True))
    signal.signal(signal.SIGTERM, lambda *_: flags.__setitem__("term", True))
    wd = int(os.environ.get("WATCHDOG_USEC", "0")) / 2e6
    next_ping = time.monotonic() + wd if wd else None
    stats = {"handed": 0}
    status = "stand-in: listening on 127.0.0.1:8080 [::1]:8080"
    notify("READY=1\nSTATUS=" + status)
    log("started")
    while not flags["term"]:
        for key, _ in sel.select(timeout=0.5):
            c, _ = key.fileobj.accept()
            if key.data == "ctl":
                control(c, stats)
            else:
                stats["handed"] += 1
                handoff(c, stats["handed"])
        if flags["hup"]:
            flags["hup"] = False
            now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
            notify("RELOADING=1\nMONOTONIC_USEC=%d" % now)
            log("reloading")
            notify("READY=1\nSTATUS=" + status + " (reloaded)")
        if next_ping and time.monotonic() >= next_ping:
            notify("WATCHDOG=1")
            next_ping = time.monotonic() + wd
    notify("STOPPING=1")
    log("stopped")


def main():
    args = sys.argv[1:]
    conf = "/etc/synguard.conf"
    if "-c" in args:
        conf = args[args.index("-c") + 1]
    with open(conf):
        pass
    if "-t" in args:
        log("configuration file %s test is successful" % conf)
        return 0
    serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
