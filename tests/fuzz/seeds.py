#!/usr/bin/env python3
# seeds.py -- write the seed corpora in tests/fuzz/corpus from the test
# fixtures, so that every seed can be traced to a capture or a fixture.
# Run it again after changing a fixture or a target's input layout:
#   python3 tests/fuzz/seeds.py
import glob
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, '..', 'fixtures')
OUT = os.path.join(HERE, 'corpus')


def packets(path):
    """The frames of a classic little-endian pcap file."""
    d = open(path, 'rb').read()
    magic, _, _, _, _, _, link = struct.unpack('<IHHiIII', d[:24])
    assert magic == 0xa1b2c3d4 and link == 1, path  # Ethernet
    off = 24
    while off + 16 <= len(d):
        _, _, incl, _ = struct.unpack('<IIII', d[off:off + 16])
        yield d[off + 16:off + 16 + incl]
        off += 16 + incl


def put(target, name, data):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    with open(os.path.join(OUT, target, name), 'wb') as f:
        f.write(data)


def tcp_of(frame):
    """Offset of the TCP header in an Ethernet frame (IPv4 or IPv6)."""
    ip = frame[14:]
    if ip[0] >> 4 == 4:
        return 14 + (ip[0] & 15) * 4
    return 14 + 40


def main():
    syns = []
    for pcap in sorted(glob.glob(os.path.join(FIX, '*.pcap'))):
        base = os.path.basename(pcap)[:-5]
        for i, fr in enumerate(packets(pcap)):
            # codec: mode bit 0 = bare IP, bit 1 = trusted checksum.
            put('codec', '%s-%d-ether' % (base, i), bytes([0]) + fr)
            put('codec', '%s-%d-ip-trusted' % (base, i), bytes([3]) + fr[14:])
            t = tcp_of(fr)
            doff = (fr[t + 12] >> 4) * 4
            put('options', '%s-%d' % (base, i), fr[t + 20:t + doff])
            if fr[t + 13] == 0x02:
                syns.append((base, fr, t))
    # A VLAN-tagged copy of the first frame, and a truncated one.
    fr = next(packets(os.path.join(FIX, 'handshake4.pcap')))
    put('codec', 'vlan', bytes([0]) + fr[:12] + b'\x81\x00\x00\x05' + fr[12:])
    put('codec', 'truncated', bytes([0]) + fr[:40])

    # cookie: mode, tuple (36), SYN fields (20), ACK fields (28).
    for base, fr, t in syns:
        v6 = fr[14] >> 4 == 6
        if v6:
            peer, local = fr[14 + 8:14 + 24], fr[14 + 24:14 + 40]
        else:
            peer = fr[14 + 12:14 + 16] + bytes(12)
            local = fr[14 + 16:14 + 20] + bytes(12)
        ports = fr[t:t + 4]
        isn = fr[t + 4:t + 8]
        for ts in (0, 1):
            mode = (1 if v6 else 0) | (2 if ts else 0) | 4 * ts
            syn = isn + b'\x00\x00\x12\x34' + b'\x05\xb4\x07' + \
                bytes([0x0f if ts else 0x07]) + b'\x6c\x36\xf0\xe9' + \
                b'\x00\x01\x00\x3f'
            ack = isn + b'\x35\x74\xf6\xff' + b'\x00\x00\x12\x34' + \
                b'\x05\xb4\x07\x08' + bytes(8) + b'\x6c\x36\xf0\xea'
            put('cookie', '%s-ts%d' % (base, ts),
                bytes([mode]) + peer + local + ports + syn + ack)

    # config: every fixture, good and bad, and the shipped default.
    for conf in sorted(glob.glob(os.path.join(FIX, 'conf', '*.conf'))):
        put('config', os.path.basename(conf), open(conf, 'rb').read())
    put('config', 'synguard.conf',
        open(os.path.join(HERE, '..', '..', 'conf', 'synguard.conf'),
             'rb').read())

    # handoff: nfds byte, then the message.
    def hdr(family=2, magic=0x31484753, version=1, size=72):
        return struct.pack('<IHHBBHHH16s16sHHBB2xIIQ', magic, version, size,
                           family, 0, 0x000e, 34396, 5001,
                           bytes([198, 18, 0, 2]), bytes([198, 18, 0, 1]),
                           1460, 1460, 7, 7, 120, 0, 42)
    put('handoff', 'good-v4', bytes([1]) + hdr())
    put('handoff', 'good-v6', bytes([1]) + hdr(family=10))
    put('handoff', 'no-fd', bytes([0]) + hdr())
    put('handoff', 'two-fds', bytes([2]) + hdr())
    put('handoff', 'nine-fds', bytes([9]) + hdr())
    put('handoff', 'bad-magic', bytes([1]) + hdr(magic=0x31484754))
    put('handoff', 'bad-version', bytes([1]) + hdr(version=2))
    put('handoff', 'long', bytes([1]) + hdr() + b'\0' * 8)
    put('handoff', 'short', bytes([1]) + hdr()[:64])
    put('handoff', 'empty', bytes([0]))

    # control: the commands, and near misses.
    for i, line in enumerate([b'stats', b'stats prometheus', b'backends',
                              b'reload', b'help', b'stats\r', b'bogus',
                              b'', b'stats\x00', b'STATS']):
        put('control', 'cmd-%d' % i, line)


main()
