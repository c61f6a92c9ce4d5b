#!/usr/bin/env python3
"""Misbehaving peers for the fault tests: backends that stop reading or die,
clients that classify how each connection ended, and control-socket abuse.

  sgfault.py stuck PATH
      A mode-fd backend that accepts synguard's connections at PATH and
      never reads them: handed-on fds pile up in its queue until the
      kernel refuses more (backpressure). SIGUSR1 makes it start serving:
      it receives every queued fd and echoes on it. SIGTERM or SIGKILL
      ends it with the fds still in flight.
  sgfault.py burst HOST PORT [-n N] [-c C] [--timeout SEC] [--progress FILE]
      N connections, C at a time, each sends 64 bytes and reads them back.
      Prints "ok A reset B eof C timeout D refused E min_fail_ms X
      max_fail_ms Y" (fail times from connect to the failure); FILE holds
      the number of connections finished so far. Always exits 0: the
      caller asserts on the figures.
  sgfault.py pending HOST PORT READY GO [--echo-first] [--timeout SEC]
      Connect (with --echo-first, echo 64 bytes at once), write READY, wait
      for the file GO to appear, then echo 64 bytes. Exit 0 iff the echo
      after GO came back whole.
  sgfault.py ctl SOCKET long|junk
      Send a 1 MiB line, or binary junk and a newline, to the control
      socket and print the first line of the answer.
  sgfault.py ctl-idle SOCKET N READY
      Open N control connections that send nothing; write to READY how
      many the daemon kept open (the others it closed at once), then hold
      them until killed.
"""
import argparse
import errno
import os
import signal
import socket
import sys
import threading
import time


def write_file(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


# ------------------------------------------------------------------ stuck

def echo_conn(s):
    with s:
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    return
                s.sendall(d)
        except OSError as e:
            print("stuck: echo: %s" % e, file=sys.stderr)
            return


def serve_handoffs(c):
    """Receive every handed-on fd on synguard's connection c and echo."""
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(c, 4096, 4)
        except OSError:
            return
        for fd in fds:
            s = socket.socket(fileno=fd)
            s.setblocking(True)  # synguard hands on non-blocking sockets
            threading.Thread(target=echo_conn, args=(s,), daemon=True).start()
        if not msg and not fds:
            return


def cmd_stuck(a):
    try:
        os.unlink(a.path)
    except FileNotFoundError:
        pass
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ls.bind(a.path)
    ls.listen(16)
    conns, lock, serving = [], threading.Lock(), threading.Event()

    def acceptor():
        while True:
            c, _ = ls.accept()
            with lock:
                conns.append(c)
                if serving.is_set():
                    threading.Thread(target=serve_handoffs, args=(c,), daemon=True).start()

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM})
    threading.Thread(target=acceptor, daemon=True).start()
    while True:
        sig = signal.sigwait({signal.SIGUSR1, signal.SIGTERM})
        if sig == signal.SIGTERM:
            os._exit(0)
        with lock:
            if not serving.is_set():
                serving.set()
                for c in conns:
                    threading.Thread(target=serve_handoffs, args=(c,), daemon=True).start()


# ------------------------------------------------------------------ burst

def echo_once(s):
    """Echo 64 random bytes over s: whether they all came back."""
    data = os.urandom(64)
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        d = s.recv(len(data) - len(got))
        if not d:
            break
        got += d
    return got == data


