#!/usr/bin/env python3
"""Small hand-built TCP captures for tshark-parity corner cases that real traffic rarely hits.

Each file isolates one rule of tshark 4.0.17's TCP analysis that keepsight had to learn by
experiment (the oracle test compares every frame with tshark, so the expected values are
tshark's, produced when the test runs, never written here):

  handshake.pcap       handshake, 1-byte exchange, a segment at nextseq-1 (keep-alive)
  midstream.pcap       capture starts mid-connection; FIN retransmitted; RST without ACK
  completeness-*.pcap  tcp.completeness on a conversation's first frame (SYN, SYN-ACK, RST, data)
  acklost-*.pcap       when "ACKed unseen segment" is reported again after a first report:
                       after a gap in the other direction, an ACK with a new value, a dup ACK,
                       a spurious retransmission
  time/time-fraction*.pcap
                       record time stamps whose fraction is a second or more (a broken writer),
                       or wraps negative in tshark's 32-bit arithmetic, in µs and ns files
  udp6-zero-checksum-fragments.pcap
                       UDP over IPv6 without a checksum, fragmented: in order, last piece
                       first, a checksum, a datagram that never completes
  frag/tcp-fragments.pcap, frag/tcp6-fragments.pcap
                       TCP segments carried in IPv4 fragments (in order, out of order, last
                       piece first, a duplicate piece, a fragmented retransmission) and in IPv6
                       fragments (out of order, re-sent with the same identification)
  payload-*.pcap       which re-sent segments tshark hands to `data`: spurious, plain, fast,
                       out-of-order, overlapping retransmissions, each captured whole and cut
                       by a 60-byte snap length (`-cut`), which makes tshark skip reassembly

Run: python3 make.py  (writes the files next to this script; deterministic).
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def pkt(src, dst, sp, dp, seq, ack, flags, win, payload=b"", opts=b""):
    thl = 20 + len(opts)
    tcp = struct.pack("!HHIIBBHHH", sp, dp, seq, ack, (thl // 4) << 4, flags, win, 0, 0) + opts + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0x1234, 0x4000, 64, 6, 0, bytes(src), bytes(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    pseudo = bytes(src) + bytes(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    return bytes.fromhex("001122334455") + bytes.fromhex("66778899aabb") + b"\x08\x00" + ip + tcp


def write(name, packets, snap=None):
    """snap: cut every record to this many bytes (the original length stays in the header)."""
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        t = 0.0
        for dt, p in packets:
            t += dt
            s = int(t)
            us = int(round((t - s) * 1e6))
            cap = p if snap is None else p[:snap]
            f.write(struct.pack("<IIII", 1700000000 + s, us, len(cap), len(p)) + cap)


A, B = [10, 0, 0, 1], [10, 0, 0, 2]
C = (A, B, 40000, 47777)  # client -> server; 47777 has no tshark dissector
S = (B, A, 47777, 40000)
SYNOPT = b"\x02\x04\x05\xb4\x01\x03\x03\x07"

write("handshake.pcap", [
    (0, pkt(*C, 1000, 0, 0x02, 64240, opts=SYNOPT)),
    (0.001, pkt(*S, 5000, 1001, 0x12, 65160, opts=SYNOPT)),
    (0.002, pkt(*C, 1001, 5001, 0x10, 502)),
    (1, pkt(*C, 1001, 5001, 0x18, 502, b"\x01")),
    (0.0003, pkt(*S, 5001, 1002, 0x18, 509, b"\x41")),
    (0.1, pkt(*C, 1001, 5002, 0x10, 502)),
])
write("midstream.pcap", [
    (0, pkt(*C, 1000, 5000, 0x18, 502, b"ab")),
    (0.1, pkt(*S, 5000, 1002, 0x18, 509, b"cd")),
    (0.1, pkt(*C, 1002, 5002, 0x11, 502)),
    (0.1, pkt(*C, 1002, 5002, 0x11, 502)),
    (0.1, pkt(*S, 5002, 1003, 0x11, 509)),
    (0.1, pkt(*C, 1003, 5003, 0x10, 502)),
    (0.1, pkt(*C, 1003, 5003, 0x04, 0)),
])
write("completeness-syn-retransmitted.pcap", [
    (0, pkt(*C, 1000, 5000, 0x02, 502)),
    (0.1, pkt(*C, 1000, 5000, 0x02, 502)),
    (0.1, pkt(*S, 5000, 1001, 0x12, 509)),
    (0.1, pkt(*C, 1001, 5001, 0x18, 502, b"x")),
    (0.1, pkt(*S, 5001, 1002, 0x10, 509)),
    (0.1, pkt(*C, 1002, 5001, 0x14, 0)),
])
write("completeness-first-rst.pcap", [
    (0, pkt(*C, 1000, 5000, 0x04, 0)),
    (0.1, pkt(*S, 5000, 1001, 0x18, 509, b"ab")),
    (0.1, pkt(*S, 5002, 1001, 0x18, 509, b"ab")),
    (0.1, pkt(*C, 1001, 5004, 0x11, 502)),
    (0.1, pkt(*S, 5004, 1002, 0x04, 0)),
])
write("completeness-first-synack.pcap", [
    (0, pkt(*S, 5000, 1001, 0x12, 509)),
    (0.1, pkt(*C, 1001, 5001, 0x10, 502)),
    (0.1, pkt(*C, 1001, 5001, 0x04, 0)),
])

c0, s0 = 1000, 5000
base = [
    (0, pkt(*C, c0 + 1, s0 + 1, 0x18, 63, b"a")),
    (0.1, pkt(*S, s0 + 1, c0 + 2, 0x18, 64, b"b")),
    (0.1, pkt(*C, c0 + 2, s0 + 2, 0x10, 63)),
    (0.1, pkt(*S, s0 + 2, c0 + 8, 0x10, 64)),   # ACKs bytes never seen
    (0.1, pkt(*S, s0 + 2, c0 + 13, 0x10, 64)),  # again, further
]
write("acklost-after-gap.pcap", base + [
    (0.1, pkt(*C, c0 + 13, s0 + 2, 0x18, 63, b"x" * 7)),
    (0.1, pkt(*S, s0 + 2, c0 + 20, 0x10, 64)),
    (0.1, pkt(*C, c0 + 20, s0 + 2, 0x11, 63)),
    (0.1, pkt(*S, s0 + 2, c0 + 21, 0x10, 64)),
    (0.1, pkt(*S, s0 + 2, c0 + 21, 0x18, 64, b"q" * 10)),
    (0.1, pkt(*C, c0 + 21, s0 + 12, 0x10, 63)),
    (0.1, pkt(*S, s0 + 12, c0 + 21, 0x18, 64, b"q" * 10)),
])
write("acklost-silent-peer.pcap", base + [
    (0.1, pkt(*S, s0 + 2, c0 + 20, 0x10, 64)),
    (0.1, pkt(*S, s0 + 2, c0 + 25, 0x10, 64)),
])
write("acklost-after-dupack.pcap", base + [
    (0.1, pkt(*C, c0 + 2, s0 + 2, 0x10, 63)),
    (0.1, pkt(*S, s0 + 2, c0 + 20, 0x10, 64)),
])
write("acklost-after-spurious.pcap", base + [
    (0.1, pkt(*C, c0 + 2, s0 + 2, 0x18, 63, b"w" * 11)),
    (0.1, pkt(*S, s0 + 2, c0 + 20, 0x10, 64)),
    (0.1, pkt(*S, s0 + 2, c0 + 25, 0x10, 64)),
])
write("acklost-after-new-ack.pcap", base + [
    (0.1, pkt(*S, s0 + 2, c0 + 13, 0x18, 64, b"zzzzz")),
    (0.1, pkt(*C, c0 + 2, s0 + 7, 0x10, 63)),
    (0.1, pkt(*S, s0 + 7, c0 + 20, 0x10, 64)),
])
write("acklost-gap-beyond.pcap", base + [
    (0.1, pkt(*C, c0 + 30, s0 + 2, 0x18, 63, b"w" * 5)),
    (0.1, pkt(*S, s0 + 2, c0 + 20, 0x10, 64)),
    (0.1, pkt(*S, s0 + 2, c0 + 40, 0x10, 64)),
])

# Re-sent payload: base has the client at c0+2, nothing of the 11 bytes below seen yet.
pbase = base[:3]
# Payload bytes no tshark heuristic dissector claims, even when cut to 6 bytes.
W, V = b"`abcdefghij", b"rstuvwxyz{|"
payload = {
    "spurious": pbase + [
        (0.1, pkt(*C, c0 + 2, s0 + 2, 0x18, 63, W)),
        (0.1, pkt(*S, s0 + 2, c0 + 13, 0x10, 64)),
        (0.1, pkt(*C, c0 + 2, s0 + 2, 0x18, 63, W)),  # already ACKed
    ],
    "spurious-unseen": pbase + [
        (0.1, pkt(*S, s0 + 2, c0 + 20, 0x10, 64)),  # ACKs bytes never seen
        (0.1, pkt(*C, c0 + 8, s0 + 2, 0x18, 63, W)),  # gap and already ACKed
    ],
    "retrans": pbase + [
        (0.1, pkt(*C, c0 + 2, s0 + 2, 0x18, 63, W)),
        (0.3, pkt(*C, c0 + 2, s0 + 2, 0x18, 63, W)),
    ],
    "overlap": pbase + [
        (0.1, pkt(*C, c0 + 2, s0 + 2, 0x18, 63, W)),
        (0.3, pkt(*C, c0 + 2, s0 + 2, 0x18, 63, W + b"klmnopq")),  # old bytes and new ones
    ],
    "ooo": pbase + [
        (0.1, pkt(*C, c0 + 13, s0 + 2, 0x18, 63, V)),
        (0.0005, pkt(*C, c0 + 2, s0 + 2, 0x18, 63, W)),
    ],
    "fast": pbase + [
        (0.1, pkt(*C, c0 + 2, s0 + 2, 0x18, 63, W)),
        (0.001, pkt(*C, c0 + 13, s0 + 2, 0x18, 63, V)),
        (0.001, pkt(*S, s0 + 2, c0 + 2, 0x10, 64)),
        (0.001, pkt(*S, s0 + 2, c0 + 2, 0x10, 64)),
        (0.001, pkt(*S, s0 + 2, c0 + 2, 0x10, 64)),
        (0.001, pkt(*C, c0 + 2, s0 + 2, 0x18, 63, W)),
    ],
}
for name, packets in payload.items():
    write("payload-%s.pcap" % name, packets)
    write("payload-%s-cut.pcap" % name, packets, snap=60)


def write_stamps(name, nanos, stamps):
    """One 1-byte segment per (seconds, fraction) pair, written exactly as given. Into time/:
    the views oracle (keepsight conv vs tshark -z conv) does not read that folder, as keepsight
    conv's start and duration columns do not follow tshark for wrapped negative fractions."""
    os.makedirs(os.path.join(HERE, "time"), exist_ok=True)
    with open(os.path.join(HERE, "time", name), "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D if nanos else 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, (sec, frac) in enumerate(stamps):
            p = pkt(*C, c0 + 1 + i, s0 + 1, 0x18, 63, b"`")
            f.write(struct.pack("<IIII", sec, frac, len(p), len(p)) + p)


T = 1700000000
write_stamps("time-fraction.pcap", False, [
    (T, 0), (T, 999999), (T, 1000000), (T, 1999999), (T, 2147483),
    (T, 2147484),     # * 1000 wraps to a negative fraction
    (T, 3000000), (T, 4294967295), (T + 1, 500000),
    (T - 1, 5000000),  # wraps back into range: an ordinary time stamp for tshark
    (T, 0),
])
write_stamps("time-fraction-ns.pcap", True, [
    (T, 0), (T, 999999999), (T, 1000000000), (T, 1500000000), (T, 2147483646),
    (T, 2147483647), (T, 3000000000), (T, 4294967295), (T + 1, 500),
])


def v6_udp_pieces(ident, sport, checksum, sizes, seed):
    """A UDP/IPv6 datagram cut into fragments of `sizes` bytes: Ethernet frames, in order."""
    body = (b"abc" + bytes([seed])) * 28
    dgram = struct.pack("!HHHH", sport, 5000, 8 + len(body), checksum) + body
    src = bytes.fromhex("20010db8000000000000000000000001")
    dst = bytes.fromhex("20010db8000000000000000000000002")
    out, off = [], 0
    for n in sizes:
        piece = dgram[off:off + n]
        more = off + n < len(dgram)
        fh = struct.pack("!BBHI", 17, 0, off | more, ident)
        ip6 = struct.pack("!IHBB16s16s", 0x60000000, len(fh) + len(piece), 44, 64, src, dst)
        out.append(bytes.fromhex("001122334455") + bytes.fromhex("66778899aabb") + b"\x86\xdd" + ip6 + fh + piece)
        off += n
    return out


frags = (v6_udp_pieces(0xB1, 4000, 0, [64, 56], 1)
         + v6_udp_pieces(0xB2, 4001, 0, [64, 56], 2)[::-1]
         + v6_udp_pieces(0xB3, 4002, 0x1234, [64, 56], 3)
         + v6_udp_pieces(0xB4, 4003, 0, [64, 56], 4)[:1])
write("udp6-zero-checksum-fragments.pcap", [(0.1, f) for f in frags])


def ip4_pieces(frame, cuts, ident):
    """An Ethernet/IPv4 frame from pkt() cut into fragments at the datagram offsets `cuts`
    (multiples of 8), in order; each piece keeps the header, with its own length and checksum."""
    ip = frame[14:34]
    dgram = frame[34:]
    out = []
    bounds = [0] + list(cuts) + [len(dgram)]
    for lo, hi in zip(bounds, bounds[1:]):
        more = hi < len(dgram)
        h = ip[:2] + struct.pack("!HHH", 20 + hi - lo, ident, (0x2000 if more else 0) | (lo // 8)) + ip[8:10] + b"\0\0" + ip[12:]
        h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
        out.append(frame[:14] + h + dgram[lo:hi])
    return out


# TCP carried in IPv4 fragments (frag/tcp-fragments.pcap): tshark reassembles the datagram and
# runs TCP and its analysis on the frame whose piece completes it; the other pieces show as
# "Fragmented IP protocol". Payload bytes no heuristic dissector claims. Into frag/: the views
# oracle (follow, conv, expert) does not read that folder, as `keepsight follow` does not take
# payload from reassembled datagrams yet (crates/filter/NEEDS.md).
P1, P2, P3, P4 = W * 5, V * 5, W * 4 + b"klmn", V * 6
cs, ss = 3000, 9000
seg = {
    1: pkt(*C, cs + 1, ss + 1, 0x18, 502, P1),
    2: pkt(*C, cs + 1 + len(P1), ss + 1, 0x18, 502, P2),
    3: pkt(*C, cs + 1 + len(P1) + len(P2), ss + 1, 0x18, 502, P3),
    4: pkt(*C, cs + 1 + len(P1) + len(P2) + len(P3), ss + 1, 0x18, 502, P4),
}
end = cs + 1 + len(P1) + len(P2) + len(P3) + len(P4)
p1 = ip4_pieces(seg[1], [24], 0x101)            # in order
p2 = ip4_pieces(seg[2], [16, 40], 0x102)        # out of order: 0, 40, 16
p3 = ip4_pieces(seg[3], [32], 0x103)            # last piece first
p4 = ip4_pieces(seg[4], [32], 0x104)            # a piece duplicated
r4 = ip4_pieces(seg[4], [24, 48], 0x105)        # the same segment re-sent, fragmented again
os.makedirs(os.path.join(HERE, "frag"), exist_ok=True)
write("frag/tcp-fragments.pcap", [
    (0, pkt(*C, cs, 0, 0x02, 64240, opts=SYNOPT)),
    (0.001, pkt(*S, ss, cs + 1, 0x12, 65160, opts=SYNOPT)),
    (0.001, pkt(*C, cs + 1, ss + 1, 0x10, 502)),
    (0.1, p1[0]), (0.0001, p1[1]),
    (0.01, pkt(*S, ss + 1, cs + 1 + len(P1), 0x10, 509)),
    (0.1, p2[0]), (0.0001, p2[2]), (0.0001, p2[1]),
    (0.1, p3[1]), (0.0001, p3[0]),
    (0.01, pkt(*S, ss + 1, cs + 1 + len(P1) + len(P2) + len(P3), 0x10, 509)),
    (0.1, p4[0]), (0.0001, p4[0]), (0.0001, p4[1]),
    (0.3, r4[0]), (0.0001, r4[1]), (0.0001, r4[2]),
    (0.01, pkt(*S, ss + 1, end, 0x10, 509)),
    (0.1, pkt(*C, end, ss + 1, 0x11, 502)),
    (0.001, pkt(*S, ss + 1, end + 1, 0x11, 509)),
    (0.001, pkt(*C, end + 1, ss + 2, 0x10, 502)),
])


def pkt6(src, dst, sp, dp, seq, ack, flags, win, payload=b"", opts=b""):
    """pkt() over IPv6."""
    thl = 20 + len(opts)
    tcp = struct.pack("!HHIIBBHHH", sp, dp, seq, ack, (thl // 4) << 4, flags, win, 0, 0) + opts + payload
    pseudo = src + dst + struct.pack("!IxxxB", len(tcp), 6)
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip6 = struct.pack("!IHBB16s16s", 0x60000000, len(tcp), 6, 64, src, dst)
    return bytes.fromhex("001122334455") + bytes.fromhex("66778899aabb") + b"\x86\xdd" + ip6 + tcp


def ip6_pieces(frame, cuts, ident):
    """An Ethernet/IPv6 frame from pkt6() cut into fragments at `cuts`, with a Fragment header."""
    ip6 = frame[14:54]
    dgram = frame[54:]
    out = []
    bounds = [0] + list(cuts) + [len(dgram)]
    for lo, hi in zip(bounds, bounds[1:]):
        more = hi < len(dgram)
        fh = struct.pack("!BBHI", 6, 0, lo | more, ident)
        h = ip6[:4] + struct.pack("!HB", 8 + hi - lo, 44) + ip6[7:]
        out.append(frame[:14] + h + fh + dgram[lo:hi])
    return out


A6 = bytes.fromhex("20010db8000000000000000000000001")
B6 = bytes.fromhex("20010db8000000000000000000000002")
C6 = (A6, B6, 40001, 47777)
S6 = (B6, A6, 47777, 40001)
q1 = ip6_pieces(pkt6(*C6, cs + 1, ss + 1, 0x18, 502, P1), [32], 0x601)
q2 = ip6_pieces(pkt6(*C6, cs + 1 + len(P1), ss + 1, 0x18, 502, P2), [24, 48], 0x602)
e6 = cs + 1 + len(P1) + len(P2)
write("frag/tcp6-fragments.pcap", [
    (0, pkt6(*C6, cs, 0, 0x02, 64240, opts=SYNOPT)),
    (0.001, pkt6(*S6, ss, cs + 1, 0x12, 65160, opts=SYNOPT)),
    (0.001, pkt6(*C6, cs + 1, ss + 1, 0x10, 502)),
    (0.1, q1[0]), (0.0001, q1[1]),
    (0.1, q2[2]), (0.0001, q2[0]), (0.0001, q2[1]),
    (0.3, q2[1]), (0.0001, q2[0]), (0.0001, q2[2]),  # re-sent with the same identification
    (0.01, pkt6(*S6, ss + 1, e6, 0x10, 509)),
])
