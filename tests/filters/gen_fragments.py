#!/usr/bin/env python3
"""Writes tests/filters/fragments.pcap: IPv4 and IPv6 fragments in the orders and shapes that
tell reassembly rules apart - in order, out of order, overlapping with conflicting bytes, a
duplicate piece, a datagram whose last piece never comes, the same IPv4 id on two VLANs, an
IPv6 atomic fragment, first pieces cut by a snap length. The differential test (crates/cli/tests/filter_oracle.rs) runs
accept.txt over it against tshark, which reassembles by default and dissects UDP in the frame
that completes a datagram. Payloads carry "abc" so `contains` filters see them. Not here:
ICMP (keepsight does not dissect ICMP's data, which tshark shows) and TCP (in
tests/corpus/crafted/frag/, written by tests/corpus/crafted/make.py).
Re-run after editing: python3 tests/filters/gen_fragments.py
"""
import os
import struct

MAC_C = bytes.fromhex("020000000001")
MAC_S = bytes.fromhex("020000000002")
C4, S4 = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
C6 = bytes.fromhex("20010db8000000000000000000000001")
S6 = bytes.fromhex("20010db8000000000000000000000002")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fragments.pcap")


def eth(etype, payload, vlan=None):
    tag = b"" if vlan is None else struct.pack("!HH", 0x8100, vlan)
    return MAC_S + MAC_C + tag + struct.pack("!H", etype) + payload


# Checksums are left zero: tshark does not verify them by default.
def v4frag(ident, proto, offset, more, piece, vlan=None):
    flags = (0x2000 if more else 0) | (offset // 8)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(piece), ident, flags, 64, proto, 0,
                      C4, S4)
    return eth(0x0800, hdr + piece, vlan)


def v6frag(ident, nxt, offset, more, piece):
    fh = struct.pack("!BBHI", nxt, 0, offset | (1 if more else 0), ident)
    hdr = struct.pack("!IHBB16s16s", 0x60000000, len(fh) + len(piece), 44, 64, C6, S6)
    return eth(0x86DD, hdr + fh + piece)


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0x1234) + payload


def body(n, seed):
    s = (b"abc" + bytes([seed])) * (n // 4 + 1)
    return s[:n]


def split(dgram, sizes):
    out, off = [], 0
    for n in sizes:
        out.append((off, off + n < len(dgram), dgram[off:off + n]))
        off += n
    return out


frames = []
# 1. IPv4 UDP, in order.
for off, more, p in split(udp(4000, 5000, body(100, 1)), [48, 48, 12]):
    frames.append(v4frag(0x101, 17, off, more, p))
# 2. IPv4 UDP, last piece first, then first, then middle (completes on the middle).
pieces = split(udp(4001, 5000, body(100, 2)), [48, 48, 12])
for i in (2, 0, 1):
    off, more, p = pieces[i]
    frames.append(v4frag(0x102, 17, off, more, p))
# 3. IPv4 UDP, overlapping pieces with conflicting bytes in the overlap.
d = udp(4002, 5000, body(72, 3))
frames.append(v4frag(0x103, 17, 0, True, d[:48]))
frames.append(v4frag(0x103, 17, 40, False, b"XXXXXXXX" + d[48:]))
# 4. IPv4 UDP, a duplicate of the first piece before the last one.
pieces = split(udp(4003, 5000, body(60, 4)), [32, 36])
frames.append(v4frag(0x104, 17, *pieces[0]))
frames.append(v4frag(0x104, 17, *pieces[0]))
frames.append(v4frag(0x104, 17, *pieces[1]))
# 5. IPv4 UDP whose last piece never comes.
frames.append(v4frag(0x105, 17, 0, True, udp(4004, 5000, body(40, 5))))
# 6. The same IPv4 id, addresses and protocol on VLAN 7 and untagged: two datagrams to tshark.
pieces = split(udp(4005, 5000, body(60, 6)), [32, 36])
frames.append(v4frag(0x106, 17, *pieces[0], vlan=7))
frames.append(v4frag(0x106, 17, *pieces[1]))
frames.append(v4frag(0x106, 17, *pieces[0]))
frames.append(v4frag(0x106, 17, *pieces[1], vlan=7))
# 7. IPv6 UDP, in order and out of order.
for off, more, p in split(udp(4006, 5000, body(120, 8)), [64, 64]):
    frames.append(v6frag(0xA0000001, 17, off, more, p))
pieces = split(udp(4007, 5000, body(120, 9)), [64, 64])
for i in (1, 0):
    frames.append(v6frag(0xA0000002, 17, *pieces[i]))
# 8. IPv6 whose last piece never comes, then an atomic fragment (offset 0, no more).
frames.append(v6frag(0xA0000003, 17, 0, True, udp(4008, 5000, body(56, 10))))
frames.append(v6frag(0xA0000004, 17, 0, False, udp(4009, 5000, body(20, 11))))
# 9. First pieces cut by the snap length (kept: 70 bytes): nothing is reassembled; tshark
# dissects the IPv4 first piece as UDP anyway, the IPv6 one as data.
SNAP = 70
pieces = split(udp(4010, 5000, body(120, 12)), [96, 32])
frames.append(v4frag(0x10A, 17, *pieces[0]))
frames.append(v4frag(0x10A, 17, *pieces[1]))
pieces = split(udp(4011, 5000, body(120, 13)), [96, 32])
frames.append(v6frag(0xA0000005, 17, *pieces[0]))
frames.append(v6frag(0xA0000005, 17, *pieces[1]))
cut = {len(frames) - 4, len(frames) - 2}

with open(OUT, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i, fr in enumerate(frames):
        kept = fr[:SNAP] if i in cut else fr
        f.write(struct.pack("<IIII", 1_000_000 + i, 0, len(kept), len(fr)) + kept)
print(f"{OUT}: {len(frames)} frames")
