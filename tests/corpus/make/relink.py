#!/usr/bin/env python3
"""relink.py -- A6: link-type and file-format variants, rewritten from the real Ethernet captures.

Inputs (made by heartbeat.py and ipv6mix.py): ../heartbeat.pcap, ../ipv6-mixed.pcapng,
../ipv6-mixed-sll.pcap, ../keepalive.pcapng, ../portreuse.pcapng.
Outputs: ../link/*.pcap (link types) and ../fmt/* (container formats); see ../README.md.
Packet bytes above the link layer and timestamps are unchanged; only link headers and file
headers are rewritten.  Uses editcap/mergecap (Wireshark 4.0) for two of the outputs.
"""
import gzip
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capfile as cf  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
LINK, FMT = os.path.join(ROOT, "link"), os.path.join(ROOT, "fmt")


def ethertype(d):
    return struct.unpack(">H", d[12:14])[0]


def ip_only(pkts, versions=(4, 6)):
    """Ethernet -> bare IP packets (non-IP frames such as ARP are dropped)."""
    out = []
    for p in pkts:
        et = ethertype(p["data"])
        v = {0x0800: 4, 0x86DD: 6}.get(et)
        if v in versions:
            out.append(dict(p, data=p["data"][14:], orig=p["orig"] - 14, ipv=v))
    return out


def with_family(pkts, fam4, fam6, fmt):
    return [dict(p, data=struct.pack(fmt, fam4 if p["ipv"] == 4 else fam6) + p["data"], orig=p["orig"] + 4)
            for p in pkts]


def vlan(pkts, tags):
    """Insert 802.1Q/802.1ad tags (list of (tpid, vid, pcp)) after the MAC addresses."""
    out = []
    for p in pkts:
        d = p["data"]
        t = b"".join(struct.pack(">HH", tpid, (pcp << 13) | vid) for tpid, vid, pcp in tags)
        out.append(dict(p, data=d[:12] + t + d[12:], orig=p["orig"] + len(t)))
    return out


