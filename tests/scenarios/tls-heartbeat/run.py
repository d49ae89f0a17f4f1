#!/usr/bin/env python3
"""tls-heartbeat -- heartbeats and closes inside TLS 1.2 and TLS 1.3 (issue 16).

Python 3.11 stdlib + OpenSSL on loopback, run as root: the script re-runs itself in a fresh
network namespace (`unshare -n`), brings `lo` up, captures it with dumpcap and runs a TLS server
(127.0.0.1:47400, certificate server.crt/server.key beside this file: test-only keys) and
eight clients, one TLS connection each, concurrently:

| conn | TLS | what happens |
|------|-----|--------------|
| a13  | 1.3 | 4-byte `PING` every 1 s, answered `PONG`; beat 6 leaves 2.6 s after beat 5 (late); close_notify both ways, then FINs |
| b12  | 1.2 | the same, beat 5 leaves 2.4 s after beat 4 (late); close_notify |
| c13  | 1.3 | beat 4 is skipped (2.0 s gap: one missed beat); client closes with a bare FIN (no close_notify), server answers with a bare FIN (it peeks for the EOF, because OpenSSL answers an EOF it reads with a fatal decode_error alert) |
| d12  | 1.2 | client closes its socket with a bare FIN; the server then sends close_notify on the dead connection; the client kernel answers RST |
| e13  | 1.3 | the same as d12 over TLS 1.3 |
| f12  | 1.2 | the server stops answering after beat 4; the client gives up after 3 unanswered beats (close_notify, FIN) |
| g13  | 1.3 | from beat 5 on the server answers 0.7 s late (slow replies); close_notify |
| h12  | 1.2 | not a heartbeat: the client asks `GET ` once, the server's 3000-byte answer is cut mid-record by a bare FIN (truncation) |
| i13  | 1.3 | refused: the client insists on TLS 1.3, the server on 127.0.0.1:47402 speaks at most TLS 1.2 and answers with a cleartext protocol_version alert |

`run.py facts` rewrites truth.json's facts from the truth it already holds.

Writes capture.pcapng, keylog.txt (NSS key log of every connection, from the clients),
truth.json (every beat and close from the driver's own clock, `facts` for the scorecard).
`lo` gets an MTU of 600 and no segmentation offload so that handshake records and the cut response span several segments.
The TLS oracle tests run tshark themselves, so no .tshark.tsv is written.
"""
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PORT = 47400
HOST = "hb.keepsight.test"
ALPN = "hb/1"
PERIOD = 1.0

CONNS = [
    dict(name="a13", tls="1.3", beats=10, late={6: 2.6}, close="close_notify"),
    dict(name="b12", tls="1.2", beats=10, late={5: 2.4}, close="close_notify"),
    dict(name="c13", tls="1.3", beats=8, skip={4}, close="fin"),
    dict(name="d12", tls="1.2", beats=6, close="fin_alert_rst"),
    dict(name="e13", tls="1.3", beats=6, close="fin_alert_rst"),
    dict(name="f12", tls="1.2", beats=12, server_stops_after=4, give_up_after=3,
         close="close_notify"),
    dict(name="g13", tls="1.3", beats=10, slow_from=5, slow_s=0.7, close="close_notify"),
    dict(name="h12", tls="1.2", kind="truncated"),
    dict(name="i13", tls="1.3", kind="refused"),
]

lock = threading.Lock()
truth_conns = {}


def record(name, **kv):
    with lock:
        truth_conns.setdefault(name, {}).update(kv)


def r6(t):
    return None if t is None else round(t, 6)


# ------------------------------------------------------------------------------------ server

def server_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(HERE, "server.crt"), os.path.join(HERE, "server.key"))
    ctx.set_alpn_protocols([ALPN])
    return ctx


