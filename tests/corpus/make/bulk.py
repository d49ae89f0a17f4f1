#!/usr/bin/env python3
"""bulk.py -- A4: bulk transfer through a lossy, reordering router namespace (run as root).

ks-bk-tx (10.77.4.1) -- ks-bk-r (router 10.77.4.254 | 10.77.5.254) -- ks-bk-rx (10.77.5.1)
No sch_netem on this kernel, so loss and reordering are made with what is there:
  * loss: router FORWARD, tx->rx data only: iptables -m statistic --mode random --probability 0.02 -j DROP
  * reordering/delay: router egress to rx is HTB; default class 1:10 at 8 Mbit/s, and ~3 % of the
    tx->rx packets (iptables mangle CLASSIFY, random) go to class 1:20 at 200 kbit/s, so they are
    held back ~25 ms behind later packets (real reordering at the receiver).
The sender uses TCP_MAXSEG 536 (both ends) and sends 200 000 bytes, the receiver reads everything.
Two captures, both with snaplen 96 (tcp.len must come from the IP total length, not caplen):
  OUT_rx.pcap   on the receiver's veth (classic pcap): gaps, out-of-order, dup ACKs, SACK
  OUT_tx.pcapng on the sender's veth (pcapng): every original + its retransmission
Needs ethtool (offloads off, so segments are wire-sized).
Usage: bulk.py [OUTSTEM] (default ../bulk-loss)
"""
import os, socket, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ksnet  # noqa: E402

TX, R, RX = "ks-bk-tx", "ks-bk-r", "ks-bk-rx"
PORT, SIZE = 47004, 200_000

def main():
    stem = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ksnet.CORPUS, "bulk-loss"))
    for n in (TX, R, RX):
        ksnet.add_ns(n)
    ksnet.veth(TX, "ksbktx", R, "ksbkr1", ["10.77.4.1/24"], ["10.77.4.254/24"], offload=False)
    ksnet.veth(R, "ksbkr2", RX, "ksbkrx", ["10.77.5.254/24"], ["10.77.5.1/24"], offload=False)
    ksnet.nsx(TX, "ip route add default via 10.77.4.254")
    ksnet.nsx(RX, "ip route add default via 10.77.5.254")
    ksnet.nsx(R, "sysctl -qw net.ipv4.ip_forward=1")
    ksnet.nsx(R, "iptables -A FORWARD -i ksbkr1 -p tcp --dport %d -m length --length 100:2000 "
                 "-m statistic --mode random --probability 0.02 -j DROP" % PORT)
    ksnet.nsx(R, "tc qdisc add dev ksbkr2 root handle 1: htb default 10 && "
                 "tc class add dev ksbkr2 parent 1: classid 1:10 htb rate 8mbit burst 3000 && "
                 "tc class add dev ksbkr2 parent 1: classid 1:20 htb rate 200kbit burst 700 cburst 700")
    ksnet.nsx(R, "iptables -t mangle -A POSTROUTING -o ksbkr2 -p tcp --dport %d "
                 "-m statistic --mode random --probability 0.03 -j CLASSIFY --set-class 1:20" % PORT)
    with ksnet.in_ns(RX):
        ls = socket.socket()
        ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
        ls.bind(("10.77.5.1", PORT)); ls.listen(1)
    got = []
    def rx():
        c, _ = ls.accept()
        n = 0
        while True:
            b = c.recv(65536)
            if not b:
                break
            n += len(b)
        got.append(n); c.close()
    th = threading.Thread(target=rx, daemon=True); th.start()
    caps = [ksnet.Capture(RX, "ksbkrx", stem + "-rx.pcap", fmt="pcap", snaplen=96),
            ksnet.Capture(TX, "ksbktx", stem + "-tx.pcapng", snaplen=96)]
    with ksnet.in_ns(TX):
        s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    s.settimeout(30)
    s.connect(("10.77.5.1", PORT))
    t0 = time.time()
    s.sendall(bytes(i & 0xff for i in range(SIZE)))
    s.shutdown(socket.SHUT_WR)
    th.join(timeout=30)
    s.close()
    print("received", got, "in %.3fs" % (time.time() - t0))
    print(ksnet.nsx(R, "iptables -L FORWARD -v -n; iptables -t mangle -L POSTROUTING -v -n"))
    time.sleep(0.5)
    for c in caps:
        print(c.stop())

if __name__ == "__main__":
    main()
