#!/usr/bin/env python3
"""http-drain -- a draining HAProxy next to an nginx with a request limit (run as root; ~15 s).

ks-dr-c client 10.77.60.2 --- ks-dr-s server 10.77.60.1
  * HAProxy (2.6, the installed one) on :8181 in front of an nginx backend on 127.0.0.1:8182,
    with `http-response set-header Connection close if { rand(100) lt 30 }`: each response
    closes the connection with probability 0.3 -- a drain, closes at varying request counts.
  * nginx on :8090 with `keepalive_requests 4`: every connection is closed by nginx after
    exactly 4 requests (Connection: close on the 4th response).
The client (plain sockets, HTTP/1.1 keep-alive, sequential requests) sends 90 requests to
HAProxy and 14 to nginx, opening a new connection whenever the server said Connection: close
(or closed); at the end it closes the last connection of each itself.  It records, from what
its own parser read, every response's Connection header and which request number on its
connection it answered; truth.json facts come from those counts.  One capture on the client veth.
"""
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import AppLog, ksnet, r6, write_truth  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
C, S = "ks-dr-c", "ks-dr-s"
CA, SA = "10.77.60.2", "10.77.60.1"
HAPROXY_PORT, BACKEND_PORT, NGINX_PORT = 8181, 8182, 8090
KEEPALIVE_REQUESTS = 4
CLOSE_PERCENT = 30
HAPROXY_REQUESTS, NGINX_REQUESTS = 90, 14
TMP = "/tmp/ks-dr"
app = AppLog()


def nginx_conf():
    conf = f"""
worker_processes 1;
daemon off;
master_process off;
pid {TMP}/nginx.pid;
error_log {TMP}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {TMP}/body;
    proxy_temp_path {TMP}/proxy;
    fastcgi_temp_path {TMP}/fastcgi;
    uwsgi_temp_path {TMP}/uwsgi;
    scgi_temp_path {TMP}/scgi;
    default_type text/plain;
    keepalive_timeout 30s;
    server {{
        listen {SA}:{NGINX_PORT};
        keepalive_requests {KEEPALIVE_REQUESTS};
        location / {{ return 200 "nginx says hi to $uri\\n"; }}
    }}
    server {{
        listen 127.0.0.1:{BACKEND_PORT};
        keepalive_requests 10000;
        location / {{ return 200 "backend $uri\\n"; }}
    }}
}}
"""
    p = os.path.join(TMP, "nginx.conf")
    open(p, "w").write(conf)
    return p


def haproxy_conf():
    conf = f"""
global
    maxconn 64
defaults
    mode http
    option http-keep-alive
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s
frontend fe
    bind {SA}:{HAPROXY_PORT}
    http-response set-header Connection close if {{ rand(100) lt {CLOSE_PERCENT} }}
    default_backend be
backend be
    server app 127.0.0.1:{BACKEND_PORT}
"""
    p = os.path.join(TMP, "haproxy.cfg")
    open(p, "w").write(conf)
    return p


