#!/usr/bin/env python3
"""keepalive-dead-peer -- kernel keep-alive on a connection whose peer vanishes (run as root; ~20 s).

ks-kd-c (client 10.77.20.2) -- veth -- ks-kd-s (server 10.77.20.1:47020).
The client socket has SO_KEEPALIVE, TCP_KEEPIDLE=2, TCP_KEEPINTVL=1, TCP_KEEPCNT=3.
  1. request "GET state\n" (10 B) / answer "state=ok\n" (9 B)
  2. idle 7 s: the client kernel probes after 2 s idle, the server kernel answers each probe
  3. the server is cut off: iptables DROP of everything in the server namespace (INPUT+OUTPUT)
  4. probes go unanswered, 1 s apart; after 3 unanswered probes the client kernel sends RST and
     the client's blocking recv() fails with ETIMEDOUT; the app logs it and gives up.
Two captures: capture-client.pcapng (client veth: probes, missing answers, the kernel's RST) and
capture-server.pcapng (server veth: the probes and the RST still *arrive* there, because
AF_PACKET sees packets before netfilter drops them, but no answers leave).
The driver polls TCP_INFO on the client socket every 5 ms: tcpi_probes (unanswered probes) and
tcpi_last_ack_recv give the kernel's own account of when each unanswered probe went out.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import AppLog, ksnet, r6, tcp_info, write_truth  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
C, S = "ks-kd-c", "ks-kd-s"
CA, SA, PORT = "10.77.20.2", "10.77.20.1", 47020
IDLE, INTVL, CNT = 2, 1, 3
app = AppLog()


def main():
    ksnet.add_ns(C)
    ksnet.add_ns(S)
    ksnet.veth(C, "kskdc", S, "kskds", [CA + "/24"], [SA + "/24"], offload=False)
    with ksnet.in_ns(S):
        ls = socket.socket()
        ls.bind((SA, PORT))
        ls.listen(1)
    caps = [ksnet.Capture(C, "kskdc", os.path.join(HERE, "capture-client.pcapng")),
            ksnet.Capture(S, "kskds", os.path.join(HERE, "capture-server.pcapng"))]
    with ksnet.in_ns(C):
        c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, IDLE)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, INTVL)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, CNT)
    c.connect((SA, PORT))
    t_conn = time.time()
    port = c.getsockname()[1]
    app.log("client", "info", f"connected to {SA}:{PORT} from port {port} (keepalive idle={IDLE}s intvl={INTVL}s cnt={CNT})", t_conn)
    sc, _ = ls.accept()
    c.sendall(b"GET state\n")
    t_req = time.time()
    sc.recv(100)
    sc.sendall(b"state=ok\n")
    c.recv(100)
    t_last_data = time.time()
    app.log("client", "info", "state=ok", t_last_data)

    # poll TCP_INFO in the background
    samples, stop = [], threading.Event()

    def poll():
        last = None
        while not stop.is_set():
            try:
                ti = tcp_info(c)
            except OSError:
                break
            key = (ti["probes"], ti["state"])
            if key != last:
                samples.append({"t": r6(time.time()), **ti})
                last = key
            time.sleep(0.005)
    pt = threading.Thread(target=poll, daemon=True)
    pt.start()

    time.sleep(7.0)
    ksnet.nsx(S, "iptables -A INPUT -j DROP; iptables -A OUTPUT -j DROP; ip6tables -A INPUT -j DROP; ip6tables -A OUTPUT -j DROP")
    t_cut = time.time()
    c.settimeout(30)
    err = None
    try:
        r = c.recv(100)
        err = f"recv returned {r!r}"
    except OSError as e:
        err = repr(e)
    t_err = time.time()
    app.log("client", "error", f"connection to {SA}:{PORT} lost: {err}", t_err)
    time.sleep(0.5)
    stop.set()
    pt.join(timeout=1)
    for cp in caps:
        cp.stop()
    c.close()
    sc.close()
    unanswered = []
    prev = 0
    for s in samples:
        if s["probes"] > prev:
            unanswered.append({"k": s["probes"], "observed_t": s["t"]})
        prev = s["probes"]
    truth = {
        "scenario": "keepalive-dead-peer",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the captures); app.log UTC HH:MM:SS",
        "captures": {"capture-client.pcapng": "client veth kskdc", "capture-server.pcapng": "server veth kskds"},
        "client": f"{CA}:{port}", "server": f"{SA}:{PORT}",
        "keepalive": {"side": "client", "idle_s": IDLE, "interval_s": INTVL, "count": CNT},
        "connect_t": r6(t_conn), "request_t": r6(t_req), "last_data_t": r6(t_last_data),
        "peer_cut_t": r6(t_cut),
        "peer_cut_how": "iptables/ip6tables DROP all INPUT and OUTPUT in the server namespace",
        "expected": {
            "answered_probes": "every ~idle_s (2 s) while the peer answers, first ~2 s after the last data",
            "unanswered_probes": CNT, "unanswered_interval_s": INTVL,
            "kernel_gives_up": f"after {CNT} unanswered probes: client kernel sends RST, recv() -> ETIMEDOUT",
        },
        "unanswered_probes_observed_via_tcp_info": unanswered,
        "tcp_info_samples": samples,
        "client_error_t": r6(t_err), "client_error": err,
    }
    write_truth(os.path.join(HERE, "truth.json"), truth)
    app.write(os.path.join(HERE, "app.log"))
    print(err, unanswered)


if __name__ == "__main__":
    main()
