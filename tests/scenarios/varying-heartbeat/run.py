#!/usr/bin/env python3
"""varying-heartbeat -- heartbeats whose bytes change every beat (a counter, a send time, a
random id), 16-200 bytes, sent by the client on some connections and by the server on another,
with a late beat, a missed beat and a peer that gives up (root; ~20 s per variant).

Issue 24, item 1 (generic discovery that survives changing bytes).  One server namespace and one
client namespace (kit.pair), plain kernel sockets, capture on the client veth.  Four connections,
each from its own client address:

* **late** (client beats): the client's 6th beat leaves LATE_FACTOR periods after its 5th, then
  the beats go on; the client closes with FIN after its last beat's reply.
* **missed** (client beats): the client skips its 6th beat (two periods between the 5th and the
  next one); FIN at the end.
* **gives-up** (client beats): the server answers 4 beats, then reads and never answers; the
  client closes (the variant's close: FIN or RST) when its 4th unanswered beat would be due,
  after 3 unanswered beats.
* **server-beats** (server beats, the client answers): the server's 4th beat leaves LATE_FACTOR
  periods after its 3rd; the client answers 6 beats, then reads and never answers; the server
  gives up after 3 unanswered beats with RST (SO_LINGER 0) when the next one is due.

Variants (ports, periods, sizes and encodings differ, so the rule is not tuned to one):

* `json` (this directory): port 7601, period 1.0 s, JSON text `{"op":"ping","seq":N,"ts":T,
  "id":"<12 hex>","from":"..."}` (~80-95 bytes), answered `{"op":"pong",...}`; give-up with FIN.
* `binary` (binary/): port 9402, period 0.7 s, 48-byte binary beats: magic `HBv1`, u32 seq,
  u64 send time (µs), 16 random bytes, a fixed trailer; answered by 36-byte `HBr1` records;
  give-up with RST.
* `small` (small/): port 6390, period 0.5 s, a 27-29-byte text line `HB N <time, ms> <6 hex>`
  answered `OK N <ms>`; give-up with RST.
* `long` (long/): port 5443, period 1.5 s, a 150-200-byte text line `KEEPALIVE seq=N
  sent=<ISO time> session=<random hex> node=... load=...` answered `ALIVE seq=N at=<time>`;
  give-up with FIN.
* `early` (early/): the `json` beats, port 7702, period 0.9 s; on **gives-up** the server answers
  only 2 beats and the client gives up after 2 unanswered (FIN): 4 beats in all.
* `early-binary` (early-binary/): the `binary` beats, port 9503, period 0.6 s, the same early
  give-up with RST.

truth.json: every beat of every connection (who sent it, when, its length, whether and when it
was answered), the configured period, and `facts` (tests/scenarios/FACTS.md) checked by
crates/cli/tests/scorecard.rs.  No application log.
"""
import json
import os
import secrets
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import kit  # noqa: E402
from kit import ksnet, r6  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = {
    "json": dict(sub="", tag="vh", net="10.77.82", port=7601, period=1.0, close="fin"),
    "binary": dict(sub="binary", tag="vb", net="10.77.83", port=9402, period=0.7, close="rst"),
    "long": dict(sub="long", tag="vl", net="10.77.84", port=5443, period=1.5, close="fin"),
    "small": dict(sub="small", tag="vs", net="10.77.85", port=6390, period=0.5, close="rst"),
    # A peer that stops after two answers, a sender that gives up after two misses: four beats
    # in all, as few as an exact-bytes heartbeat needs to be found giving up.
    "early": dict(sub="early", tag="ve", net="10.77.86", port=7702, period=0.9, close="fin",
                  kind="json", server_answers=2, give_up_after=2),
    "early-binary": dict(sub="early-binary", tag="vf", net="10.77.87", port=9503, period=0.6,
                         close="rst", kind="binary", server_answers=2, give_up_after=2),
}
BEATS = 10
LATE_FACTOR = 1.6
SKIPPED = 6
SERVER_ANSWERS = 4
CLIENT_ANSWERS = 6
GIVE_UP_AFTER = 3
CONNS = ["late", "missed", "gives-up", "server-beats"]


# ------------------------------------------------------------------------------- framing

def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e6):06d}Z"


def make_beat(kind, seq, name, t):
    if kind == "json":
        return json.dumps({"op": "ping", "seq": seq, "ts": round(t, 6), "id": secrets.token_hex(6),
                           "from": name}, separators=(",", ":")).encode() + b"\n"
    if kind == "small":
        return f"HB {seq} {t:.3f} {secrets.token_hex(3)}\n".encode()
    if kind == "binary":
        return (b"HBv1" + struct.pack(">IQ", seq, int(t * 1e6)) + secrets.token_bytes(16)
                + b"\x00\x0cnode-beat-v1\x00\x00")[:48]
    pad = "load=" + ",".join(["0.42"] * 6)
    return (f"KEEPALIVE seq={seq} sent={iso(t)} session={secrets.token_hex(10)} node={name} "
            f"proto=lineproto/2 {pad} end\n").encode()


