#!/usr/bin/env python3
"""Push MIB mebibytes through one TCP connection to an echo server and read
them all back; print "bytes N secs S mib_s R". For tests/load/flood.sh: the
cost of established data to synguard, which should be none.

  upload.py HOST PORT MIB
"""
import socket
import sys
import threading
import time

CHUNK = 256 * 1024


def main():
    host, port, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    total = mib * 1024 * 1024
    s = socket.create_connection((host, port), timeout=30)
    buf = bytes(CHUNK)
    err = []

    def send():
        left = total
        try:
            while left > 0:
                n = s.send(buf[:min(CHUNK, left)])
                left -= n
        except OSError as e:
            err.append(e)

    t0 = time.monotonic()
    th = threading.Thread(target=send)
    th.start()
    got = 0
    view = bytearray(CHUNK)
    while got < total:
        n = s.recv_into(view)
        if n == 0:
            break
        got += n
    th.join()
    secs = time.monotonic() - t0
    s.close()
    print("bytes %d secs %.3f mib_s %.1f" % (got, secs, got / secs / 1048576))
    return 0 if got == total and not err else 1


if __name__ == "__main__":
    sys.exit(main())