def read_response(s):
    """One response with Content-Length; returns (status line, headers) or None at EOF."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            return None
        buf += d
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin1").split("\r\n")
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(body) < n:
        d = s.recv(4096)
        if not d:
            break
        body += d
    return lines[0], hdrs


def new_conn(port):
    with ksnet.in_ns(C):
        s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(3)
    s.connect((SA, port))
    return s


def run_client(port, total, label):
    """Sequential keep-alive requests; a new connection after each close. Returns the
    connections: client port, responses, and whether (and at which count) the server said close."""
    conns = []
    s, info = None, None
    for i in range(total):
        if s is None:
            s = new_conn(port)
            info = {"client_port": s.getsockname()[1], "responses": 0, "said_close_at": None,
                    "opened_t": r6(time.time())}
            conns.append(info)
        s.sendall(f"GET /{label}/{i} HTTP/1.1\r\nHost: {SA}\r\n\r\n".encode())
        r = read_response(s)
        if r is None:
            raise RuntimeError(f"{label}: connection closed without a response")
        info["responses"] += 1
        if "close" in r[1].get("connection", "").lower():
            info["said_close_at"] = info["responses"]
            info["closed_by"] = "server"
            # The server closes; wait for its FIN, then close our side.
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
            s.close()
            s = None
        time.sleep(0.01)
    if s is not None:
        info["closed_by"] = "client"
        s.close()
    return conns


def main():
    for n in (C, S):
        ksnet.add_ns(n)
    ksnet.veth(C, "ksdrc", S, "ksdrs", [CA + "/24"], [SA + "/24"], offload=False)
    shutil.rmtree(TMP, ignore_errors=True)
    os.makedirs(TMP)
    ksnet.spawn(S, ["nginx", "-c", nginx_conf(), "-p", TMP], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
    ksnet.spawn(S, ["haproxy", "-db", "-f", haproxy_conf()], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
    for port in (NGINX_PORT, HAPROXY_PORT):
        for _ in range(50):
            try:
                new_conn(port).close()
                break
            except OSError:
                time.sleep(0.1)
    time.sleep(0.3)
    cap = ksnet.Capture(C, "ksdrc", os.path.join(HERE, "capture.pcapng"))
    ha = run_client(HAPROXY_PORT, HAPROXY_REQUESTS, "ha")
    time.sleep(0.2)
    ng = run_client(NGINX_PORT, NGINX_REQUESTS, "ng")
    time.sleep(0.5)
    cap.stop()

    ha_resp = sum(c["responses"] for c in ha)
    ha_close = sum(1 for c in ha if c["said_close_at"] is not None)
    ha_counts = sorted({c["said_close_at"] for c in ha if c["said_close_at"] is not None})
    ratio = ha_close / ha_resp
    assert len(ha_counts) >= 2, f"the coin flips closed at one count only: {ha_counts}"
    ng_limited = [c for c in ng if c["said_close_at"] is not None]
    assert all(c["said_close_at"] == KEEPALIVE_REQUESTS for c in ng_limited), ng
    app.log("client", "info", f"haproxy: {ha_close} closes in {ha_resp} responses at counts {ha_counts}")
    ha_sel = {"server": f"{SA}:{HAPROXY_PORT}"}
    ng_sel = {"server": f"{SA}:{NGINX_PORT}"}
    facts = [
        {"id": "haproxy's random closes are a drain, with the close ratio the client counted",
         "capture": "capture.pcapng", "command": "http", "args": [],
         "check": {"http_server": f"{SA}:{HAPROXY_PORT}",
                   "where": {"drain": {"present": True},
                             "drain.close_ratio": [round(ratio - 0.001, 4), round(ratio + 0.001, 4)],
                             "drain.close_ratio_low": {"lt": ratio},
                             "drain.close_ratio_high": {"gt": ratio},
                             "request_limit": {"present": False}}}},
        {"id": "haproxy's closes are no request limit on any connection",
         "capture": "capture.pcapng", "command": "http", "args": [],
         "check": {"http_connection": dict(ha_sel, client_port=ha[0]["client_port"]),
                   "where": {"close.kind": {"matches": "^(server_drain|client_close)$"}}}},
        {"id": "nginx's keepalive_requests is found as the request limit, no drain",
         "capture": "capture.pcapng", "command": "http", "args": [],
         "check": {"http_server": f"{SA}:{NGINX_PORT}",
                   "where": {"request_limit": KEEPALIVE_REQUESTS, "drain": {"present": False}}}},
        {"id": "diagnose reports haproxy's drain once",
         "capture": "capture.pcapng", "command": "diagnose", "args": [],
         "check": {"finding": "http_drain", "conn": ha_sel, "count": 1,
                   "where": {"close_ratio": [round(ratio - 0.001, 4), round(ratio + 0.001, 4)],
                             "server": f"{SA}:{HAPROXY_PORT}"}}},
        {"id": "diagnose reports no drain for nginx",
         "capture": "capture.pcapng", "command": "diagnose", "args": [],
         "check": {"no_finding": "http_drain", "conn": ng_sel}},
        {"id": "diagnose reports nginx's closes as request-limit closes",
         "capture": "capture.pcapng", "command": "diagnose", "args": [],
         "check": {"finding": "http_request_limit_close", "conn": ng_sel, "count": len(ng_limited)}},
        {"id": "diagnose reports no request-limit close for haproxy",
         "capture": "capture.pcapng", "command": "diagnose", "args": [],
         "check": {"no_finding": "http_request_limit_close", "conn": ha_sel}},
    ]
    for c in ng_limited:
        facts.append({"id": f"nginx connection from port {c['client_port']} ended at the limit",
                      "capture": "capture.pcapng", "command": "http", "args": [],
                      "check": {"http_connection": dict(ng_sel, client_port=c["client_port"]),
                                "where": {"close.kind": "server_request_limit",
                                          "close.after": KEEPALIVE_REQUESTS}}})
    truth = {
        "scenario": "http-drain",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture)",
        "captures": {"capture.pcapng": "client veth ksdrc"},
        "haproxy": {"server": f"{SA}:{HAPROXY_PORT}", "version": subprocess.run(
            ["haproxy", "-v"], capture_output=True, text=True).stdout.split("\n")[0],
            "rule": f"http-response set-header Connection close if {{ rand(100) lt {CLOSE_PERCENT} }}",
            "backend": f"nginx 127.0.0.1:{BACKEND_PORT}",
            "responses": ha_resp, "close_responses": ha_close, "close_ratio": round(ratio, 6),
            "closed_at_counts": ha_counts, "connections": ha},
        "nginx": {"server": f"{SA}:{NGINX_PORT}", "keepalive_requests": KEEPALIVE_REQUESTS,
                  "responses": sum(c["responses"] for c in ng), "connections": ng},
        "facts": facts,
    }
    write_truth(os.path.join(HERE, "truth.json"), truth)
    app.write(os.path.join(HERE, "app.log"))
    print(f"haproxy {ha_close}/{ha_resp} = {ratio:.3f} at {ha_counts}; nginx {len(ng)} conns")


if __name__ == "__main__":
    main()
