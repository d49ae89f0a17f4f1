#!/usr/bin/env python3
"""ipv6mix.py -- A5: IPv6 + IPv4, TCP + UDP, fragments, captured three ways (run as root; needs ethtool).

ks-v6-a (10.77.7.1, fd77:7::1) -- veth (MTU 1500) -- ks-v6-b (10.77.7.2, fd77:7::2)
 1. TCP over IPv6 to [fd77:7::2]:47007: 1-byte 0x01 heartbeats answered 0x41 every 0.5 s; the 3rd
    client beat is dropped once (ip6tables nth in ks-v6-b) -> kernel retransmission, which tshark
    flags [TCP Keep-Alive]; graceful FIN close.
 2. UDP over IPv6 port 47008: "ping6"/"pong6", then one 3000-byte datagram a->b: the sending
    kernel fragments it (IPv6 Fragment extension header, 2 fragments), b answers "got N".
 3. UDP over IPv4 port 47008: "ping4"/"pong4", then one 3000-byte datagram a->b (IPv4 fragments,
    MF flag / offsets), b answers "got N".
 4. TCP over IPv6 to [fd77:7::2]:47009 from a socket with a sticky IPV6_DSTOPTS option (8-byte
    Destination Options header holding one PadN option): every client->server segment has
    next-header 60 before TCP (the kernel inserts it); 2 beats, FIN close.
 (The MLDv2 reports from the fresh interfaces carry a Hop-by-Hop Options header too.)
Captures started together in ks-v6-a:
  OUT.pcapng       dumpcap -i ksv6a (Ethernet, pcapng)
  OUT-sll.pcap     dumpcap -i any -y LINUX_SLL  (linktype 113, classic pcap)
  OUT-sll2.pcap    dumpcap -i any -y LINUX_SLL2 (linktype 276, classic pcap)
Usage: ipv6mix.py [OUTSTEM] (default ../ipv6-mixed)
"""
import os, socket, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ksnet  # noqa: E402

A, B = "ks-v6-a", "ks-v6-b"
log = []
def ev(m): log.append(f"{time.time():.6f} {m}")

def main():
    stem = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ksnet.CORPUS, "ipv6-mixed"))
    ksnet.add_ns(A); ksnet.add_ns(B)
    ksnet.veth(A, "ksv6a", B, "ksv6b", ["10.77.7.1/24", "fd77:7::1/64"], ["10.77.7.2/24", "fd77:7::2/64"],
               mtu=1500, offload=False)
    time.sleep(0.5)
    with ksnet.in_ns(B):
        ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        ls.bind(("fd77:7::2", 47007)); ls.listen(1)
        u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u6.bind(("fd77:7::2", 47008))
        u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u4.bind(("10.77.7.2", 47008))
        ls2 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        ls2.bind(("fd77:7::2", 47009)); ls2.listen(1)
    def srv():
        c, _ = ls.accept()
        while True:
            b = c.recv(1)
            if not b:
                break
            c.sendall(b"\x41")
        c.close()
    def srv2():
        c, _ = ls2.accept()
        while True:
            b = c.recv(1)
            if not b:
                break
            c.sendall(b"\x41")
        c.close()

    def udp_srv(u):
        u.settimeout(10)
        for _ in range(2):
            d, peer = u.recvfrom(65535)
            u.sendto(b"pong" + d[4:5] if len(d) < 10 else b"got %d" % len(d), peer)
    ths = [threading.Thread(target=f, args=a, daemon=True) for f, a in ((srv, ()), (udp_srv, (u6,)), (udp_srv, (u4,)), (srv2, ()))]
    for t in ths:
        t.start()
    caps = [ksnet.Capture(A, "ksv6a", stem + ".pcapng"),
            ksnet.Capture(A, "any", stem + "-sll.pcap", fmt="pcap", linktype="LINUX_SLL"),
            ksnet.Capture(A, "any", stem + "-sll2.pcap", fmt="pcap", linktype="LINUX_SLL2")]
    with ksnet.in_ns(A):
        c = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        cu6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        cu4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.settimeout(5)
    c.connect(("fd77:7::2", 47007)); ev(f"tcp6 connected port {c.getsockname()[1]}")
    for k in range(1, 6):
        time.sleep(0.5)
        if k == 3:
            # IPv6 payload length 32 (TCP hdr with timestamps) + 1 -> ip6tables length = 40 + 33 = 73
            ksnet.nsx(B, "ip6tables -A INPUT -p tcp --dport 47007 -m length --length 73 "
                         "-m statistic --mode nth --every 1000 --packet 0 -j DROP")
        c.sendall(b"\x01"); ev(f"tcp6 beat {k} sent")
        c.recv(1); ev(f"tcp6 beat {k} answered")
        if k == 3:
            ksnet.nsx(B, "ip6tables -F INPUT")
    c.shutdown(socket.SHUT_WR); c.recv(1); c.close(); ev("tcp6 closed (FIN)")
    time.sleep(0.3)
    for cu, dst in ((cu6, ("fd77:7::2", 47008)), (cu4, ("10.77.7.2", 47008))):
        cu.settimeout(5)
        tag = b"6" if cu is cu6 else b"4"
        cu.sendto(b"ping" + tag, dst); ev(f"udp{tag.decode()} ping -> {cu.recv(100)!r}")
        time.sleep(0.2)
        cu.sendto(bytes(range(256)) * 11 + bytes(184), dst)  # 3000 bytes
        ev(f"udp{tag.decode()} 3000-byte datagram -> {cu.recv(100)!r}")
        time.sleep(0.2)
    with ksnet.in_ns(A):
        c2 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    c2.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, bytes([0, 0, 1, 4, 0, 0, 0, 0]))
    c2.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c2.settimeout(5)
    c2.connect(("fd77:7::2", 47009)); ev(f"tcp6+dstopts connected port {c2.getsockname()[1]}")
    for k in range(1, 3):
        time.sleep(0.3)
        c2.sendall(b"\x01"); c2.recv(1); ev(f"tcp6+dstopts beat {k} answered")
    c2.shutdown(socket.SHUT_WR); c2.recv(1); c2.close(); ev("tcp6+dstopts closed (FIN)")
    time.sleep(0.3)
    for cp in caps:
        print(cp.stop())
    open(stem + ".log", "w").write("\n".join(log) + "\n")

if __name__ == "__main__":
    main()
