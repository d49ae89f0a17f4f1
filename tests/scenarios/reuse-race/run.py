#!/usr/bin/env python3
"""reuse-race -- clients reuse idle connections right at nginx's keepalive_timeout 2s (root; ~12 s).

Issue 15 class 10 (advice for reuse races).  nginx 1.22 on 10.77.72.1:8000 (ks-rr-s) with
`keepalive_timeout 2s;`.  Two clients (10.77.72.31, .32, ks-rr-c) each open 5 connections one
after another; on each: one GET, then the same connection is reused for a second GET exactly
DELAY seconds after the first response completed (the client's own clock), DELAY from
1.990 s to 2.060 s, straddling nginx's 2 s idle timer.  A reuse after nginx's FIN is answered by
RST (the race is lost: the client reads EOF); earlier ones are answered.  The driver records
which reuses won or lost from what its own socket returned; the client then closes (FIN).
Capture: client side.  No application log.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import kit  # noqa: E402
from kit import ksnet, r6  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SA, PORT, TIMEOUT = "10.77.72.1", 8000, 2.0
PLAN = {"10.77.72.31": [1.990, 2.004, 2.012, 2.030, 2.060], "10.77.72.32": [1.996, 2.000, 2.008, 2.020, 2.045]}


def client(ns, addr, out):
    for delay in PLAN[addr]:
        s = kit.connect(ns, SA, PORT, src=addr)
        conn = {"client_port": s.getsockname()[1], "reuse_delay_s": delay}
        r1 = kit.http_get(s, f"{SA}:{PORT}", "/first")
        assert r1["ended"] == "complete", r1
        t_done = time.time()
        time.sleep(max(0.0, t_done + delay - time.time()))
        r2 = kit.http_get(s, f"{SA}:{PORT}", "/reused")
        conn.update(first_done_t=r6(t_done), reuse_sent_t=r2["t_sent"],
                    reuse_after_s=round(r2["t_sent"] - t_done, 6), reuse_outcome=r2["ended"],
                    won=r2["ended"] == "complete")
        s.close()
        out.append(conn)
        time.sleep(0.1)


def main():
    c, s, cif, _sif = kit.pair("rr", list(PLAN), [SA])
    ngx, _ = kit.nginx(s, "/tmp/ks-rr-nginx", f"""
    keepalive_timeout {TIMEOUT:.0f}s;
    server {{
        listen {SA}:{PORT};
        location / {{ return 200 "hello $uri\\n"; }}
    }}""")
    kit.wait_port(c, SA, PORT)
    cap = ksnet.Capture(c, cif, os.path.join(HERE, "capture.pcapng"))
    out = {a: [] for a in PLAN}
    ths = [threading.Thread(target=client, args=(c, a, out[a])) for a in PLAN]
    for th in ths:
        th.start()
        time.sleep(0.5)
    for th in ths:
        th.join(timeout=60)
    time.sleep(0.5)
    cap.stop()
    ngx.terminate()

    conns = [x for a in PLAN for x in out[a]]
    lost = [x for x in conns if not x["won"]]
    won = [x for x in conns if x["won"]]
    assert lost and won, conns
    cap_ = "capture.pcapng"
    server = f"{SA}:{PORT}"
    http = {"capture": cap_, "command": "http", "args": []}
    diag = {"capture": cap_, "command": "diagnose", "args": []}
    facts = [
        dict(diag, id=f"{len(lost)} reuses lost the race against nginx's 2 s idle timeout",
             check={"finding": "http_reuse_race", "count": len(lost),
                    "where": {"server_idle_timeout_s": [1.95, 2.05]}}),
        dict(diag, id="the advice names Go's Transport.IdleConnTimeout",
             check={"finding": "http_reuse_race", "where": {"advice.*.setting": {"contains": "Transport.IdleConnTimeout"}}}),
        dict(diag, id="the advice names hyper's pool_idle_timeout",
             check={"finding": "http_reuse_race", "where": {"advice.*.setting": {"contains": "pool_idle_timeout"}}}),
        dict(diag, id="the advice covers at least 6 clients (Go, Node, Python, Java, hyper, nginx)",
             check={"finding": "http_reuse_race", "where": {"advice": {"len": {"gt": 5}}}}),
        dict(diag, id="every advised idle timeout is below the server's 2 s",
             check={"finding": "http_reuse_race", "where": {"advice.*.value_s": {"lt": TIMEOUT}}}),
        dict(diag, id="the summary names the reuse race",
             check={"cause": "http_reuse_race", "conn": {"client_port": lost[0]["client_port"]}, "count": len(lost)}),
        dict(http, id=f"the reuse {lost[0]['reuse_after_s']:.3f} s after the response lost the race",
             check={"http_connection": {"client_port": lost[0]["client_port"]}, "where": {"close.kind": "reuse_race"}}),
        dict(http, id=f"the reuse {won[0]['reuse_after_s']:.3f} s after the response was answered",
             check={"http_connection": {"client_port": won[0]["client_port"]}, "where": {"responses": 2}}),
        dict(http, id="nginx's idle timeout is measured as 2 s",
             check={"http_server": server, "where": {"idle_timeout_min_ns": [1.95e9, 2.05e9]}}),
        dict(http, id="no drain at nginx here", check={"http_server": server, "where": {"drain": {"present": False}}}),
    ]
    truth = {
        "scenario": "reuse-race",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture)",
        "capture": "capture.pcapng (dumpcap on the client veth ksrrc)",
        "server": server, "nginx": {"version": "1.22.1", "keepalive_timeout_s": TIMEOUT},
        "connections": conns, "lost": len(lost), "won": len(won),
        "facts": facts,
    }
    kit.finish(HERE, truth, None, [cap_])
    print("won", [(x["client_port"], x["reuse_after_s"]) for x in won])
    print("lost", [(x["client_port"], x["reuse_after_s"], x["reuse_outcome"]) for x in lost])


if __name__ == "__main__":
    main()
