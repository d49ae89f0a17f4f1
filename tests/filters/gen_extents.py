#!/usr/bin/env python3
"""Writes tests/filters/extents.pcap: Ethernet frames whose layers end before the frame does
(padding after a short IP packet, trailers after a long one, IPv4 options, IPv6 extension
headers, 802.1Q tags, ARP with padding), with "abc" placed in the header, the payload, the
padding or across the boundary between payload and padding. tshark gives a protocol two
extents: its own item (header; what slices, len() and == see) and its tvb (header to the end of
the layer or of the frame; what contains and matches search). The differential test runs
accept.txt over this capture too, so every extent rule has frames that tell the rules apart.
Re-run after editing: python3 tests/filters/gen_extents.py
"""
import os
import struct


MAC_C = bytes.fromhex("020000000001")
MAC_S = bytes.fromhex("020000000002")
PSH, ACK = 8, 16
C4, S4, U4 = [10, 0, 0, 1], [10, 0, 0, 2], [192, 168, 1, 7]
C6 = bytes.fromhex("20010db8000000000000000000000001")
S6 = bytes.fromhex("20010db8000000000000000000000002")


# Checksums are left zero: tshark does not verify them by default, and no filter here reads them.
def ipv4(src, dst, proto, payload):
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, proto, 0,
                       bytes(src), bytes(dst)) + payload


def ipv6(src, dst, nxt, payload):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nxt, 64, src, dst) + payload


def tcp(sport, dport, seq, ack, flags, payload=b""):
    return struct.pack("!HHIIHHHH", sport, dport, seq, ack, (5 << 12) | flags, 65535, 0, 0) + payload


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def eth(src, dst, etype, payload, vlan=None):
    if vlan is not None:
        return dst + src + struct.pack("!HHH", 0x8100, vlan, etype) + payload
    return dst + src + struct.pack("!H", etype) + payload


OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "extents.pcap")


def ipv4_opts(src, dst, proto, payload, opts):
    """IPv4 with options (header length 20 + len(opts), a multiple of 4)."""
    ihl = (20 + len(opts)) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(opts) + len(payload), 7, 0x4000,
                      64, proto, 0, bytes(src), bytes(dst)) + opts
    return hdr + payload


def pad(frame, to=60, fill=b"abcdefghijklmnopqrstuvwxyz"):
    n = max(0, to - len(frame))
    return frame + (fill * 4)[:n]


frames = []
seq = 100
# 1: IPv4/TCP ACK, 54 bytes, padded to 60 with "abcdef".
frames.append(pad(eth(MAC_C, MAC_S, 0x0800, ipv4(C4, S4, 6, tcp(40010, 7777, seq, 1, ACK)))))
# 2: IPv4/TCP, 2-byte payload "ab", padding starting with "c": "abc" spans payload and padding.
frames.append(pad(eth(MAC_C, MAC_S, 0x0800, ipv4(C4, S4, 6, tcp(40010, 7777, seq, 1, PSH | ACK, b"ab"))),
                  fill=b"cdefgh"))
# 3: IPv4/UDP, 1-byte payload, padded with "abc...".
frames.append(pad(eth(MAC_C, MAC_S, 0x0800, ipv4(C4, U4, 17, udp(5002, 5003, b"u")))))
# 4: ARP, padded with "abc...".
frames.append(pad(eth(MAC_S, b"\xff" * 6, 0x0806, bytes.fromhex("0001080006040001") + MAC_S
                      + bytes(S4) + b"\0" * 6 + bytes(C4))))
# 5: 802.1Q IPv4/TCP ACK (58 bytes) padded to 64 with "abcdef".
frames.append(pad(eth(MAC_C, MAC_S, 0x0800, ipv4(C4, S4, 6, tcp(40011, 7778, seq, 1, ACK)), vlan=7),
                  to=64))
# 6: IPv4 with 4 bytes of options holding "abc" (NOP NOP... kept opaque), TCP payload "xyz".
frames.append(eth(MAC_C, MAC_S, 0x0800,
                  ipv4_opts(C4, S4, 6, tcp(40012, 7777, seq, 1, PSH | ACK, b"xyz"), b"\x01\x01\x01\x00")))
# 7: IPv6/TCP with payload "v6", then an 8-byte trailer "abctrail" after the IPv6 packet.
frames.append(eth(MAC_C, MAC_S, 0x86DD, ipv6(C6, S6, 6, tcp(40013, 7777, seq, 1, PSH | ACK, b"v6")))
              + b"abctrail")
# 8: IPv6 with a hop-by-hop options header, then UDP with payload "abc hbh".
hbh = bytes([17, 0, 1, 4, 0, 0, 0, 0])
frames.append(eth(MAC_C, MAC_S, 0x86DD, ipv6(C6, S6, 0, hbh + udp(5004, 5005, b"abc hbh"))))
# 9: IPv4/UDP with payload "hello" and a trailer "abc" after the IP packet (frame > 60 bytes).
frames.append(eth(MAC_C, MAC_S, 0x0800, ipv4(C4, U4, 17, udp(5006, 5007, b"hello" * 4))) + b"abc")
# 10: IPv4/TCP with payload "abc" in a frame long enough to need no padding.
frames.append(eth(MAC_C, MAC_S, 0x0800, ipv4(C4, S4, 6, tcp(40014, 7777, seq, 1, PSH | ACK, b"abc" * 3))))
# 11: 802.1Q ARP padded with "abc...".
frames.append(pad(eth(MAC_S, b"\xff" * 6, 0x0806, bytes.fromhex("0001080006040001") + MAC_S
                      + bytes(S4) + b"\0" * 6 + bytes(C4), vlan=9), to=64))

with open(OUT, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i, fr in enumerate(frames):
        f.write(struct.pack("<IIII", 1_000_000 + i, 0, len(fr), len(fr)) + fr)
print(OUT, len(frames), "frames")