def serve_one(raw, ctx, plans):
    """One accepted heartbeat connection; the client registered its plan under its port."""
    port = raw.getpeername()[1]
    s = ctx.wrap_socket(raw, server_side=True)
    name, plan = plans[port]
    answered = 0
    heard = 0
    bare = plan["close"] == "fin"
    while True:
        # For a bare FIN both ways the server must not touch the TLS session after the
        # client's FIN (OpenSSL answers an unexpected EOF with a fatal alert): it peeks at the
        # socket first and leaves on EOF.
        if bare and not socket.socket.recv(s, 1, socket.MSG_PEEK):
            break
        try:
            msg = s.recv(4)
        except (ssl.SSLError, OSError):
            break
        if not msg:
            break
        heard += 1
        stop = plan.get("server_stops_after")
        if stop is not None and heard > stop:
            continue  # keeps reading, never answers: the client's beats go unanswered
        if plan.get("slow_from") and heard >= plan["slow_from"]:
            time.sleep(plan["slow_s"])
        s.sendall(b"PONG")
        answered += 1
    # The client ended its side, with close_notify (recv gave b"" after the alert) or with a
    # bare FIN (a ragged EOF, also b"" or an EOF error here).
    style = plan["close"]
    if style in ("close_notify", "fin_alert_rst"):
        # close_notify: answer the client's alert. fin_alert_rst: the client closed without
        # one, and the server sends its close_notify anyway, onto a socket the client has
        # already closed, whose kernel answers RST.
        t = time.time()
        try:
            s.unwrap()
        except (ssl.SSLError, OSError):
            pass
        record(name, server_close_notify_t=r6(t))
    record(name, server_close_t=r6(time.time()), server_answered=answered)
    s.close()


def bio_flush(raw, out):
    data = out.read()
    if data:
        raw.sendall(data)