def main():
    os.makedirs(LINK, exist_ok=True)
    os.makedirs(FMT, exist_ok=True)
    hb, _ = cf.read(os.path.join(ROOT, "heartbeat.pcap"))
    v6, _ = cf.read(os.path.join(ROOT, "ipv6-mixed.pcapng"))
    L = lambda n: os.path.join(LINK, n)  # noqa: E731
    F = lambda n: os.path.join(FMT, n)  # noqa: E731

    # ---- link types (classic pcap, little-endian, microseconds unless noted)
    cf.write_pcap(L("ipv6-mixed-raw101.pcap"), ip_only(v6), 101, ns=True)
    cf.write_pcap(L("heartbeat-raw101.pcap"), ip_only(hb), 101)
    cf.write_pcap(L("heartbeat-ipv4-228.pcap"), ip_only(hb, (4,)), 228)
    cf.write_pcap(L("ipv6-mixed-ipv6-229.pcap"), ip_only(v6, (6,)), 229, ns=True)
    # LINKTYPE_NULL: 4-byte family in the *writer's host* byte order.  LE file: AF_INET=2, and
    # AF_INET6 as BSD/macOS write it (30 = Darwin).  BE file: family big-endian (as a SPARC/PPC
    # BSD would write), AF_INET6=24 (NetBSD/OpenBSD value).
    ipk = ip_only(v6)
    cf.write_pcap(L("ipv6-mixed-null0-le.pcap"), with_family(ipk, 2, 30, "<I"), 0)
    cf.write_pcap(L("ipv6-mixed-null0-be.pcap"), with_family(ipk, 2, 24, ">I"), 0, endian=">")
    # LINKTYPE_LOOP (108): family always in network byte order; AF_INET6=28 (FreeBSD value).
    cf.write_pcap(L("ipv6-mixed-loop108.pcap"), with_family(ipk, 2, 28, ">I"), 108)
    cf.write_pcap(L("heartbeat-vlan.pcap"), vlan(hb, [(0x8100, 77, 0)]), 1)
    cf.write_pcap(L("heartbeat-qinq.pcap"), vlan(hb, [(0x88A8, 100, 3), (0x8100, 77, 0)]), 1)
    cf.write_pcap(L("ipv6-mixed-vlan.pcap"), vlan(v6, [(0x8100, 4094, 5)]), 1, ns=True)

    # ---- classic pcap formats
    cf.write_pcap(F("heartbeat-us-be.pcap"), hb, 1, endian=">")
    cf.write_pcap(F("heartbeat-ns-be.pcap"), hb, 1, ns=True, endian=">")
    subprocess.run(["editcap", "-F", "nsecpcap", os.path.join(ROOT, "heartbeat.pcap"), F("heartbeat-ns.pcap")],
                   check=True)
    cf.write_pcap(F("ipv6-mixed-ns.pcap"), v6, 1, ns=True)   # keeps the ns digits dumpcap recorded
    with open(os.path.join(ROOT, "heartbeat.pcap"), "rb") as src, \
            gzip.GzipFile(F("heartbeat.pcap.gz"), "wb", mtime=0) as dst:
        dst.write(src.read())

    # ---- pcapng: two interfaces of different link types (mergecap output, chronological merge)
    subprocess.run(["mergecap", "-F", "pcapng", "-w", F("merged-eth-sll.pcapng"),
                    os.path.join(ROOT, "heartbeat.pcap"), os.path.join(ROOT, "ipv6-mixed-sll.pcap")], check=True)

    # ---- pcapng crafted: 3 interfaces, different link types and if_tsresol, interleaved
    # if0 Ethernet, if_tsresol=9 (ns); if1 RAW (101), no if_tsresol (default us);
    # if2 Ethernet + 802.1Q, if_tsresol=0x94 (2^-20 s).  Packet i of ipv6-mixed goes to if (i % 3).
    # A Name Resolution Block (IPv4 + IPv6 records) follows the IDBs.
    e = "<"
    res = {0: 9, 1: 6, 2: 0x94}
    out = cf.shb(e, comment="keepsight corpus: 3 interfaces, if_tsresol 9 / default / 0x94")
    out += cf.idb(1, tsresol=9, name="ksv6a-ns", e=e)
    out += cf.idb(101, name="raw-us", e=e)
    out += cf.idb(1, tsresol=0x94, name="vlan-2^-20", e=e)
    out += cf.nrb([("10.77.7.2", ["v6mix-server.test"]), ("fd77:7::2", ["v6mix-server.test"]),
                   ("fd77:7::1", ["v6mix-client.test", "client-alias.test"])], e=e)
    for i, p in enumerate(v6):
        k = i % 3
        d, orig = p["data"], p["orig"]
        if k == 1:
            if ethertype(d) not in (0x0800, 0x86DD):
                k = 0
            else:
                d, orig = d[14:], orig - 14
        if k == 2:
            d, orig = d[:12] + struct.pack(">HH", 0x8100, 7) + d[12:], orig + 4
        out += cf.epb(k, p["ts"], d, orig, tsresol=res[k], e=e,
                      comment=("first packet, if0 ns" if i == 0 else None))
    open(F("multi-if-tsresol.pcapng"), "wb").write(out)

    # ---- pcapng big-endian (SHB byte-order magic written big-endian), ns resolution
    e = ">"
    out = cf.shb(e, comment="big-endian section") + cf.idb(1, tsresol=9, name="kshbc", e=e)
    for p in hb:
        out += cf.epb(0, p["ts"], p["data"], p["orig"], tsresol=9, e=e)
    open(F("heartbeat-be.pcapng"), "wb").write(out)

    # ---- pcapng with simple packet blocks and blocks a reader must skip
    # frames 1-10 EPB; then a Custom Block (0x00000BAD, PEN 32473 = example PEN) and a block of an
    # unknown/reserved type 0x00000777; then frames 11.. as SPB (no timestamp, no interface id:
    # always interface 0; captured length = min(original length, IDB snaplen=128)).
    e = "<"
    out = cf.shb(e) + cf.idb(1, snaplen=128, e=e)
    for i, p in enumerate(hb):
        if i == 10:
            out += cf.custom_block(32473, b"keepsight: skip me")
            out += cf.block(0x00000777, b"unknown block type 0x777, skip me" + b"\x00" * 2, e)
        if i < 10:
            out += cf.epb(0, p["ts"], p["data"][:128], p["orig"], e=e)
        else:
            out += cf.spb(p["data"][:128], p["orig"], e=e)
    open(F("heartbeat-spb-custom.pcapng"), "wb").write(out)

    # ---- pcapng with two sections (two dumpcap files concatenated): interface ids restart
    with open(F("two-sections.pcapng"), "wb") as f:
        for n in ("keepalive.pcapng", "portreuse.pcapng"):
            f.write(open(os.path.join(ROOT, n), "rb").read())

    for d in (LINK, FMT):
        for n in sorted(os.listdir(d)):
            print(os.path.join(d, n), os.path.getsize(os.path.join(d, n)))


if __name__ == "__main__":
    main()
