#!/usr/bin/env python3
"""gave-up-fin -- a client closes (FIN) after 3 unanswered heartbeats (root; ~28 s).

Issue 15 classes 6 (giving up) and 1 (log zone UTC+05:30, clocks in step).
Two sensors (sensor-7 10.77.64.7, sensor-8 10.77.64.8, ks-gf-c) send the 3-byte text heartbeat
"hb\\n" every 3 s (production 30 s) to 10.77.64.1:2600 (ks-gf-s), which answers "ok\\n".
After answering sensor-7's 3rd beat, the server application stops answering it (its handler
hangs; TCP still acknowledges).  sensor-7 waits a period for each reply, counts the misses, and
when the 3rd consecutive beat is unanswered (at the time the next beat is due) logs
"giving up after 3 unanswered heartbeats" and closes gracefully (FIN).  sensor-8 is healthy and
closes with FIN at the end.  The server closes its sockets (FIN) only at the end of the run.
app.log: `YYYY-MM-DD HH:MM:SS [LEVEL] who: message`, local time UTC+05:30, no zone, no skew.
Capture: client side.
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
SA, PORT = "10.77.64.1", 2600
PERIOD, RUN_S, ANSWERED, GIVE_UP = 3.0, 24.0, 3, 3
PROBE, REPLY = b"hb\n", b"ok\n"
SENSORS = [("sensor-7", "10.77.64.7"), ("sensor-8", "10.77.64.8")]
log = kit.ZonedLog(330, 0.0, "iso")
server_socks = []


def serve(ls, stop):
    ls.settimeout(0.2)

    def handle(c, peer):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server_socks.append(c)
        n = 0
        try:
            while True:
                d = c.recv(3)
                if not d:
                    break
                n += 1
                if peer[0] == SENSORS[0][1] and n > ANSWERED:
                    continue       # hung request handler: the reader drains, nobody answers
                c.sendall(REPLY)
        except OSError:
            pass
        stop.wait()       # the server closes its sockets at the end of the run
    while not stop.is_set():
        try:
            c, peer = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(c, peer), daemon=True).start()


def sensor(ns, name, addr, t_end, out):
    s = kit.connect(ns, SA, PORT, src=addr)
    t_conn = time.time()
    out.update(client_port=s.getsockname()[1], connect_t=r6(t_conn), beats=[])
    log.log(name, "info", f"connected to {SA}:{PORT}", t_conn)
    misses, k = 0, 0
    while True:
        k += 1
        due = t_conn + k * PERIOD
        if due > t_end:
            break
        time.sleep(max(0.0, due - time.time()))
        if misses >= GIVE_UP:
            t_close = time.time()
            log.log(name, "error", f"giving up after {misses} unanswered heartbeats, closing connection", t_close)
            s.shutdown(socket.SHUT_WR)
            s.close()
            out["end"] = {"kind": "fin", "by": "client", "t": r6(t_close), "unanswered": misses}
            return
        t_sent = time.time()
        s.sendall(PROBE)
        beat = {"k": k, "sent_t": r6(t_sent), "reply_t": None}
        out["beats"].append(beat)
        s.settimeout(PERIOD - 0.05)
        try:
            got = b""
            while len(got) < len(REPLY):
                got += s.recv(8)
            beat["reply_t"] = r6(time.time())
            misses = 0
        except socket.timeout:
            misses += 1
            log.log(name, "warn", f"no reply to heartbeat #{k} ({misses} missed)", time.time())
    s.shutdown(socket.SHUT_WR)
    out["end"] = {"kind": "fin", "by": "client", "t": r6(time.time()), "unanswered": misses}
    try:
        s.settimeout(2)
        s.recv(8)
    except OSError:
        pass
    s.close()
    log.log(name, "info", "stopped", time.time())


def main():
    c, s, cif, _sif = kit.pair("gf", [a for _n, a in SENSORS], [SA])
    ls = kit.listener(s, SA, PORT)
    stop = threading.Event()
    threading.Thread(target=serve, args=(ls, stop), daemon=True).start()
    cap = ksnet.Capture(c, cif, os.path.join(HERE, "capture.pcapng"))
    t0 = time.time()
    res, ths = {}, []
    for i, (name, addr) in enumerate(SENSORS):
        res[name] = {"name": name, "addr": addr}
        th = threading.Thread(target=sensor, args=(c, name, addr, t0 + RUN_S, res[name]))
        th.start()
        ths.append(th)
        time.sleep(1.1)
    for th in ths:
        th.join(timeout=RUN_S + 15)
    stop.set()
    for sk in server_socks:
        sk.close()
    time.sleep(0.3)
    cap.stop()
    lines = log.write(os.path.join(HERE, "app.log"))

    s7, s8 = res["sensor-7"], res["sensor-8"]
    p7, p8 = s7["client_port"], s8["client_port"]
    assert s7["end"]["unanswered"] == GIVE_UP and [b["reply_t"] is None for b in s7["beats"]].count(True) == GIVE_UP
    waited = s7["end"]["t"] - s7["beats"][-1]["sent_t"]
    l_give = log.line_no(lines, "giving up after")
    cap_ = "capture.pcapng"
    diag = {"capture": cap_, "command": "diagnose", "args": ["--log", "app.log"]}
    facts = [
        dict(diag, id="sensor-7's heartbeat: the client's 'hb\\n' every 3 s",
             check={"heartbeat": {"client_port": p7},
                    "where": {"sender": "client", "probe_hex": PROBE.hex(), "reply_hex": REPLY.hex(),
                              "period_s": [2.9, 3.1]}}),
        dict(diag, id="sensor-7 gave up with FIN after 3 unanswered beats",
             check={"finding": "heartbeat_gave_up", "conn": {"client_port": p7},
                    "where": {"by": "client", "close": "fin", "unanswered": GIVE_UP,
                              "frames": {"len": GIVE_UP + 1}}, "count": 1}),
        dict(diag, id="sensor-7's beats went unanswered, the server's TCP acknowledged them",
             check={"finding": "unanswered_heartbeat", "conn": {"client_port": p7},
                    "where": {"acked": True}, "count": {"gt": 0}}),
        dict(diag, id="the last unanswered beat waited until the connection closed, not to the end of the capture",
             check={"finding": "unanswered_heartbeat", "conn": {"client_port": p7},
                    "where": {"message": {"contains": "until the connection closed (frame"},
                              "waited_s": [waited - 0.1, waited + 0.1]}}),
        dict(diag, id="no unanswered beat is said to wait to the end of the capture",
             check={"no_finding": "unanswered_heartbeat", "conn": {"client_port": p7},
                    "where": {"message": {"contains": "to the end of the capture"}}}),
        dict(diag, id="sensor-7's connection was closed by the client with FIN",
             check={"close": {"client_port": p7}, "where": {"kind": "fin", "by": "client"}}),
        dict(diag, id="sensor-8 did not give up", check={"no_finding": "heartbeat_gave_up", "conn": {"client_port": p8}}),
        dict(diag, id="sensor-8's beats were all answered",
             check={"no_finding": "unanswered_heartbeat", "conn": {"client_port": p8}}),
        dict(diag, id="nothing was reset", check={"no_finding": "connection_reset"}),
        dict(diag, id="the summary's cause: the client gave up on one connection",
             check={"cause": "heartbeat_gave_up", "by": "client", "conn": {"client_port": p7}, "count": 1}),
        dict(diag, id="the log reads like UTC+05:30, clocks in step",
             check={"log": {"zone": "+05:30", "zone_from": "search", "clock_offset_s": [-1.0, 1.25]}}),
        dict(diag, id=f"line {l_give} (giving up) means sensor-7's close",
             check={"log_line": l_give, "conn": {"client_port": p7}, "kinds_any": ["heartbeat_gave_up"]}),
    ]
    truth = {
        "scenario": "gave-up-fin",
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture)",
        "capture": "capture.pcapng (dumpcap on the client veth ksgfc)",
        "server": f"{SA}:{PORT}", "period_s": PERIOD, "production_equivalent": {"period_s": 30},
        "heartbeat_request": PROBE.hex(), "heartbeat_reply": REPLY.hex(),
        "server_answers_sensor7_beats": ANSWERED, "client_gives_up_after_unanswered": GIVE_UP,
        "log": log.truth(), "log_lines": {"giving_up": l_give},
        "sensors": [s7, s8],
        "facts": facts,
    }
    kit.finish(HERE, truth, None, [cap_])
    print("s7", p7, "s8", p8, "waited", waited)


if __name__ == "__main__":
    main()
