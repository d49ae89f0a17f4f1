#!/usr/bin/env python3
"""nat-idle-drop -- a NAT forgets an idle connection (run as root; ~25 s per variant).

ks-nd-c client 10.77.30.2 --- ks-nd-n NAT 10.77.30.1 | 10.77.31.1 (MASQUERADE) --- ks-nd-s server 10.77.31.2:47030
NAT namespace: net.netfilter.nf_conntrack_tcp_timeout_established = 5 (s).
  1. client connects, "hello\\n" / "world\\n"
  2. the connection idles 8 s; the driver polls `conntrack -L` in the NAT namespace every 0.25 s
     and records when the entry disappears (> 5 s after the last packet)
  3. the client sends "are you there?\\n" (15 B).  What happens next depends on the NAT:
     variant strict (default; out dir .):  nf_conntrack_tcp_loose=0 and a typical firewall rule
        `FORWARD -m conntrack --ctstate INVALID -j DROP`: the mid-stream segment has no state, is
        INVALID and dropped.  The client kernel retransmits with exponential back-off;
        TCP_USER_TIMEOUT=6000 ms makes it give up after ~6 s (ETIMEDOUT).  The app then reconnects
        (a new SYN creates new NAT state) and the exchange works again.
     variant loose (out dir loose/): Linux default nf_conntrack_tcp_loose=1, no INVALID rule: the
        NAT picks the connection up again mid-stream and MASQUERADE keeps the source port, so
        the late segment reaches the server and is answered -- the idle timeout was harmless.
  4. at the end the server closes its (possibly half-dead) old socket.
Captures: capture-client.pcapng (client veth) and capture-server.pcapng (server veth, i.e. the
NAT's public side: the client appears as 10.77.31.1).  truth.json, app.log (client app).
Usage: run.py [strict|loose]
"""
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import AppLog, ksnet, r6, tcp_info, write_truth  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
C, N, S = "ks-nd-c", "ks-nd-n", "ks-nd-s"
CA, NI, NO, SA, PORT = "10.77.30.2", "10.77.30.1", "10.77.31.1", "10.77.31.2", 47030
CT_TIMEOUT, IDLE_S, USER_TIMEOUT_MS = 5, 8.0, 6000
app = AppLog()


def conntrack_entries():
    r = subprocess.run(["ip", "netns", "exec", N, "conntrack", "-L", "-p", "tcp", "--dport", str(PORT)],
                       capture_output=True, text=True)
    return [ln for ln in r.stdout.splitlines() if "dport=%d" % PORT in ln]


