"""capfile -- minimal pcap / pcapng reader and writer (Python stdlib), for the corpus rewriters.

Packets are dicts: {"ts": (sec, nsec), "data": bytes, "orig": int, "if": int (pcapng interface),
"linktype": int}.  Timestamps are kept as integer seconds + nanoseconds so nothing is rounded.
"""
import struct

PCAP_US, PCAP_NS = 0xA1B2C3D4, 0xA1B23C4D


# ------------------------------------------------------------------ reading
def read(path):
    """Read a classic pcap or a pcapng file; returns (packets, info)."""
    with open(path, "rb") as f:
        buf = f.read()
    magic = buf[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        return _read_pcapng(buf)
    return _read_pcap(buf)


def _read_pcap(buf):
    m_le = struct.unpack("<I", buf[:4])[0]
    if m_le in (PCAP_US, PCAP_NS):
        e = "<"
    else:
        e = ">"
    magic, vmaj, vmin, _tz, _sig, snaplen, lt = struct.unpack(e + "IHHiIII", buf[:24])
    ns = magic == PCAP_NS
    pkts, off = [], 24
    while off + 16 <= len(buf):
        sec, frac, incl, orig = struct.unpack(e + "IIII", buf[off:off + 16])
        off += 16
        data = buf[off:off + incl]
        off += incl
        pkts.append({"ts": (sec, frac if ns else frac * 1000), "data": data, "orig": orig,
                     "if": 0, "linktype": lt})
    return pkts, {"format": "pcap", "snaplen": snaplen, "linktype": lt, "ns": ns, "endian": e}


def _read_pcapng(buf):
    pkts, ifs, off, e = [], [], 0, "<"
    while off + 12 <= len(buf):
        btype = struct.unpack(e + "I", buf[off:off + 4])[0]
        if btype == 0x0A0D0D0A:
            bom = buf[off + 8:off + 12]
            e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            ifs = []
        blen = struct.unpack(e + "I", buf[off + 4:off + 8])[0]
        body = buf[off + 8:off + blen - 4]
        if btype == 1:  # IDB
            lt, _r, snap = struct.unpack(e + "HHI", body[:8])
            tsresol = 6
            o = 8
            while o + 4 <= len(body):
                code, ln = struct.unpack(e + "HH", body[o:o + 4])
                if code == 0:
                    break
                if code == 9:
                    tsresol = body[o + 4]
                o += 4 + ((ln + 3) & ~3)
            ifs.append((lt, snap, tsresol))
        elif btype == 6:  # EPB
            ifid, hi, lo, cap, orig = struct.unpack(e + "IIIII", body[:20])
            lt, _snap, res = ifs[ifid]
            units = (hi << 32) | lo
            if res & 0x80:
                div = 1 << (res & 0x7F)
            else:
                div = 10 ** res
            sec = units // div
            nsec = (units % div) * 1_000_000_000 // div
            pkts.append({"ts": (sec, nsec), "data": body[20:20 + cap], "orig": orig, "if": ifid,
                         "linktype": lt})
        off += blen
    return pkts, {"format": "pcapng", "interfaces": ifs, "endian": e}


# ------------------------------------------------------------------ classic pcap writing
def write_pcap(path, pkts, linktype, ns=False, endian="<", snaplen=262144):
    e = endian
    with open(path, "wb") as f:
        f.write(struct.pack(e + "IHHiIII", PCAP_NS if ns else PCAP_US, 2, 4, 0, 0, snaplen, linktype))
        for p in pkts:
            sec, nsec = p["ts"]
            frac = nsec if ns else nsec // 1000
            d = p["data"]
            f.write(struct.pack(e + "IIII", sec, frac, len(d), max(p.get("orig", len(d)), len(d))))
            f.write(d)


# ------------------------------------------------------------------ pcapng writing
def _pad4(b):
    return b + b"\x00" * (-len(b) % 4)


def opt(code, value, e="<"):
    return struct.pack(e + "HH", code, len(value)) + _pad4(value)


def opts_end(e="<"):
    return struct.pack(e + "HH", 0, 0)


def block(btype, body, e="<"):
    body = _pad4(body)
    n = 12 + len(body)
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def shb(e="<", comment=None, userappl=b"keepsight corpus capfile.py"):
    body = struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    o = b""
    if comment:
        o += opt(1, comment.encode(), e)
    o += opt(4, userappl, e)
    body += o + opts_end(e)
    return block(0x0A0D0D0A, body, e)


def idb(linktype, snaplen=262144, tsresol=None, name=None, e="<"):
    body = struct.pack(e + "HHI", linktype, 0, snaplen)
    o = b""
    if name:
        o += opt(2, name.encode(), e)
    if tsresol is not None:
        o += opt(9, bytes([tsresol]), e)
    if o:
        body += o + opts_end(e)
    return block(1, body, e)


def epb(ifid, ts, data, orig=None, tsresol=6, e="<", comment=None):
    sec, nsec = ts
    if tsresol & 0x80:
        div = 1 << (tsresol & 0x7F)
    else:
        div = 10 ** tsresol
    units = sec * div + nsec * div // 1_000_000_000
    body = struct.pack(e + "IIIII", ifid, units >> 32, units & 0xFFFFFFFF, len(data),
                       orig if orig is not None else len(data)) + _pad4(data)
    if comment:
        body += opt(1, comment.encode(), e) + opts_end(e)
    return block(6, body, e)


def spb(data, orig=None, e="<"):
    return block(3, struct.pack(e + "I", orig if orig is not None else len(data)) + _pad4(data), e)


def custom_block(pen, payload, copyable=True, e="<"):
    """Custom Block: type 0x00000BAD may be copied by rewriters, 0x40000BAD must not be."""
    return block(0x00000BAD if copyable else 0x40000BAD, struct.pack(e + "I", pen) + payload, e)


def nrb(entries, e="<"):
    """Name Resolution Block: entries = [(ip_string, [names])]; IPv4 -> record 1, IPv6 -> record 2."""
    import socket as _s
    body = b""
    for ip, names in entries:
        if ":" in ip:
            rt, a = 2, _s.inet_pton(_s.AF_INET6, ip)
        else:
            rt, a = 1, _s.inet_aton(ip)
        v = a + b"".join(n.encode() + b"\x00" for n in names)
        body += struct.pack(e + "HH", rt, len(v)) + _pad4(v)
    body += struct.pack(e + "HH", 0, 0)
    return block(4, body, e)
