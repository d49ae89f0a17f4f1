#!/usr/bin/env python3
"""slow-reply -- one connection's replies slow down to 70 % of the period (root; ~30 s).

Issue 15 classes 4 (heartbeat direction under slow replies), 5 (slow replies without
--timeout) and 1 (log zone UTC+01:00, log clock 2 s ahead).
Three workers (worker-a 10.77.63.11, worker-b .12, worker-c .13, ks-sr-c) ping a Redis-like server
10.77.63.1:7400 (ks-sr-s): probe "*1\\r\\n$4\\r\\nPING\\r\\n" (14 bytes) every 2 s (production 20 s),
reply "+PONG\\r\\n" (7 bytes).  The server normally answers after 20 ms (its processing time).
From worker-a's 6th beat on, the server answers worker-a after 1.4 s (70 % of the period): the
reply is then followed by the next probe 0.6 s later, a faster "exchange" than probe -> reply.
worker-c is answered after 1.5 s (75 %) from its 2nd beat on: most of its replies are slow, its
only baseline is its 1st reply and the other connections of the same server.
worker-b is always answered in 20 ms.  Nobody is late; nothing is reset; both close with FIN.
app.log: `[HH:MM:SS] [level] (who) message`, UTC+01:00 local time, clock 2 s ahead; worker-a
logs a warning for every reply slower than 1 s.  Capture: client side.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import kit  # noqa: E402
from kit import ksnet, r6  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SA, PORT = "10.77.63.1", 7400
PERIOD, RUN_S, FAST, SLOW, SLOW_FROM = 2.0, 26.0, 0.020, 1.4, 6
PROBE, REPLY = b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n"
WORKERS = [("worker-a", "10.77.63.11", True), ("worker-b", "10.77.63.12", False), ("worker-c", "10.77.63.13", True)]
SLOW_C, SLOW_C_FROM = 1.5, 2
log = kit.ZonedLog(60, 2.0, "bracket")


def serve(ls, stop):
    ls.settimeout(0.2)

    def handle(c, peer):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.settimeout(60)
        n, buf = 0, b""
        try:
            while True:
                d = c.recv(64)
                if not d:
                    break
                buf += d
                while PROBE in buf:
                    buf = buf.split(PROBE, 1)[1]
                    n += 1
                    if peer[0] == WORKERS[0][1] and n >= SLOW_FROM:
                        time.sleep(SLOW)
                    elif peer[0] == WORKERS[2][1] and n >= SLOW_C_FROM:
                        time.sleep(SLOW_C)
                    else:
                        time.sleep(FAST)
                    c.sendall(REPLY)
        except OSError:
            pass
        c.close()
    while not stop.is_set():
        try:
            c, peer = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(c, peer), daemon=True).start()


def worker(ns, name, addr, t_end, out):
    s = kit.connect(ns, SA, PORT, src=addr)
    t_conn = time.time()
    port = s.getsockname()[1]
    log.log(name, "info", f"connected to {SA}:{PORT} from {addr}:{port}", t_conn)
    out.update(client_port=port, connect_t=r6(t_conn), beats=[])
    k = 0
    while t_conn + (k + 1) * PERIOD < t_end:
        k += 1
        time.sleep(max(0.0, t_conn + k * PERIOD - time.time()))
        t_sent = time.time()
        s.sendall(PROBE)
        got = b""
        while len(got) < len(REPLY):
            got += s.recv(16)
        t_reply = time.time()
        lat = t_reply - t_sent
        out["beats"].append({"k": k, "sent_t": r6(t_sent), "reply_t": r6(t_reply), "latency_s": round(lat, 6)})
        if lat > 1.0:
            log.log(name, "warn", f"PING reply took {lat:.2f}s (usually {FAST * 1000:.0f}ms)", t_reply)
    time.sleep(0.5)
    s.shutdown(socket.SHUT_WR)
    out["end"] = {"kind": "fin", "by": "client", "t": r6(time.time())}
    try:
        s.recv(16)
    except OSError:
        pass
    s.close()
    log.log(name, "info", "closed", time.time())


def main():
    c, s, cif, _sif = kit.pair("sr", [a for _n, a, _s in WORKERS], [SA])
    ls = kit.listener(s, SA, PORT)
    stop = threading.Event()
    threading.Thread(target=serve, args=(ls, stop), daemon=True).start()
    cap = ksnet.Capture(c, cif, os.path.join(HERE, "capture.pcapng"))
    t0 = time.time()
    res, ths = {}, []
    for i, (name, addr, _slow) in enumerate(WORKERS):
        res[name] = {"name": name, "addr": addr}
        th = threading.Thread(target=worker, args=(c, name, addr, t0 + RUN_S, res[name]))
        th.start()
        ths.append(th)
        time.sleep(0.45)
    for th in ths:
        th.join(timeout=RUN_S + 15)
    stop.set()
    cap.stop()
    lines = log.write(os.path.join(HERE, "app.log"))

    a, b, wc = res["worker-a"], res["worker-b"], res["worker-c"]
    pa, pb, pc = a["client_port"], b["client_port"], wc["client_port"]
    slow_c = [x["latency_s"] for x in wc["beats"] if x["latency_s"] >= 0.5]
    assert len(slow_c) >= len(wc["beats"]) - 1, wc
    fast = [x["latency_s"] for x in a["beats"] if x["latency_s"] < 0.5] + [x["latency_s"] for x in b["beats"]]
    slow = [x["latency_s"] for x in a["beats"] if x["latency_s"] >= 0.5]
    assert len(slow) >= 5 and max(fast) < 0.2, (slow, fast)
    first_slow_line = log.line_no(lines, "(worker-a) PING reply took", first=True)
    cap_ = "capture.pcapng"
    diag = {"capture": cap_, "command": "diagnose", "args": ["--log", "app.log"]}
    facts = [
        dict(diag, id="worker-a's heartbeat is the client's PING every 2 s, though its replies take 1.4 s",
             check={"heartbeat": {"client_port": pa},
                    "where": {"sender": "client", "probe_hex": {"matches": "^" + PROBE[:8].hex()}, "probe_len": len(PROBE), "reply_hex": REPLY.hex(),
                              "period_s": [1.9, 2.1]}}),
        dict(diag, id="worker-b's heartbeat is the client's PING every 2 s",
             check={"heartbeat": {"client_port": pb},
                    "where": {"sender": "client", "probe_len": len(PROBE), "reply_hex": REPLY.hex(), "period_s": [1.9, 2.1]}}),
        dict(diag, id="worker-a's replies became slow: ~1400 ms against a ~20 ms baseline, no --timeout needed",
             check={"finding": "slow_heartbeat_reply", "conn": {"client_port": pa},
                    "where": {"latency_ms": [min(slow) * 1000 - 50, max(slow) * 1000 + 50],
                              "baseline_ms": [5, 200], "factor": {"gt": 7}}}),
        dict(diag, id="worker-c's heartbeat is the client's PING too, though nearly all its replies take 1.5 s",
             check={"heartbeat": {"client_port": pc},
                    "where": {"sender": "client", "probe_len": len(PROBE), "reply_hex": REPLY.hex(), "period_s": [1.9, 2.1]}}),
        dict(diag, id="worker-c's replies are slow against the server's other connections (~20 ms)",
             check={"finding": "slow_heartbeat_reply", "conn": {"client_port": pc},
                    "where": {"latency_ms": [min(slow_c) * 1000 - 50, max(slow_c) * 1000 + 50],
                              "baseline_ms": [5, 200], "factor": {"gt": 7}}}),
        dict(diag, id="slow replies are not a late beat (worker-c)",
             check={"no_finding": "late_heartbeat", "conn": {"client_port": pc}}),
        dict(diag, id="worker-b's replies are not slow",
             check={"no_finding": "slow_heartbeat_reply", "conn": {"client_port": pb}}),
        dict(diag, id="slow replies are not a late beat (worker-a)",
             check={"no_finding": "late_heartbeat", "conn": {"client_port": pa}}),
        dict(diag, id="worker-b is never late", check={"no_finding": "late_heartbeat", "conn": {"client_port": pb}}),
        dict(diag, id="every PING of worker-a was answered",
             check={"no_finding": "unanswered_heartbeat", "conn": {"client_port": pa}}),
        dict(diag, id="worker-a closed with FIN", check={"close": {"client_port": pa}, "where": {"kind": "fin", "by": "client"}}),
        dict(diag, id="the log reads like UTC+01:00, its clock ~2 s ahead of the capture",
             check={"log": {"zone": "+01:00", "zone_from": "search", "clock_offset_s": [-3.0, -0.75]}}),
        dict(diag, id=f"line {first_slow_line} (first slow PING reply) means worker-a's slow reply",
             check={"log_line": first_slow_line, "conn": {"client_port": pa},
                    "kinds_any": ["slow_heartbeat_reply"]}),
        dict(diag, id="no reset anywhere", check={"no_finding": "connection_reset"}),
    ]
    truth = {
        "scenario": "slow-reply",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture)",
        "capture": "capture.pcapng (dumpcap on the client veth kssrc)",
        "server": f"{SA}:{PORT}", "period_s": PERIOD, "production_equivalent": {"period_s": 20},
        "server_reply_delay_s": {"usual": FAST, "worker-a from beat": SLOW_FROM, "worker-a slow": SLOW,
                                 "worker-c from beat": SLOW_C_FROM, "worker-c slow": SLOW_C},
        "heartbeat_request": PROBE.hex(), "heartbeat_reply": REPLY.hex(),
        "log": log.truth(), "log_lines": {"first_slow_reply": first_slow_line},
        "workers": [a, b, wc],
        "facts": facts,
    }
    kit.finish(HERE, truth, None, [cap_])
    print("a", pa, "b", pb, "c", pc, "slow", slow, slow_c)


if __name__ == "__main__":
    main()