def main():
    variant = sys.argv[1] if len(sys.argv) > 1 else "strict"
    assert variant in ("strict", "loose")
    out = HERE if variant == "strict" else os.path.join(HERE, "loose")
    os.makedirs(out, exist_ok=True)
    for n in (C, N, S):
        ksnet.add_ns(n)
    ksnet.veth(C, "ksndc", N, "ksndn1", [CA + "/24"], [NI + "/24"], offload=False)
    ksnet.veth(N, "ksndn2", S, "ksnds", [NO + "/24"], [SA + "/24"], offload=False)
    ksnet.nsx(C, f"ip route add default via {NI}")
    ksnet.nsx(N, "sysctl -qw net.ipv4.ip_forward=1")
    ksnet.nsx(N, "iptables -t nat -A POSTROUTING -o ksndn2 -j MASQUERADE")
    ksnet.nsx(N, f"sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_established={CT_TIMEOUT}")
    if variant == "strict":
        ksnet.nsx(N, "sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0")
        ksnet.nsx(N, "iptables -A FORWARD -m conntrack --ctstate INVALID -j DROP")
    nat_cfg = {
        "nf_conntrack_tcp_timeout_established": int(ksnet.nsx(N, "sysctl -n net.netfilter.nf_conntrack_tcp_timeout_established")),
        "nf_conntrack_tcp_loose": int(ksnet.nsx(N, "sysctl -n net.netfilter.nf_conntrack_tcp_loose")),
        "invalid_drop_rule": variant == "strict",
        "nat": f"MASQUERADE to {NO}",
    }
    with ksnet.in_ns(S):
        ls = socket.socket()
        ls.bind((SA, PORT))
        ls.listen(4)
    srv_conns, srv_events = [], []

    def server():
        ls.settimeout(0.2)
        while not stop.is_set():
            try:
                sc, peer = ls.accept()
            except socket.timeout:
                continue
            srv_conns.append(sc)
            srv_events.append({"t": r6(time.time()), "event": f"accepted from {peer[0]}:{peer[1]}"})
            threading.Thread(target=serve, args=(sc, peer), daemon=True).start()

    def serve(sc, peer):
        sc.settimeout(60)
        try:
            while True:
                d = sc.recv(100)
                if not d:
                    break
                srv_events.append({"t": r6(time.time()), "event": f"got {d!r} from {peer[0]}:{peer[1]}"})
                sc.sendall(b"world\n" if d == b"hello\n" else b"yes\n")
        except OSError as e:
            srv_events.append({"t": r6(time.time()), "event": f"{peer}: {e!r}"})

    stop = threading.Event()
    st = threading.Thread(target=server, daemon=True)
    st.start()
    caps = [ksnet.Capture(C, "ksndc", os.path.join(out, "capture-client.pcapng")),
            ksnet.Capture(S, "ksnds", os.path.join(out, "capture-server.pcapng"))]

    def connect():
        with ksnet.in_ns(C):
            s = socket.socket()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, USER_TIMEOUT_MS)
        s.settimeout(5)
        s.connect((SA, PORT))
        return s
    s = connect()
    t_conn = time.time()
    port1 = s.getsockname()[1]
    app.log("client", "info", f"connected to {SA}:{PORT} from {CA}:{port1}", t_conn)
    s.sendall(b"hello\n")
    s.recv(100)
    t_last = time.time()
    time.sleep(0.2)
    ct_first = conntrack_entries()
    # idle, watching the NAT state
    t_gone = None
    t_end_idle = t_last + IDLE_S
    while time.time() < t_end_idle:
        if t_gone is None and not conntrack_entries():
            t_gone = time.time()
        time.sleep(0.25)
    t_send = time.time()
    s.sendall(b"are you there?\n")
    app.log("client", "info", "sent status query after idle", t_send)
    s.settimeout(USER_TIMEOUT_MS / 1000 + 10)
    result = {}
    try:
        r = s.recv(100)
        t_r = time.time()
        result = {"outcome": "answered", "reply": r.decode(), "t": r6(t_r)}
        app.log("client", "info", f"reply {r!r}", t_r)
    except OSError as e:
        t_r = time.time()
        ti = None
        try:
            ti = tcp_info(s)
        except OSError:
            pass
        result = {"outcome": "error", "error": repr(e), "t": r6(t_r), "tcp_info_at_error": ti}
        app.log("client", "error", f"status query failed: {e}", t_r)
    ct_after = conntrack_entries()
    s.close()
    second = None
    if result["outcome"] == "error":
        time.sleep(0.5)
        app.log("client", "info", "restart: reconnecting")
        s2 = connect()
        t2 = time.time()
        p2 = s2.getsockname()[1]
        app.log("client", "info", f"connected to {SA}:{PORT} from {CA}:{p2}", t2)
        s2.sendall(b"hello\n")
        r2 = s2.recv(100)
        time.sleep(0.3)
        s2.close()
        second = {"client_port": p2, "connect_t": r6(t2), "reply": r2.decode(), "closed_t": r6(time.time())}
    time.sleep(0.5)
    t_srv_close = time.time()
    for sc in srv_conns:
        try:
            sc.shutdown(socket.SHUT_RDWR)   # FIN (close() alone would not wake the blocked recv)
        except OSError:
            pass
        sc.close()
    time.sleep(2.0)
    stop.set()
    for cp in caps:
        cp.stop()
    truth = {
        "scenario": "nat-idle-drop", "variant": variant,
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the captures); app.log UTC HH:MM:SS",
        "captures": {"capture-client.pcapng": f"client veth ksndc (client is {CA})",
                     "capture-server.pcapng": f"server veth ksnds (client appears as {NO}, NAT'ed port)"},
        "server": f"{SA}:{PORT}", "client": f"{CA}:{port1}", "nat_public_addr": NO,
        "nat_config": nat_cfg, "client_tcp_user_timeout_ms": USER_TIMEOUT_MS,
        "connect_t": r6(t_conn), "last_packet_exchange_t": r6(t_last),
        "conntrack_entry_after_connect": ct_first,
        "conntrack_entry_gone_observed_t": r6(t_gone),
        "idle_s": IDLE_S, "send_after_idle_t": r6(t_send),
        "after_idle": result, "conntrack_after": ct_after,
        "reconnect": second, "server_closes_sockets_t": r6(t_srv_close),
        "server_events": srv_events,
    }
    write_truth(os.path.join(out, "truth.json"), truth)
    app.write(os.path.join(out, "app.log"))
    print(variant, result, "gone at", t_gone and round(t_gone - t_last, 2))


if __name__ == "__main__":
    main()
