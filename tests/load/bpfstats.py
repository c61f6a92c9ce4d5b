#!/usr/bin/env python3
"""Keep the kernel's BPF run-time statistics on while this process lives
(bpf(BPF_ENABLE_STATS): on while the descriptor it returns is open), so the
benchmark can read what synguard's XDP program costs a frame
(synguardctl's xdp_run_ns / xdp_runs) without changing the host's
kernel.bpf_stats_enabled for good. x86_64 and arm64 syscall numbers."""
import ctypes
import platform
import signal
import sys

NR_BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine())
BPF_ENABLE_STATS = 32
BPF_STATS_RUN_TIME = 0

if NR_BPF is None:
    sys.exit("bpfstats: unknown machine %s" % platform.machine())
libc = ctypes.CDLL(None, use_errno=True)
attr = (ctypes.c_uint32 * 32)()
attr[0] = BPF_STATS_RUN_TIME
fd = libc.syscall(NR_BPF, BPF_ENABLE_STATS, attr, ctypes.sizeof(attr))
if fd < 0:
    sys.exit("bpfstats: BPF_ENABLE_STATS: errno %d" % ctypes.get_errno())
print("bpfstats: on", flush=True)
signal.pause()
