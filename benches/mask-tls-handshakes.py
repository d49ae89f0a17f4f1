#!/usr/bin/env python3
"""mask-tls-handshakes.py IN.pcap OUT.pcap -- the same capture with TLS turned off.

keepsight (like tshark's heuristic) takes a TCP stream for TLS when its first payload starts a
handshake record (content type 22, version 3.x, ClientHello or ServerHello). This copies a
pcap (the generator's: Ethernet, IPv4 or IPv6, TCP) and sets that content-type byte of every
such segment to 0, fixing the TCP checksum, so no stream is recognized as TLS while every
frame keeps its size and timing: the difference between the two files is what TLS dissection
costs. Streams the file through a fixed buffer (memory does not grow with the file).
"""
import struct
import sys


def fix_checksum(checksum, old_word, new_word):
    # RFC 1624: HC' = ~(~HC + ~m + m')
    s = (~checksum & 0xFFFF) + (~old_word & 0xFFFF) + new_word
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp_payload_offset(frame):
    """Offset of the TCP header and of the payload in an Ethernet frame, or None."""
    if len(frame) < 14:
        return None
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    if ethertype == 0x0800 and len(frame) >= 34:
        ihl = (frame[14] & 0x0F) * 4
        if frame[23] != 6:
            return None
        tcp = 14 + ihl
    elif ethertype == 0x86DD and len(frame) >= 54:
        if frame[20] != 6:
            return None
        tcp = 54
    else:
        return None
    if len(frame) < tcp + 20:
        return None
    return tcp, tcp + (frame[tcp + 12] >> 4) * 4


def main():
    src, dst = sys.argv[1], sys.argv[2]
    masked = 0
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        header = fin.read(24)
        magic = header[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            endian = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            endian = ">"
        else:
            sys.exit(f"{src}: not a pcap file")
        fout.write(header)
        record = struct.Struct(endian + "IIII")
        while True:
            rh = fin.read(16)
            if len(rh) < 16:
                break
            incl = record.unpack(rh)[2]
            frame = bytearray(fin.read(incl))
            at = tcp_payload_offset(frame)
            if at is not None:
                tcp, p = at
                if (
                    len(frame) >= p + 6
                    and frame[p] == 22
                    and frame[p + 1] == 3
                    and frame[p + 5] in (1, 2)
                ):
                    old = (frame[p] << 8) | frame[p + 1]
                    frame[p] = 0
                    new = frame[p + 1]
                    checksum = struct.unpack_from("!H", frame, tcp + 16)[0]
                    struct.pack_into("!H", frame, tcp + 16, fix_checksum(checksum, old, new))
                    masked += 1
            fout.write(rh)
            fout.write(frame)
    print(f"{masked} handshake segments masked", file=sys.stderr)


if __name__ == "__main__":
    main()
