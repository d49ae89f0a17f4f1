#!/usr/bin/env python3
"""tls-reuse-race -- an HTTPS server closes idle keep-alive connections at the moment the
client reuses them, with and without close_notify (issue 16, proof; root; ~25 s).

Python 3.11 stdlib + OpenSSL on loopback in a fresh network namespace (see ../tlslab.py).  A
small HTTP/1.1 server over TLS on 127.0.0.1:47420 answers `GET` with `200 OK` and a
Content-Length body, keeps the connection alive, and closes it when it stays idle IDLE s
(1.0 s, timed from the moment its response left): either with close_notify then FIN
(`close_notify` connections) or with a bare FIN (`bare_fin`).  Clients, one connection each,
TLS 1.3 and 1.2 alternately: one GET, then the same connection reused DELAY s after the
response arrived (the client's own clock).  Reuses before the server's close are answered
(the race won); reuses after it meet the closed socket, whose kernel answers RST (the race
lost: the client reads the close_notify or EOF, then the reset).

Writes capture.pcapng, keylog.txt (the clients' NSS key log: test-only keys) and truth.json
(what each client sent and read, from its own clock and socket; `facts` for the scorecard).
`run.py facts` rewrites the facts from the truth already recorded.
"""
import json
import os
import select
import socket
import ssl
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import tlslab  # noqa: E402
from tlslab import r6  # noqa: E402

PORT = 47420
IDLE = 1.0
PLAN = [  # (close style, TLS version, reuse delay after the first response)
    ("close_notify", "1.3", 0.950), ("close_notify", "1.2", 1.004),
    ("close_notify", "1.3", 1.010), ("close_notify", "1.2", 1.030),
    ("bare_fin", "1.3", 0.950), ("bare_fin", "1.2", 1.004),
    ("bare_fin", "1.3", 1.010), ("bare_fin", "1.2", 1.030),
]
styles = {}  # client port -> close style, told by the client before its request
server_log = {}


def serve_one(s):
    port = s.getpeername()[1]
    buf = b""
    answered = 0
    while True:
        deadline = time.time() + IDLE
        while b"\r\n\r\n" not in buf:
            if s.pending() == 0:
                left = deadline - time.time()
                if left <= 0 or not select.select([s], [], [], left)[0]:
                    break
            got = s.recv(65536)
            if not got:
                return
            buf += got
        if b"\r\n\r\n" not in buf:
            break
        head, buf = buf.split(b"\r\n\r\n", 1)
        path = head.split(b" ")[1]
        body = b"hello " + path + b"\n"
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                  str(len(body)).encode() + b"\r\nConnection: keep-alive\r\n\r\n" + body)
        answered += 1
    t = time.time()
    if styles[port] == "close_notify":
        # Non-blocking: OpenSSL sends its close_notify, then would wait for the client's;
        # the server closes without waiting, as servers do.
        s.setblocking(False)
        try:
            s.unwrap()
        except (ssl.SSLError, OSError):
            pass
    # SSLSocket.close() sends nothing of TLS: for bare_fin the FIN is all the client sees.
    s.close()
    server_log[port] = {"server_close_t": r6(t), "server_answered": answered}


def server(ready, stop):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tlslab.CERT, tlslab.KEY)
    ctx.set_alpn_protocols(["http/1.1"])
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", PORT))
    ls.listen(16)
    ls.settimeout(0.2)
    ready.set()
    threads = []
    while not stop.is_set():
        try:
            raw, _ = ls.accept()
        except socket.timeout:
            continue
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s = ssl.SSLContext.wrap_socket(ctx, raw, server_side=True)
        th = threading.Thread(target=serve_one, args=(s,))
        th.start()
        threads.append(th)
    for th in threads:
        th.join()
    ls.close()


def client(style, tls, delay, keylog):
    ctx = tlslab.client_ctx(tls, keylog)
    s = tlslab.connect(ctx, PORT)
    port = s.getsockname()[1]
    styles[port] = style
    conn = {"client_port": port, "server_close": style, "tls": s.version(),
            "reuse_delay_s": delay}
    s.sendall(tlslab.request("/first"))
    status, _, _, ended = tlslab.read_response(s)
    assert ended == "complete" and status == 200, ended
    t_done = time.time()
    time.sleep(max(0.0, t_done + delay - time.time()))
    t_sent = time.time()
    try:
        s.sendall(tlslab.request("/reused"))
        status, _, _, ended = tlslab.read_response(s)
    except (ssl.SSLError, OSError) as e:
        status, ended = None, f"send failed: {e}"
    # A lost race reads the server's close (close_notify or EOF) first; the reset comes after.
    reset = False
    if ended != "complete":
        try:
            s.settimeout(0.3)
            while socket.socket.recv(s, 4096):
                pass
        except ConnectionResetError:
            reset = True
        except OSError:
            pass
    conn.update(first_done_t=r6(t_done), reuse_sent_t=r6(t_sent),
                reuse_after_s=r6(t_sent - t_done), reuse_outcome=ended,
                reset_seen_by_client=reset, won=ended == "complete")
    if ended == "complete":
        # The won race: the client closes properly (close_notify, FIN) without waiting for
        # the server's answer to it.
        s.setblocking(False)
        try:
            s.unwrap()
        except (ssl.SSLError, OSError):
            pass
    s.close()
    return conn


