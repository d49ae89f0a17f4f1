#!/usr/bin/env python3
"""nginx-limit5 -- nginx closes every keep-alive connection after its 5th request (root; ~15 s).

Issue 15 class 9, the contrast to haproxy-drain: a real request limit.  nginx 1.22 on
10.77.71.1:8088 (ks-nl-s) with `keepalive_requests 5; keepalive_timeout 30s;`.  Two clients
(10.77.71.21, .22, ks-nl-c) send 17 GET requests each, 200 ms apart, on keep-alive connections,
opening a new one when nginx says "Connection: close" (always on the 5th response of a
connection) and has closed; the last connection (2 requests) is closed by the client (FIN).
Capture: server side.  No application log.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import kit  # noqa: E402
from kit import ksnet, r6  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SA, PORT, LIMIT = "10.77.71.1", 8088, 5
CLIENTS = ["10.77.71.21", "10.77.71.22"]
REQUESTS_EACH, PAUSE = 17, 0.2


def client(ns, addr, out):
    s, conn = None, None
    for i in range(REQUESTS_EACH):
        if s is None:
            s = kit.connect(ns, SA, PORT, src=addr)
            conn = {"client_port": s.getsockname()[1], "responses": 0, "close_responses": 0, "end": None}
            out.append(conn)
        r = kit.http_get(s, f"{SA}:{PORT}", f"/api/v1/status?n={i}")
        assert r["ended"] == "complete", r
        conn["responses"] += 1
        if r["headers"].get("connection", "").lower() == "close":
            conn["close_responses"] += 1
            conn["end"] = {"kind": "server said close", "after_responses": conn["responses"], "t": r["t_done"]}
            s.settimeout(3)
            conn["end"]["server_fin_seen"] = s.recv(16) == b""   # let the server close first
            s.close()
            s = None
        time.sleep(PAUSE)
    if s is not None:
        s.close()
        conn["end"] = {"kind": "client closes at the end of the run", "after_responses": conn["responses"],
                       "t": r6(time.time())}


def main():
    c, s, _cif, sif = kit.pair("nl", CLIENTS, [SA])
    ngx, _ = kit.nginx(s, "/tmp/ks-nl-nginx", f"""
    keepalive_timeout 30s;
    keepalive_requests {LIMIT};
    server {{
        listen {SA}:{PORT};
        location / {{ return 200 "{{\\"status\\":\\"ok\\"}}\\n"; }}
    }}""")
    kit.wait_port(c, SA, PORT)
    cap = ksnet.Capture(s, sif, os.path.join(HERE, "capture.pcapng"))
    out = {a: [] for a in CLIENTS}
    ths = [threading.Thread(target=client, args=(c, a, out[a])) for a in CLIENTS]
    for th in ths:
        th.start()
        time.sleep(0.07)
    for th in ths:
        th.join(timeout=60)
    time.sleep(0.5)
    cap.stop()
    ngx.terminate()

    conns = [x for a in CLIENTS for x in out[a]]
    limited = [x for x in conns if x["end"]["kind"] == "server said close"]
    assert all(x["end"]["after_responses"] == LIMIT for x in limited) and len(limited) == 6, conns
    last = [x for x in conns if x["end"]["kind"] != "server said close"]
    server = f"{SA}:{PORT}"
    cap_ = "capture.pcapng"
    http = {"capture": cap_, "command": "http", "args": []}
    diag = {"capture": cap_, "command": "diagnose", "args": []}
    facts = [
        dict(http, id="nginx's request limit is 5 (keepalive_requests 5)",
             check={"http_server": server, "where": {"request_limit": LIMIT}}),
        dict(http, id="nginx is not draining: every close came at the 5th response",
             check={"http_server": server, "where": {"drain": {"present": False}}}),
        dict(http, id="6 connections ended at the request limit",
             check={"finding": "http_request_limit_close", "count": len(limited)}),
        dict(http, id="a full connection ended at the server's request limit",
             check={"http_connection": {"client_port": limited[0]["client_port"]},
                    "where": {"requests": LIMIT, "close.kind": "server_request_limit"}}),
        dict(http, id="the last connection (2 requests) was closed by the client, not by a limit",
             check={"http_connection": {"client_port": last[0]["client_port"]},
                    "where": {"requests": last[0]["responses"], "close.kind": {"matches": "^client"}}}),
        dict(diag, id="no drain is reported", check={"no_finding": "http_drain"}),
        dict(diag, id="nothing was reset", check={"no_finding": "connection_reset"}),
    ]
    truth = {
        "scenario": "nginx-limit5",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture)",
        "capture": "capture.pcapng (dumpcap on the server veth ksnls)",
        "server": server, "nginx": {"version": "1.22.1", "keepalive_requests": LIMIT, "keepalive_timeout_s": 30},
        "connections": conns,
        "facts": facts,
    }
    kit.finish(HERE, truth, None, [cap_])
    print("conns", [(x["client_port"], x["responses"], x["end"]["kind"]) for x in conns])


if __name__ == "__main__":
    main()