def serve_truncated(raw, ctx):
    """Answers `GET ` with 3000 bytes in one TLS record and puts only its first 1200 bytes on
    the wire before a bare FIN: a response cut without close_notify. Runs the session over
    memory BIOs, since a TLS socket cannot send half a record."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=True)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            bio_flush(raw, out)
            data = raw.recv(65536)
            if not data:
                return
            inc.write(data)
    bio_flush(raw, out)
    request = b""
    while len(request) < 4:
        try:
            request += obj.read(4 - len(request))
        except ssl.SSLWantReadError:
            data = raw.recv(65536)
            if not data:
                return
            inc.write(data)
    obj.write(b"R" * 3000)
    record_bytes = out.read()
    t = time.time()
    raw.sendall(record_bytes[:1200])
    raw.shutdown(socket.SHUT_WR)
    record("h12", response_record_bytes=len(record_bytes), sent_bytes=1200,
           cut_fin_t=r6(t))
    while raw.recv(65536):
        pass
    raw.close()


def serve_refused(raw, ctx):
    """A TLS 1.2-only server meeting a TLS 1.3-only client: OpenSSL refuses the hello with a
    cleartext protocol_version alert."""
    try:
        ctx.wrap_socket(raw, server_side=True).close()
    except (ssl.SSLError, OSError) as e:
        record("i13", server_error=str(getattr(e, "reason", e)), server_refused_t=r6(time.time()))
    raw.close()


def server(ready, plans, stop):
    ctx = server_ctx()
    listeners = []
    old_ctx = server_ctx()
    old_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    for port in (PORT, PORT + 1, PORT + 2):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", port))
        ls.listen(16)
        ls.settimeout(0.05)
        listeners.append(ls)
    ready.set()
    while not stop.is_set():
        for i, ls in enumerate(listeners):
            try:
                raw, _ = ls.accept()
            except socket.timeout:
                continue
            target, args = [(serve_one, (raw, ctx, plans)), (serve_truncated, (raw, ctx)),
                            (serve_refused, (raw, old_ctx))][i]
            threading.Thread(target=target, args=args, daemon=True).start()
    for ls in listeners:
        ls.close()


# ------------------------------------------------------------------------------------ clients

def client_ctx(tls, keylog):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(HERE, "server.crt"))
    ctx.set_alpn_protocols([ALPN])
    ctx.keylog_filename = keylog
    if tls == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def session_facts(name, s):
    record(name, tls=s.version(), cipher=s.cipher()[0], alpn=s.selected_alpn_protocol(),
           sni=HOST)


def client(plan, ctx, plans, start_t):
    name = plan["name"]
    raw = socket.socket()
    raw.connect(("127.0.0.1", PORT))
    port = raw.getsockname()[1]
    plans[port] = (name, plan)
    record(name, client_port=port, server_port=PORT, connect_t=r6(time.time()))
    s = ctx.wrap_socket(raw, server_hostname=HOST)
    session_facts(name, s)
    s.settimeout(0.95)
    beats = []
    unanswered_run = 0
    t_next = start_t + PERIOD
    k = 0
    gave_up = False
    for n in range(1, plan["beats"] + 1):
        gap = plan.get("late", {}).get(n, PERIOD)
        if n > 1:
            t_next += gap
        if n in plan.get("skip", ()):
            continue
        while time.time() < t_next:
            time.sleep(min(0.002, max(0.0, t_next - time.time())))
        k += 1
        sent = time.time()
        s.sendall(b"PING")
        reply_t = None
        try:
            got = s.recv(4)
            if got == b"PONG":
                reply_t = time.time()
        except socket.timeout:
            pass
        beats.append({"k": k, "sent_t": r6(sent), "reply_t": r6(reply_t),
                      "gap_s": r6(sent - beats[-1]["sent_t"]) if beats else None,
                      "answered": reply_t is not None})
        unanswered_run = 0 if reply_t is not None else unanswered_run + 1
        if plan.get("give_up_after") and unanswered_run >= plan["give_up_after"]:
            gave_up = True
            break
    record(name, beats=beats, gave_up=gave_up)
    close = plan["close"]
    t = time.time()
    if close == "close_notify":
        s.settimeout(3)
        try:
            s.unwrap().close()
        except (ssl.SSLError, OSError):
            s.close()
    elif close == "fin":
        s.shutdown(socket.SHUT_WR)  # drops the TLS session first: no close_notify
        s.settimeout(3)
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
        s.close()
    elif close == "fin_alert_rst":
        s.close()  # Python's close sends no close_notify
    record(name, client_close=close, client_close_t=r6(t))


def client_refused(ctx):
    raw = socket.create_connection(("127.0.0.1", PORT + 2))
    record("i13", client_port=raw.getsockname()[1], server_port=PORT + 2,
           connect_t=r6(time.time()))
    try:
        ctx.wrap_socket(raw, server_hostname=HOST).close()
    except (ssl.SSLError, OSError) as e:
        record("i13", client_error=str(getattr(e, "reason", e)))
    raw.close()


def client_truncated(ctx):
    raw = socket.create_connection(("127.0.0.1", PORT + 1))
    port = raw.getsockname()[1]
    record("h12", client_port=port, server_port=PORT + 1, connect_t=r6(time.time()))
    s = ctx.wrap_socket(raw, server_hostname=HOST, suppress_ragged_eofs=True)
    session_facts("h12", s)
    s.settimeout(3)
    t = time.time()
    s.sendall(b"GET ")
    got = 0
    outcome = "eof"
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += len(b)
    except ssl.SSLError as e:
        outcome = f"ssl error: {e.reason}"
    record("h12", request_sent_t=r6(t), client_read_bytes=got, client_outcome=outcome)
    time.sleep(0.2)
    s.close()


# ------------------------------------------------------------------------------------ main

def inside():
    subprocess.run(["ip", "link", "set", "lo", "up", "mtu", "600"], check=True)
    # Without segmentation offload the kernel cuts what it sends at the MSS (560), so the
    # capture holds records split across segments, not 64 kB super-packets.
    subprocess.run(["ethtool", "-K", "lo", "tso", "off", "gso", "off", "gro", "off"],
                   check=True, stdout=subprocess.DEVNULL)
    cap = os.path.join(HERE, "capture.pcapng")
    dump = subprocess.Popen(["dumpcap", "-q", "-i", "lo", "-f", "tcp", "-w", cap],
                            stderr=subprocess.PIPE)
    time.sleep(1.5)
    keydir = "/tmp/ks-tls-keylogs"
    os.makedirs(keydir, exist_ok=True)
    for f in os.listdir(keydir):
        os.unlink(os.path.join(keydir, f))
    plans = {}
    ready, stop = threading.Event(), threading.Event()
    srv = threading.Thread(target=server, args=(ready, plans, stop), daemon=True)
    srv.start()
    ready.wait()
    threads = []
    base = time.time() + 0.3
    for i, plan in enumerate(CONNS):
        ctx = client_ctx(plan["tls"], os.path.join(keydir, f"{plan['name']}.log"))
        if plan.get("kind") == "truncated":
            th = threading.Thread(target=client_truncated, args=(ctx,))
        elif plan.get("kind") == "refused":
            th = threading.Thread(target=client_refused, args=(ctx,))
        else:
            th = threading.Thread(target=client, args=(plan, ctx, plans, base + 0.12 * i))
        threads.append(th)
        th.start()
        time.sleep(0.12)
    for th in threads:
        th.join()
    time.sleep(1.0)
    stop.set()
    srv.join()
    time.sleep(0.5)
    dump.terminate()
    dump.wait()
    with open(os.path.join(HERE, "keylog.txt"), "w") as out:
        for plan in CONNS:
            with open(os.path.join(keydir, f"{plan['name']}.log")) as f:
                out.write(f.read())
    truth = {
        "scenario": "tls-heartbeat",
        "refusing_server": f"127.0.0.1:{PORT + 2}",
        "period_s": PERIOD,
        "server": f"127.0.0.1:{PORT}",
        "truncation_server": f"127.0.0.1:{PORT + 1}",
        "sni": HOST,
        "alpn": ALPN,
        "connections": [dict(name=p["name"], plan={k: v for k, v in p.items()
                                                   if k not in ("name", "late", "skip")},
                             late_plan={str(k): v for k, v in p.get("late", {}).items()},
                             skipped=sorted(p.get("skip", ())),
                             **truth_conns.get(p["name"], {})) for p in CONNS],
    }
    truth["facts"] = facts(truth)
    with open(os.path.join(HERE, "truth.json"), "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")


def facts(truth):
    """What keepsight must conclude, from what the driver did (see ../FACTS.md)."""
    out = []
    by = {c["name"]: c for c in truth["connections"]}

    def fact(id_, check, command="diagnose"):
        out.append({"capture": "capture.pcapng", "command": command, "args": [],
                    "id": id_, "check": check})

    for name, c in by.items():
        if "beats" not in c:
            continue
        fact(f"{name} (TLS {c['plan']['tls']}): the client's PING every 1 s is found inside TLS",
             {"heartbeat": {"client_port": c["client_port"]},
              "where": {"sender": "client", "period_s": [0.9, 1.1]}})
    for name in ("a13", "b12"):
        c = by[name]
        late = [b for b in c["beats"] if b["gap_s"] and b["gap_s"] > 1.5]
        g = late[0]["gap_s"]
        fact(f"{name}'s late beat ({g:.2f} s after the previous) is found",
             {"finding": "late_heartbeat", "conn": {"client_port": c["client_port"]},
              "where": {"gap_s": [round(g - 0.05, 6), round(g + 0.05, 6)]}, "count": 1})
    for name in ("d12", "e13", "g13"):
        fact(f"{name} is never late",
             {"no_finding": "late_heartbeat", "conn": {"client_port": by[name]["client_port"]}})
    c = by["c13"]
    fact("c13's skipped beat is one missed beat",
         {"finding": "missed_heartbeat", "conn": {"client_port": c["client_port"]},
          "where": {"missed": 1}, "count": 1})
    c = by["f12"]
    fact("f12's beats after the 4th go unanswered",
         {"finding": "unanswered_heartbeat", "conn": {"client_port": c["client_port"]}})
    fact("f12's client gave up after 3 unanswered beats",
         {"finding": "heartbeat_gave_up", "conn": {"client_port": c["client_port"]},
          "where": {"by": "client", "unanswered": 3}})
    c = by["g13"]
    fact("g13's replies from the 5th beat on are slow",
         {"finding": "slow_heartbeat_reply", "conn": {"client_port": c["client_port"]}})
    for name, c in by.items():
        if "beats" in c:
            fact(f"{name}'s probes are TLS application data records, matched by pattern",
                 {"heartbeat": {"client_port": c["client_port"]},
                  "where": {"tls_record": "application_data",
                            "probe_len": 5 + (21 if c["plan"]["tls"] == "1.3" else 28)}})
    # Closes: what each side's socket did, from the driver's own close calls.
    for name, c in by.items():
        close = c.get("client_close")
        sel = {"client_port": c["client_port"]}
        if close == "close_notify":
            fact(f"{name}: the client closed with close_notify, the server answered with its own",
                 {"close": sel, "where": {"tls.close_notify_by": {"contains": "client"},
                                          "tls.bare_fin_by": {"len": 0}}})
        elif close == "fin":
            fact(f"{name}: both sides closed with a bare FIN, no close_notify",
                 {"close": sel, "where": {"tls.close_notify_by": {"len": 0},
                                          "tls.bare_fin_by": {"len": 2},
                                          "tls.after_peer_fin_by": {"len": 0}}})
        elif close == "fin_alert_rst":
            fact(f"{name}: the client's bare FIN, the server's alert after it and the client "
                 "kernel's RST are a TLS shutdown, not a close race",
                 {"finding": "connection_reset", "conn": sel,
                  "where": {"by": "client", "tls_shutdown": True, "close_race": False,
                            "severity": "info"}, "count": 1})
            fact(f"{name}: the server sent TLS records after the client's FIN",
                 {"close": sel, "where": {"kind": "rst", "tls.bare_fin_by": {"contains": "client"},
                                          "tls.after_peer_fin_by": {"contains": "server"}}})
    fact("no reset in the capture is called a keep-alive close race",
         {"no_finding": "connection_reset", "where": {"close_race": True}})
    fact("the TLS shutdown resets are no cause of death",
         {"no_cause": "connection_reset"})
    c = by["f12"]
    fact("f12's client gave up with its TLS alert",
         {"finding": "heartbeat_gave_up", "conn": {"client_port": c["client_port"]},
          "where": {"close": "tls_alert"}})
    c = by["h12"]
    fact("h12: the server's FIN cut its response record (TLS truncation)",
         {"finding": "tls_truncation", "conn": {"client_port": c["client_port"]},
          "where": {"by": "server", "sent_bytes": c["sent_bytes"],
                    "record_len": c["response_record_bytes"], "version": "TLSv1.2"},
          "count": 1})
    for name in ("a13", "c13", "d12"):
        fact(f"{name}'s closes are no truncation",
             {"no_finding": "tls_truncation", "conn": {"client_port": by[name]["client_port"]}})
    return out


def main():
    if sys.argv[1:] == ["facts"]:
        # Rewrites truth.json's facts from its own record of the run (after a change to the
        # facts, without making a new capture).
        path = os.path.join(HERE, "truth.json")
        with open(path) as f:
            truth = json.load(f)
        truth["facts"] = facts(truth)
        with open(path, "w") as f:
            json.dump(truth, f, indent=2)
            f.write("\n")
        return
    if os.environ.get("KS_TLS_INSIDE") != "1":
        env = dict(os.environ, KS_TLS_INSIDE="1")
        sys.exit(subprocess.call(["unshare", "-n", sys.executable, os.path.abspath(__file__)],
                                 env=env))
    inside()


if __name__ == "__main__":
    main()