def facts(truth):
    """What keepsight must conclude, from what the driver did (see ../FACTS.md)."""
    conns = truth["connections"]
    lost = [c for c in conns if not c["won"]]
    won = [c for c in conns if c["won"]]
    cap = "capture.pcapng"
    keyed = ["--tls-keylog", "keylog.txt"]
    out = []

    def fact(command, args, id_, check):
        out.append({"capture": cap, "command": command, "args": args, "id": id_,
                    "check": check})

    fact("diagnose", keyed, f"with the key log: {len(lost)} reuses lost the race against the 1 s idle close",
         {"finding": "http_reuse_race", "count": len(lost),
          "where": {"server_idle_timeout_s": [0.95, 1.05]}})
    fact("diagnose", keyed, "with the key log: the summary names the reuse race",
         {"cause": "http_reuse_race", "conn": {"client_port": lost[0]["client_port"]},
          "count": len(lost)})
    for c in lost:
        fact("http", keyed,
             f"with the key log: the {c['server_close']} reuse {c['reuse_after_s']:.3f} s after the response lost the race",
             {"http_connection": {"client_port": c["client_port"]},
              "where": {"close.kind": "reuse_race"}})
    for c in won:
        fact("http", keyed,
             f"with the key log: the {c['server_close']} reuse {c['reuse_after_s']:.3f} s after the response was answered",
             {"http_connection": {"client_port": c["client_port"]}, "where": {"responses": 2}})
    fact("http", keyed, "with the key log: the server's idle timeout is measured as 1 s",
         {"http_server": f"127.0.0.1:{PORT}", "where": {"idle_timeout_min_s": [0.95, 1.05]}})
    for c in conns:
        side = "server" if not c["won"] else "client"
        if c["server_close"] == "close_notify" or c["won"]:
            fact("diagnose", [], f"without the key log: {c['client_port']}'s close_notify from the {side} is seen",
                 {"close": {"client_port": c["client_port"]},
                  "where": {"tls.close_notify_by": {"contains": side}}})
        else:
            fact("diagnose", [], f"without the key log: {c['client_port']}'s server closed with a bare FIN",
                 {"close": {"client_port": c["client_port"]},
                  "where": {"tls.bare_fin_by": {"contains": "server"}}})
    fact("diagnose", [], f"without the key log: the {len(lost)} lost races are resets after the server's FIN, a keep-alive close race",
         {"finding": "connection_reset", "count": len(lost),
          "where": {"by": "server", "close_race": True, "tls_shutdown": {"present": False}}})
    fact("diagnose", [], "without the key log: no lost race is called an ordinary TLS shutdown",
         {"no_finding": "connection_reset", "where": {"tls_shutdown": True}})
    for c in won:
        fact("diagnose", [], f"without the key log: the won race on {c['client_port']} is no reset",
             {"no_finding": "connection_reset", "conn": {"client_port": c["client_port"]}})
    return out


def main():
    if sys.argv[1:] == ["facts"]:
        path = os.path.join(HERE, "truth.json")
        with open(path) as f:
            truth = json.load(f)
        truth["facts"] = facts(truth)
        with open(path, "w") as f:
            json.dump(truth, f, indent=2)
            f.write("\n")
        return
    tlslab.in_own_namespace(__file__)
    keylog = os.path.join(HERE, "keylog.txt")
    if os.path.exists(keylog):
        os.unlink(keylog)
    cap = tlslab.Capture(os.path.join(HERE, "capture.pcapng"))
    ready, stop = threading.Event(), threading.Event()
    srv = threading.Thread(target=server, args=(ready, stop))
    srv.start()
    ready.wait()
    conns = []
    for style, tls, delay in PLAN:
        conns.append(client(style, tls, delay, keylog))
        time.sleep(0.2)
    time.sleep(0.3)
    stop.set()
    srv.join()
    cap.stop()
    for c in conns:
        c.update(server_log.get(c["client_port"], {}))
    truth = {
        "scenario": "tls-reuse-race",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture)",
        "capture": "capture.pcapng (dumpcap on lo in the driver's own network namespace)",
        "server": f"127.0.0.1:{PORT}", "server_idle_close_s": IDLE,
        "connections": conns,
        "lost": sum(not c["won"] for c in conns), "won": sum(c["won"] for c in conns),
    }
    truth["facts"] = facts(truth)
    with open(os.path.join(HERE, "truth.json"), "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")
    for c in conns:
        print(c["client_port"], c["server_close"], c["tls"], c["reuse_after_s"], c["reuse_outcome"],
              c["reset_seen_by_client"])


if __name__ == "__main__":
    main()
