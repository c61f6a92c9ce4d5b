#!/usr/bin/env python3
"""Stand in for the service manager's notify socket: receive sd_notify(3)
datagrams on PATH and append each one to LOG as a line of KEY=VALUE words
joined by '|', until killed."""
import os
import socket
import sys

path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(log + ".ready", "w"):
    pass
while True:
    msg = s.recv(4096).decode("utf-8", "replace")
    with open(log, "a") as f:
        f.write("|".join(msg.strip().split("\n")) + "\n")