def make_reply(kind, seq, t):
    if kind == "json":
        return json.dumps({"op": "pong", "seq": seq, "ts": round(t, 6),
                           "id": secrets.token_hex(6)}, separators=(",", ":")).encode() + b"\n"
    if kind == "small":
        return f"OK {seq} {int(t * 1000) % 100000}\n".encode()
    if kind == "binary":
        return b"HBr1" + struct.pack(">IQ", seq, int(t * 1e6)) + secrets.token_bytes(16) + b"\x00" * 4
    return f"ALIVE seq={seq} at={iso(t)}\n".encode()


def read_message(sock, kind):
    """One message (a line, or a fixed-size binary record); None at EOF."""
    if kind == "binary":
        first = sock.recv(4, socket.MSG_PEEK)
        if not first:
            return None
        n = 48 if first == b"HBv1" else 36
        buf = b""
        while len(buf) < n:
            d = sock.recv(n - len(buf))
            if not d:
                return None
            buf += d
        return buf
    buf = b""
    while not buf.endswith(b"\n"):
        d = sock.recv(1)
        if not d:
            return None
        buf += d
    return buf


# ------------------------------------------------------------------------------- roles

def linger0(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def prober(sock, kind, name, period, plan, answers_ok, close_kind, rec, start_t,
           give_up_after=GIVE_UP_AFTER):
    """Sends beats on `plan` (beat k's offset in periods from start_t), reads each reply (with a
    period's patience); gives up after `give_up_after` unanswered beats in a row.  Records every
    beat in rec["beats"]."""
    sock.settimeout(period * 0.9)
    unanswered = 0
    for k, at in plan:
        due = start_t + at * period
        time.sleep(max(0.0, due - time.time()))
        if unanswered >= give_up_after:
            if close_kind == "rst":
                linger0(sock)
            rec["end"] = {"kind": close_kind, "by": rec["prober"], "t": r6(time.time()),
                          "cause": "gave up", "unanswered": unanswered}
            sock.close()
            return
        t = time.time()
        msg = make_beat(kind, k, name, t)
        sock.sendall(msg)
        beat = {"k": k, "sent_t": r6(t), "len": len(msg), "answered": False, "reply_t": None}
        rec["beats"].append(beat)
        try:
            reply = read_message(sock, kind)
        except socket.timeout:
            reply = None
        if reply:
            beat["answered"] = True
            beat["reply_t"] = r6(time.time())
            beat["reply_len"] = len(reply)
            unanswered = 0
        else:
            unanswered += 1
    time.sleep(period / 2)
    rec["end"] = {"kind": "fin", "by": rec["prober"], "t": r6(time.time()), "cause": "done"}
    sock.close()


def answerer(sock, kind, answers):
    """Answers `answers` beats, then keeps reading without answering, until EOF or reset."""
    n = 0
    sock.settimeout(30)
    try:
        while True:
            m = read_message(sock, kind)
            if m is None:
                break
            seq = n + 1
            if n < answers:
                sock.sendall(make_reply(kind, seq, time.time()))
            n += 1
    except (ConnectionResetError, socket.timeout, OSError):
        pass
    sock.close()


def plan_for(conn):
    ks = list(range(1, BEATS + 1))
    if conn == "late":
        return [(k, k - 1 + (LATE_FACTOR - 1 if k >= 6 else 0)) for k in ks]
    if conn == "missed":
        # Beat 6 is never sent: the 7th follows the 5th two periods later.
        return [(k, k - 1) for k in ks if k != SKIPPED]
    if conn == "server-beats":
        return [(k, k - 1 + (LATE_FACTOR - 1 if k >= 4 else 0)) for k in ks + [11, 12]]
    return [(k, k - 1) for k in ks]


def main():
    variant = sys.argv[1] if len(sys.argv) > 1 else "json"
    v = VARIANTS[variant]
    here = os.path.join(HERE, v["sub"]) if v["sub"] else HERE
    os.makedirs(here, exist_ok=True)
    period, port, kind = v["period"], v["port"], v.get("kind", variant)
    server_answers = v.get("server_answers", SERVER_ANSWERS)
    give_up_after = v.get("give_up_after", GIVE_UP_AFTER)
    sa = f"{v['net']}.1"
    addrs = {c: f"{v['net']}.{11 + i}" for i, c in enumerate(CONNS)}
    c_ns, s_ns, c_if, _s_if = kit.pair(v["tag"], list(addrs.values()), [sa])
    ls = kit.listener(s_ns, sa, port)
    cap = ksnet.Capture(c_ns, c_if, os.path.join(here, "capture.pcapng"))
    time.sleep(0.5)
    recs = {c: {"name": c, "prober": "server" if c == "server-beats" else "client",
                "beats": []} for c in CONNS}
    threads = []

    def serve():
        for _ in CONNS:
            conn, peer = ls.accept()
            name = [c for c, a in addrs.items() if a == peer[0]][0]
            rec = recs[name]
            if name == "server-beats":
                t = threading.Thread(target=prober, args=(
                    conn, kind, "server", period, plan_for(name), CLIENT_ANSWERS, "rst", rec,
                    time.time() + period))
            else:
                answers = server_answers if name == "gives-up" else 1000
                t = threading.Thread(target=answerer, args=(conn, kind, answers))
            t.start()
            threads.append(t)

    srv = threading.Thread(target=serve)
    srv.start()
    t0 = time.time()
    for i, name in enumerate(CONNS):
        sock = kit.connect(c_ns, sa, port, src=addrs[name])
        rec = recs[name]
        rec.update({"client": f"{addrs[name]}:{sock.getsockname()[1]}",
                    "client_port": sock.getsockname()[1], "connect_t": r6(time.time())})
        if name == "server-beats":
            t = threading.Thread(target=answerer, args=(sock, kind, CLIENT_ANSWERS))
        else:
            t = threading.Thread(target=prober, args=(
                sock, kind, name, period, plan_for(name), None,
                v["close"] if name == "gives-up" else "fin", rec, time.time() + period,
                give_up_after))
        t.start()
        threads.append(t)
        time.sleep(period / 4)
    srv.join()
    for t in threads:
        t.join(timeout=60)
    time.sleep(0.5)
    cap.stop()
    ls.close()

    facts = []
    cap_ = "capture.pcapng"

    def fact(fid, check):
        facts.append({"id": fid, "capture": cap_, "command": "diagnose", "args": [],
                      "check": check})

    for name in CONNS:
        rec = recs[name]
        conn = {"client_port": rec["client_port"]}
        sender = rec["prober"]
        lens = [b["len"] for b in rec["beats"]]
        first_len = lens[0]
        fact(f"{name}: the heartbeat is the {sender}'s beat every {period} s ({min(lens)}-{max(lens)} bytes, changing every beat)",
             {"heartbeat": conn, "where": {"sender": sender, "probe_len": first_len,
                                           "period_s": [round(period * 0.95, 3),
                                                        round(period * 1.05, 3)]}})
        beats = rec["beats"]
        if name in ("late", "server-beats"):
            late_k = 6 if name == "late" else 4
            prev = [b for b in beats if b["k"] == late_k - 1][0]
            late = [b for b in beats if b["k"] == late_k][0]
            gap = late["sent_t"] - prev["sent_t"]
            rec["late_beat"] = {"k": late_k, "gap_s": r6(gap)}
            fact(f"{name}: the {sender}'s late beat ({gap:.2f} s after the previous) is found",
                 {"finding": "late_heartbeat", "conn": conn, "count": 1,
                  "where": {"gap_s": [round(gap - 0.05, 3), round(gap + 0.05, 3)]}})
            fact(f"{name}: no beat was missed", {"no_finding": "missed_heartbeat", "conn": conn})
        if name == "missed":
            fact(f"{name}: the client's one missed beat is found",
                 {"finding": "missed_heartbeat", "conn": conn, "count": 1,
                  "where": {"missed": 1}})
            fact(f"{name}: no beat was late", {"no_finding": "late_heartbeat", "conn": conn})
        end = rec["end"]
        if end["cause"] == "gave up":
            fact(f"{name}: the {sender} gave up after {end['unanswered']} unanswered beats ({end['kind']})",
                 {"finding": "heartbeat_gave_up", "conn": conn, "count": 1,
                  "where": {"by": sender, "close": end["kind"], "unanswered": end["unanswered"]}})
            fact(f"{name}: its death is told as the {sender} giving up",
                 {"cause": "heartbeat_gave_up", "by": sender, "conn": conn})
            fact(f"{name}: its unanswered beats are found",
                 {"finding": "unanswered_heartbeat", "conn": conn, "count": end["unanswered"]})
        else:
            fact(f"{name}: nobody gave up", {"no_finding": "heartbeat_gave_up", "conn": conn})
            fact(f"{name}: every beat was answered",
                 {"no_finding": "unanswered_heartbeat", "conn": conn})
    truth = {
        "scenario": "varying-heartbeat" + (f"/{v['sub']}" if v["sub"] else ""),
        "variant": variant,
        "clock": "Unix epoch seconds from the driver's time.time() (same clock as the capture)",
        "capture": f"capture.pcapng (dumpcap on the client veth ks{v['tag']}c, Ethernet)",
        "server": f"{sa}:{port}",
        "period_s": period,
        "late_factor": LATE_FACTOR,
        "start_t": r6(t0),
        "connections": [recs[c] for c in CONNS],
        "facts": facts,
    }
    kit.finish(here, truth, None, [cap_])
    print("done", variant, [(r["name"], r["client_port"], r["end"]) for r in recs.values()])


if __name__ == "__main__":
    try:
        main()
    finally:
        ksnet.cleanup()
