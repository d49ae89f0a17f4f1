#!/usr/bin/env python3
"""make_bad.py -- B: damaged copies of small good captures -> ../bad/ (+ bad/TSHARK.txt).

Sources: ../heartbeat.pcap (classic pcap, LE, µs, Ethernet, 49 frames) and
../keepalive.pcapng (dumpcap pcapng, 25 frames).  Deterministic: same inputs -> same outputs.
Every damage is described in bad/README.md with byte offsets; this script prints the offsets it
used and writes what tshark 4.0.17 says about each file to bad/TSHARK.txt.
"""
import os
import re
import struct
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
BAD = os.path.join(ROOT, "bad")


def pcap_records(buf):
    """[(record_offset, incl_len)] for a LE classic pcap."""
    out, off = [], 24
    while off + 16 <= len(buf):
        incl = struct.unpack("<I", buf[off + 8:off + 12])[0]
        out.append((off, incl))
        off += 16 + incl
    return out


def pcapng_blocks(buf):
    out, off = [], 0
    while off + 12 <= len(buf):
        t, n = struct.unpack("<II", buf[off:off + 8])
        out.append((off, t, n))
        off += n
    return out


def main():
    os.makedirs(BAD, exist_ok=True)
    hb = open(os.path.join(ROOT, "heartbeat.pcap"), "rb").read()
    ka = open(os.path.join(ROOT, "keepalive.pcapng"), "rb").read()
    rec = pcap_records(hb)
    blk = pcapng_blocks(ka)
    epbs = [b for b in blk if b[1] == 6]
    files = {}
    notes = []

    def put(name, data, note):
        files[name] = data
        notes.append(f"{name}: {note}")

    r10, l10 = rec[9]  # frame 10 (1-based)
    put("trunc-in-record-header.pcap", hb[:r10 + 8],
        f"cut at byte {r10 + 8}: 8 of the 16 header bytes of frame 10's record (record at {r10})")
    put("trunc-in-packet-data.pcap", hb[:r10 + 16 + 30],
        f"cut at byte {r10 + 46}: frame 10 record at {r10}, incl_len {l10}, only 30 data bytes present")
    b = bytearray(hb)
    r5, l5 = rec[4]
    struct.pack_into("<I", b, r5 + 8, 300000)
    put("caplen-over-max.pcap", bytes(b),
        f"frame 5 record at {r5}: incl_len (byte {r5 + 8}) = 300000 > file snaplen 262144 (real {l5})")
    b = bytearray(hb)
    struct.pack_into("<I", b, r5 + 8, 0x7FFFFFFF)
    put("caplen-absurd.pcap", bytes(b), f"frame 5 record at {r5}: incl_len (byte {r5 + 8}) = 0x7fffffff")
    b = bytearray(hb)
    struct.pack_into("<I", b, 16, 64)
    put("hdr-snaplen-smaller-than-caplen.pcap", bytes(b),
        "file header snaplen (byte 16) = 64 but records keep caplen up to 74 (frames 5,6 are 74 bytes)")
    b = bytearray(hb)
    struct.pack_into("<I", b, r5 + 12, 40)
    put("origlen-lt-caplen.pcap", bytes(b),
        f"frame 5 record at {r5}: orig_len (byte {r5 + 12}) = 40 < incl_len {l5}")
    # snaplen cutting headers: frame 10 (TCP, 67 bytes) cut inside the TCP header, frame 20 inside
    # the IPv4 header (orig_len unchanged -> 'packet size limited during capture')
    b = bytearray()
    b += hb[:24]
    for i, (o, n) in enumerate(rec):
        h = bytearray(hb[o:o + 16])
        d = hb[o + 16:o + 16 + n]
        if i == 9:
            d = d[:14 + 20 + 10]
        elif i == 19:
            d = d[:14 + 10]
        struct.pack_into("<I", h, 8, len(d))
        b += h + d
    put("snaplen-cuts-headers.pcap", bytes(b),
        "frame 10 caplen 44 (Ethernet 14 + IPv4 20 + 10 of 32 TCP header bytes), frame 20 caplen 24 "
        "(Ethernet + 10 of 20 IPv4 header bytes); orig_len kept (67)")
    b = bytearray(hb)
    struct.pack_into("<I", b, 20, 147)
    put("linktype-147-user0.pcap", bytes(b), "file header linktype (byte 20) = 147 (LINKTYPE_USER0)")
    b = bytearray(hb)
    struct.pack_into("<I", b, 20, 65000)
    put("linktype-65000.pcap", bytes(b), "file header linktype (byte 20) = 65000 (not assigned)")
    garbage = bytes((i * 37 + 11) & 0xFF for i in range(37))
    put("trailing-garbage.pcap", hb + garbage,
        f"37 garbage bytes appended at byte {len(hb)} after the last record (frame 49)")
    put("empty.pcap", b"", "0 bytes")
    put("header-only.pcap", hb[:24], "valid 24-byte file header, no records (valid, 0 frames)")
    put("not-a-capture.txt", b"This is not a capture file.\nkeepsight test corpus\n", "plain text")

    # ---- pcapng
    o10, _t, n10 = epbs[9]
    b = bytearray(ka)
    struct.pack_into("<I", b, o10 + 4, n10 + 1)
    put("pcapng-blocklen-not-mult4.pcapng", bytes(b),
        f"EPB of frame 10 at byte {o10}: leading block total length = {n10 + 1} (not a multiple of 4; "
        f"trailing copy still {n10})")
    b = bytearray(ka)
    struct.pack_into("<I", b, o10 + n10 - 4, n10 + 8)
    put("pcapng-trailing-len-mismatch.pcapng", bytes(b),
        f"EPB of frame 10 at byte {o10}: trailing block total length (byte {o10 + n10 - 4}) = {n10 + 8}, "
        f"leading = {n10}")
    b = bytearray(ka)
    struct.pack_into("<I", b, o10 + 4, 0x7FFFFFF0)
    put("pcapng-blocklen-huge.pcapng", bytes(b),
        f"EPB of frame 10 at byte {o10}: block total length = 0x7ffffff0")
    b = bytearray(ka)
    struct.pack_into("<I", b, o10 + 8, 5)
    put("pcapng-bad-interface-id.pcapng", bytes(b),
        f"EPB of frame 10 at byte {o10}: interface id (byte {o10 + 8}) = 5, only interface 0 exists")
    put("pcapng-trunc-in-block.pcapng", ka[:o10 + 20],
        f"cut at byte {o10 + 20}, inside frame 10's EPB (block at {o10}, length {n10})")
    put("pcapng-trailing-garbage.pcapng", ka + garbage,
        f"37 garbage bytes appended at byte {len(ka)} after the last block")
    b = bytearray(ka)
    struct.pack_into("<I", b, 8, 0x12345678)
    put("pcapng-bad-bom.pcapng", bytes(b), "SHB byte-order magic (byte 8) = 0x12345678")

    for n, d in files.items():
        with open(os.path.join(BAD, n), "wb") as f:
            f.write(d)
    with open(os.path.join(BAD, "TSHARK.txt"), "w") as out:
        out.write("# `tshark -r FILE 2>&1 | grep -v 'Running as user' | tail -3` (TShark 4.0.17) and exit status\n")
        for n in sorted(files):
            r = subprocess.run(f"tshark -r {n} 2>&1; echo \"exit=$?\"", shell=True, cwd=BAD,
                               capture_output=True, text=True)
            lines = [x for x in r.stdout.splitlines() if "Running as user" not in x]
            nfr = len([x for x in lines if re.match(r"^ *[0-9]+ ", x)])
            out.write(f"\n== {n}   ({nfr} frame lines)\n" + "\n".join(lines[-4:]) + "\n")
    print("\n".join(notes))


if __name__ == "__main__":
    sys.exit(main())