def one(host, port, timeout):
    """One echo of 64 bytes: (outcome, milliseconds)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    t0 = time.monotonic()
    try:
        s.connect((host, port))
        ok = echo_once(s)
        return ("ok" if ok else "eof"), (time.monotonic() - t0) * 1000
    except socket.timeout:
        return "timeout", (time.monotonic() - t0) * 1000
    except ConnectionRefusedError:
        return "refused", (time.monotonic() - t0) * 1000
    except (ConnectionResetError, BrokenPipeError):
        return "reset", (time.monotonic() - t0) * 1000
    except OSError as e:
        if e.errno == errno.ETIMEDOUT:
            return "timeout", (time.monotonic() - t0) * 1000
        return "reset", (time.monotonic() - t0) * 1000
    finally:
        s.close()


def cmd_burst(a):
    count = {"ok": 0, "reset": 0, "eof": 0, "timeout": 0, "refused": 0}
    fails = []
    lock = threading.Lock()
    todo = [a.n]
    done = [0]

    def worker():
        while True:
            with lock:
                if todo[0] == 0:
                    return
                todo[0] -= 1
            what, ms = one(a.host, a.port, a.timeout)
            with lock:
                count[what] += 1
                if what != "ok":
                    fails.append(ms)
                done[0] += 1
                if a.progress:
                    write_file(a.progress, "%d\n" % done[0])

    threads = [threading.Thread(target=worker) for _ in range(a.c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("ok %d reset %d eof %d timeout %d refused %d min_fail_ms %d max_fail_ms %d" % (
        count["ok"], count["reset"], count["eof"], count["timeout"],
        count["refused"], min(fails) if fails else 0, max(fails) if fails else 0))
    return 0


# ---------------------------------------------------------------- pending

def cmd_pending(a):
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    try:
        s.connect((a.host, a.port))
        if a.echo_first and not echo_once(s):
            print("pending: first echo failed", file=sys.stderr)
            return 1
        write_file(a.ready, "%d\n" % s.getsockname()[1])
        deadline = time.monotonic() + 120
        while not os.path.exists(a.go):
            if time.monotonic() > deadline:
                return 1
            time.sleep(0.02)
        if not echo_once(s):
            print("pending: echo after go failed", file=sys.stderr)
            return 1
        return 0
    except OSError as e:
        print("pending: %s" % e, file=sys.stderr)
        return 1
    finally:
        s.close()


# -------------------------------------------------------------------- ctl

def ctl_connect(path):
    # A blocking connect: an AF_UNIX connect with a timeout fails at once
    # with EAGAIN while the listen backlog is full, instead of waiting.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(5)
    return s


def cmd_ctl(a):
    s = ctl_connect(a.sock)
    if a.what == "long":
        line = b"s" * (1 << 20) + b"\n"
    else:
        line = bytes(range(256)).replace(b"\n", b"") + b"\n"

    def sender():
        # The daemon answers and closes long before a megabyte is in.
        try:
            s.sendall(line)
        except OSError:
            pass

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    got = b""
    try:
        while b"\n" not in got:
            d = s.recv(4096)
            if not d:
                break
            got += d
    except OSError as e:
        print("ctl: %s" % e, file=sys.stderr)
    print(got.split(b"\n")[0].decode("ascii", "replace"))
    return 0


def cmd_ctl_idle(a):
    socks = []
    for _ in range(a.n):
        try:
            socks.append(ctl_connect(a.sock))
        except OSError:
            pass
    # Those the daemon turned away are closed by now or soon: a read
    # returns end-of-file at once. The kept ones time out in the read.
    time.sleep(0.5)
    kept = 0
    for s in socks:
        s.settimeout(0.01)
        try:
            if s.recv(1) == b"":
                continue
        except socket.timeout:
            kept += 1
        except OSError:
            continue
    write_file(a.ready, "%d\n" % kept)
    signal.pause()
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("stuck")
    st.add_argument("path")
    b = sub.add_parser("burst")
    b.add_argument("host")
    b.add_argument("port", type=int)
    b.add_argument("-n", type=int, default=1)
    b.add_argument("-c", type=int, default=1)
    b.add_argument("--timeout", type=float, default=10.0)
    b.add_argument("--progress")
    pe = sub.add_parser("pending")
    pe.add_argument("host")
    pe.add_argument("port", type=int)
    pe.add_argument("ready")
    pe.add_argument("go")
    pe.add_argument("--echo-first", action="store_true")
    pe.add_argument("--timeout", type=float, default=10.0)
    c = sub.add_parser("ctl")
    c.add_argument("sock")
    c.add_argument("what", choices=["long", "junk"])
    ci = sub.add_parser("ctl-idle")
    ci.add_argument("sock")
    ci.add_argument("n", type=int)
    ci.add_argument("ready")
    a = p.parse_args()
    return {"stuck": cmd_stuck, "burst": cmd_burst, "pending": cmd_pending,
            "ctl": cmd_ctl, "ctl-idle": cmd_ctl_idle}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
