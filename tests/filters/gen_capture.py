#!/usr/bin/env python3
"""Writes tests/filters/filters.pcap: a small crafted capture whose payloads and flags exercise
the display-filter constructs (1-byte probes, keep-alives, RST, FIN, "abc"/"ABC", non-UTF-8
bytes, IPv6, UDP, ARP, VLAN, TCP options). The differential test runs every filter in
accept.txt over it as well as over tests/corpus/, so each construct has frames to select even
when the corpus lacks them. Re-run after editing: python3 tests/filters/gen_capture.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "filters.pcap")

MAC_C = bytes.fromhex("020000000001")
MAC_S = bytes.fromhex("020000000002")


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, payload, ident=1, ttl=64, tos=0):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(payload), ident, 0x4000, ttl, proto, 0,
                      bytes(src), bytes(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def ipv6(src, dst, nxt, payload):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nxt, 64, src, dst) + payload


def tcp(sport, dport, seq, ack, flags, payload=b"", win=65535, opts=b""):
    while len(opts) % 4:
        opts += b"\x01"
    off = (20 + len(opts)) // 4
    return struct.pack("!HHIIHHHH", sport, dport, seq, ack, (off << 12) | flags, win, 0, 0) + opts + payload


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def eth(src, dst, etype, payload, vlan=None):
    if vlan is not None:
        return dst + src + struct.pack("!HHH", 0x8100, vlan, etype) + payload
    return dst + src + struct.pack("!H", etype) + payload


FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 1, 2, 4, 8, 16, 32, 64, 128
C4, S4, U4 = [10, 0, 0, 1], [10, 0, 0, 2], [192, 168, 1, 7]
C6 = bytes.fromhex("20010db8000000000000000000000001")
S6 = bytes.fromhex("20010db8000000000000000000000002")
SYN_OPTS = (b"\x02\x04\x05\xb4" + b"\x01\x03\x03\x07" + b"\x04\x02" +
            b"\x08\x0a" + struct.pack("!II", 1000, 0))

frames = []
t = 1_000_000.0


def add(delta, frame):
    global t
    t += delta
    frames.append((t, frame))


class Conn:
    """One TCP connection; tracks next sequence numbers so segments are realistic."""

    def __init__(self, cport, sport, cseq, sseq, v6=False, vlan=None):
        self.cport, self.sport, self.v6, self.vlan = cport, sport, v6, vlan
        self.nxt = {True: cseq, False: sseq}

    def seg(self, delta, from_client, flags, payload=b"", seq=None, ack=None, win=65535, opts=b""):
        me, peer = from_client, not from_client
        s = self.nxt[me] if seq is None else seq
        a = self.nxt[peer] if ack is None else ack
        sp, dp = (self.cport, self.sport) if from_client else (self.sport, self.cport)
        seg = tcp(sp, dp, s, a if flags & ACK else 0, flags, payload, win, opts)
        if seq is None:
            self.nxt[me] = s + len(payload) + (1 if flags & (SYN | FIN) else 0)
        if self.v6:
            src, dst = (C6, S6) if from_client else (S6, C6)
            pkt = eth(MAC_C if from_client else MAC_S, MAC_S if from_client else MAC_C, 0x86DD,
                      ipv6(src, dst, 6, seg), self.vlan)
        else:
            src, dst = (C4, S4) if from_client else (S4, C4)
            pkt = eth(MAC_C if from_client else MAC_S, MAC_S if from_client else MAC_C, 0x0800,
                      ipv4(src, dst, 6, seg, ident=len(frames) + 1), self.vlan)
        add(delta, pkt)


# Stream 0: heartbeat connection with probes, replies, keep-alives, data, FIN.
a = Conn(40000, 7777, 1000, 5000)
a.seg(0.0, True, SYN, opts=SYN_OPTS)                      # 1
a.seg(0.001, False, SYN | ACK, opts=SYN_OPTS)             # 2
a.seg(0.001, True, ACK)                                   # 3
for i in range(3):                                        # 4..12
    a.seg(45.0 + i * 7, True, PSH | ACK, b"\x01")
    a.seg(0.002, False, PSH | ACK, b"A")
    a.seg(0.040, True, ACK)
a.seg(30.0, True, ACK, seq=a.nxt[True] - 1)               # 13 keep-alive (0 byte)
a.seg(0.001, False, ACK)                                  # 14 keep-alive ACK
a.seg(30.0, True, ACK, b"\x01", seq=a.nxt[True] - 1)      # 15 keep-alive (1 byte)
a.seg(0.001, False, ACK)                                  # 16 keep-alive ACK
a.seg(10.0, True, PSH | ACK, b"AA")                       # 17
a.seg(0.001, False, PSH | ACK, b"\x01\x02")               # 18
a.seg(1.0, True, PSH | ACK, b"xxabcxx")                   # 19
a.seg(1.0, False, PSH | ACK, b"ABC")                      # 20
a.seg(1.0, True, PSH | ACK, b"\xff\xfe\x00hello\nWorld\x80")  # 21 non-UTF-8
a.seg(1.0, False, PSH | ACK | URG | ECE | CWR, b"caf\xc3\xa9 GET /index.html")  # 22
a.seg(0.5, True, PSH | ACK, b"AA")                        # 23 retransmission of 17's bytes? (new data)
a.seg(2.0, True, PSH | ACK, b"xxabcxx", seq=a.nxt[True] - 7)  # 24 retransmission

# Stream 1: a second connection to the same server port, reset.
b = Conn(40001, 7777, 70000, 90000)
b.seg(0.3, True, SYN, opts=SYN_OPTS)                      # 25
b.seg(0.001, False, SYN | ACK, opts=SYN_OPTS[:4])         # 26
b.seg(0.001, True, ACK)                                   # 27
b.seg(0.2, True, PSH | ACK, b"\x01")                      # 28
b.seg(0.1, False, RST | ACK)                              # 29

# Not TCP: UDP, ARP.
add(0.5, eth(MAC_C, MAC_S, 0x0800, ipv4(C4, U4, 17, udp(5000, 5001, b"abc udp"))))  # 30
add(0.5, eth(MAC_S, b"\xff" * 6, 0x0806, bytes.fromhex("0001080006040001") + MAC_S + bytes(S4)
             + b"\0" * 6 + bytes(C4)))                    # 31

# Stream 2: IPv6.
c = Conn(40002, 7777, 1, 2, v6=True)
c.seg(0.5, True, SYN)                                     # 32
c.seg(0.001, False, SYN | ACK)                            # 33
c.seg(0.001, True, ACK)                                   # 34
c.seg(0.1, True, PSH | ACK, b"abc v6")                    # 35

# Stream 3: VLAN-tagged IPv4, window 0.
d = Conn(40003, 7778, 10, 20, vlan=42)
d.seg(0.2, True, PSH | ACK, b"vlan data", win=0)          # 36
d.seg(0.001, False, ACK, win=0)                           # 37

# Stream 0 close.
a.seg(3.0, True, FIN | ACK)                               # 38
a.seg(0.001, False, FIN | ACK)                            # 39
a.seg(0.001, True, ACK)                                   # 40

with open(OUT, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for ts, fr in frames:
        sec = int(ts)
        usec = int(round((ts - sec) * 1e6))
        f.write(struct.pack("<IIII", sec, usec, len(fr), len(fr)) + fr)
print(OUT, len(frames), "frames")
