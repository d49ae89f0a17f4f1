#!/usr/bin/env python3
"""haproxy-drain -- HAProxy drains keep-alive connections like a coin flip per response (root; ~20 s).

Issue 15 class 9 (drain vs request limit).  HAProxy 2.6 on 10.77.70.1:8443 (ks-hd-s) in front of
nginx (127.0.0.1:8081, same namespace) with
    http-response set-header Connection close if { rand(100) lt 30 }
i.e. each response independently says "Connection: close" with probability 0.3 (the way a VIP
migration or an Envoy/HAProxy drain sheds connections).  Three clients (10.77.70.11-13,
ks-hd-c) send GET requests 150 ms apart on keep-alive connections; after a response with
"Connection: close" they wait for HAProxy's FIN, close, and open a new connection.  At the end each closes its last connection
(FIN).  The driver counts the responses and the close responses it received itself.
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
SA, PORT, BACKEND = "10.77.70.1", 8443, 8081
CLIENTS = ["10.77.70.11", "10.77.70.12", "10.77.70.13"]
REQUESTS_EACH, PAUSE = 25, 0.15
HAPROXY_CFG = f"""
global
    maxconn 200
defaults
    mode http
    timeout connect 2s
    timeout client 20s
    timeout server 20s
    timeout http-keep-alive 20s
    option http-keep-alive
frontend web
    bind {SA}:{PORT}
    http-response set-header Connection close if {{ rand(100) lt 30 }}
    default_backend app
backend app
    server ngx 127.0.0.1:{BACKEND}
"""


def client(ns, addr, out):
    s, conn = None, None
    for i in range(REQUESTS_EACH):
        if s is None:
            s = kit.connect(ns, SA, PORT, src=addr)
            conn = {"client_port": s.getsockname()[1], "responses": 0, "close_responses": 0, "end": None}
            out.append(conn)
        r = kit.http_get(s, f"{SA}:{PORT}", f"/item/{i}")
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
        conn["end"] = {"kind": "client closes at the end of the run", "t": r6(time.time())}


def main():
    c, s, cif, _sif = kit.pair("hd", CLIENTS, [SA])
    ngx, _ = kit.nginx(s, "/tmp/ks-hd-nginx", f"""
    keepalive_timeout 30s;
    keepalive_requests 1000;
    server {{
        listen 127.0.0.1:{BACKEND};
        location / {{ return 200 "item $uri\\n"; }}
    }}""")
    ksnet.nsx(s, "ip link set lo up")
    hap = kit.haproxy(s, "/tmp/ks-hd-haproxy", HAPROXY_CFG)
    kit.wait_port(s, "127.0.0.1", BACKEND)
    kit.wait_port(c, SA, PORT)
    cap = ksnet.Capture(c, cif, os.path.join(HERE, "capture.pcapng"))
    out = {a: [] for a in CLIENTS}
    ths = [threading.Thread(target=client, args=(c, a, out[a])) for a in CLIENTS]
    for th in ths:
        th.start()
        time.sleep(0.05)
    for th in ths:
        th.join(timeout=60)
    time.sleep(0.5)
    cap.stop()

    conns = [x for a in CLIENTS for x in out[a]]
    responses = sum(x["responses"] for x in conns)
    closes = sum(x["close_responses"] for x in conns)
    ratio = closes / responses
    counts = sorted({x["end"]["after_responses"] for x in conns if x["end"]["kind"] == "server said close"})
    # the point of the scenario: closes come at varying counts (otherwise re-run)
    assert len(counts) >= 3 and 0.15 <= ratio <= 0.45, (counts, ratio)
    server = f"{SA}:{PORT}"
    cap_ = "capture.pcapng"
    http = {"capture": cap_, "command": "http", "args": []}
    diag = {"capture": cap_, "command": "diagnose", "args": []}
    facts = [
        dict(http, id=f"HAProxy is draining: {closes} of {responses} responses said close ({ratio:.2f})",
             check={"http_server": server,
                    "where": {"drain.close_ratio": [ratio - 0.02, ratio + 0.02],
                              "drain.close_ratio_low": {"lt": ratio}, "drain.close_ratio_high": {"gt": ratio}}}),
        dict(http, id="the 95 % interval of the close ratio contains the configured 0.30",
             check={"http_server": server,
                    "where": {"drain.close_ratio_low": {"lt": 0.30}, "drain.close_ratio_high": {"gt": 0.30}}}),
        dict(http, id=f"no request limit is claimed: closes came after {counts} responses",
             check={"http_server": server, "where": {"request_limit": {"present": False}}}),
        dict(http, id="no connection is labelled a request-limit close (http)",
             check={"no_finding": "http_request_limit_close"}),
        dict(diag, id="the drain is reported as a finding",
             check={"finding": "http_drain", "where": {"close_ratio": [ratio - 0.02, ratio + 0.02]}}),
        dict(diag, id="no connection is labelled a request-limit close (diagnose)",
             check={"no_finding": "http_request_limit_close"}),
        dict(diag, id="the summary names the drain as the cause, by the server",
             check={"cause": "http_drain", "by": "server"}),
        dict(diag, id="nothing was reset", check={"no_finding": "connection_reset"}),
    ]
    truth = {
        "scenario": "haproxy-drain",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture)",
        "capture": "capture.pcapng (dumpcap on the client veth kshdc)",
        "server": server, "haproxy_cfg": HAPROXY_CFG, "haproxy_version": "2.6",
        "configured_close_probability": 0.30,
        "responses": responses, "close_responses": closes, "close_ratio": round(ratio, 6),
        "responses_before_close": counts,
        "connections": conns,
        "facts": facts,
    }
    kit.finish(HERE, truth, None, [cap_])
    hap.terminate()
    ngx.terminate()
    print("responses", responses, "closes", closes, "ratio", round(ratio, 3), "counts", counts, "conns", len(conns))


if __name__ == "__main__":
    main()
