#!/usr/bin/env python3
"""verify_truth.py -- cross-check each scenario's truth.json against its capture(s) with tshark.

Not a keepsight test: it only proves that the committed truth files and captures belong
together (times agree within TOL, the events the driver claims are on the wire).  Needs tshark.
Prints one line per check and ends with 'truth: N passed, N failed'.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOL = 0.005   # seconds between the driver's clock reading and the frame timestamp
results = []


def frames(cap, flt, fields):
    out = subprocess.run(["tshark", "-r", cap, "-Y", flt, "-T", "fields", "-E", "separator=\t"]
                         + sum((["-e", f] for f in fields), []),
                         capture_output=True, text=True).stdout
    return [ln.split("\t") for ln in out.splitlines() if ln.strip()]


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + (f"  ({detail})" if detail else ""))


def near(t, rows, col=0):
    return [r for r in rows if abs(float(r[col]) - t) < TOL]


def late_heartbeat():
    d = os.path.join(HERE, "late-heartbeat")
    tr = json.load(open(os.path.join(d, "truth.json")))
    cap = os.path.join(d, "capture.pcapng")
    check("late-heartbeat: 2 incidents", len(tr["incidents"]) == 2)
    for inc in tr["incidents"]:
        p = inc["client_port"]
        beats = frames(cap, f"tcp.srcport=={p} && tcp.len==1", ["frame.time_epoch", "frame.number"])
        m = near(inc["late_beat_sent_t"], beats)
        check(f"late-heartbeat {inc['client']}: late beat on the wire", len(m) == 1, m and f"f{m[0][1]}")
        prev = near(inc["previous_beat_sent_t"], beats)
        if m and prev:
            gap = float(m[0][0]) - float(prev[0][0])
            check(f"late-heartbeat {inc['client']}: wire gap {gap:.3f}s ~ truth {inc['gap_s']}", abs(gap - inc["gap_s"]) < TOL)
        rst = frames(cap, f"tcp.srcport=={p} && tcp.flags.reset==1", ["frame.time_epoch", "frame.number"])
        check(f"late-heartbeat {inc['client']}: RST at rst_t", len(near(inc["rst_t"], rst)) == 1,
              rst and f"f{rst[0][1]}")


def keepalive_dead_peer():
    d = os.path.join(HERE, "keepalive-dead-peer")
    tr = json.load(open(os.path.join(d, "truth.json")))
    cap = os.path.join(d, "capture-client.pcapng")
    ka = frames(cap, "tcp.analysis.keep_alive", ["frame.time_epoch"])
    after = [r for r in ka if float(r[0]) > tr["peer_cut_t"]]
    check("keepalive-dead-peer: 3 probes after the cut", len(after) == tr["keepalive"]["count"], f"{len(after)}")
    obs = tr["unanswered_probes_observed_via_tcp_info"]
    # tcp_info is polled every 5 ms: the probe frame precedes the observation by < ~10 ms
    okp = len(obs) == len(after) and all(0 <= o["observed_t"] - float(a[0]) < 0.02 for o, a in zip(obs, after))
    check("keepalive-dead-peer: TCP_INFO probe times match probe frames", okp)
    rst = frames(cap, "tcp.flags.reset==1", ["frame.time_epoch"])
    check("keepalive-dead-peer: kernel RST right before ETIMEDOUT",
          len(rst) == 1 and 0 <= tr["client_error_t"] - float(rst[0][0]) < 0.05)


def nat_idle_drop():
    for sub in ("", "loose"):
        d = os.path.join(HERE, "nat-idle-drop", sub)
        tr = json.load(open(os.path.join(d, "truth.json")))
        cc, sc = os.path.join(d, "capture-client.pcapng"), os.path.join(d, "capture-server.pcapng")
        q_client = frames(cc, "tcp.len==15", ["frame.time_epoch", "tcp.analysis.retransmission"])
        q_server = frames(sc, "tcp.len==15", ["frame.time_epoch"])
        v = tr["variant"]
        check(f"nat-idle-drop/{v}: query sent at send_after_idle_t", len(near(tr["send_after_idle_t"], q_client)) == 1)
        check(f"nat-idle-drop/{v}: conntrack entry gone ~{tr['nat_config']['nf_conntrack_tcp_timeout_established']}s after last packet",
              tr["conntrack_entry_gone_observed_t"] is not None and
              tr["conntrack_entry_gone_observed_t"] - tr["last_packet_exchange_t"] > 4.5)
        if v == "strict":
            check("nat-idle-drop/strict: client retransmits, server never gets the query",
                  len(q_client) >= 4 and not q_server, f"{len(q_client)} copies at client, {len(q_server)} at server")
            check("nat-idle-drop/strict: outcome error ETIMEDOUT", "110" in tr["after_idle"].get("error", ""))
        else:
            check("nat-idle-drop/loose: query reaches the server once and is answered",
                  len(q_server) == 1 and tr["after_idle"]["outcome"] == "answered")


def middlebox_rst():
    d = os.path.join(HERE, "middlebox-rst")
    tr = json.load(open(os.path.join(d, "truth.json")))
    inj = tr["injected_rst"]
    rst = frames(os.path.join(d, "capture-client.pcapng"), "tcp.flags.reset==1 && ip.src==10.77.41.2",
                 ["frame.time_epoch", "ip.ttl", "ip.id", "ip.flags.df"])
    m = near(inj["t"], rst)
    check("middlebox-rst: forged RST at the client at injected.t", len(m) == 1)
    if m:
        check("middlebox-rst: forged RST has TTL 64, id 0xbeef, DF clear",
              m[0][1] == "64" and int(m[0][2], 16) == 0xBEEF and m[0][3] in ("0", "False"), str(m[0][1:]))
    srv = frames(os.path.join(d, "capture-server.pcapng"), "tcp.flags.reset==1", ["frame.time_epoch", "ip.src"])
    check("middlebox-rst: server sees no RST before it closes its stale socket",
          all(float(r[0]) >= tr["server_closes_old_sockets_t"] for r in srv))


def http_keepalive():
    d = os.path.join(HERE, "http-keepalive")
    tr = json.load(open(os.path.join(d, "truth.json")))
    cap = os.path.join(d, "capture.pcapng")
    reqs = frames(cap, "http.request", ["frame.time_epoch", "http.request.uri", "tcp.srcport"])
    for e in tr["exchanges"]:
        uri = e["request"].split(" ")[1]
        m = [r for r in near(e["request_sent_t"], reqs) if r[1] == uri and int(r[2]) == e["client_port"]]
        check(f"http-keepalive {e['id']}: {uri} on the wire at request_sent_t", len(m) == 1)
    for c in tr["connections"]:
        if c.get("outcome") == "eof-before-headers" or "n5" in c["ids"]:
            rst = frames(cap, f"tcp.port=={c['client_port']} && tcp.flags.reset==1", ["frame.time_epoch"])
            check(f"http-keepalive {c['ids']}: the lost reuse is answered by RST", len(rst) == 1)


def on_wire(scn, what, t, port, flt="tcp.len>0", to=False, cap="capture.pcapng"):
    """The driver's event at time t is a frame sent from (or, with `to`, to) client port `port`
    matching flt within TOL."""
    side = "tcp.dstport" if to else "tcp.srcport"
    rows = frames(os.path.join(HERE, scn, cap), f"{side}=={port} && {flt}", ["frame.time_epoch", "frame.number"])
    m = near(t, rows)
    check(f"{scn}: {what} on the wire", len(m) == 1, m and f"f{m[0][1]}")


def truth_of(scn):
    return json.load(open(os.path.join(HERE, scn, "truth.json")))


def issue15_heartbeats():
    t = truth_of("deadline-tz8")
    c = t["clients"][0]["connections"][0]
    on_wire("deadline-tz8", "feed-1's late beat", c["end"]["late_beat_sent_t"], c["client_port"])
    on_wire("deadline-tz8", "feed-1's RST", c["end"]["t"], c["client_port"], "tcp.flags.reset==1")
    check("deadline-tz8: the watchdog fired before the late beat left",
          c["watchdog_fired_t"] < c["end"]["late_beat_sent_t"] - 1.0)
    t = truth_of("labels-tz-minus5")
    for c in t["connections"]:
        for b in c["beats"]:
            if b["reply_t"] is None or b["gap_s"] > 3.0:
                on_wire("labels-tz-minus5", f"conn {c['label']} beat {b['k']}", b["sent_t"], c["client_port"])
    t = truth_of("slow-reply")
    a = t["workers"][0]
    for b in a["beats"]:
        if b["latency_s"] > 1.0:
            on_wire("slow-reply", f"worker-a slow reply to beat {b['k']}", b["reply_t"], a["client_port"], to=True)
    t = truth_of("gave-up-fin")
    s7 = t["sensors"][0]
    for b in s7["beats"]:
        if b["reply_t"] is None:
            on_wire("gave-up-fin", f"sensor-7 unanswered beat {b['k']}", b["sent_t"], s7["client_port"])
    on_wire("gave-up-fin", "sensor-7's FIN", s7["end"]["t"], s7["client_port"], "tcp.flags.fin==1")
    t = truth_of("gave-up-rst")
    d2 = t["devices"]["dev-2"][0]
    for b in d2["pings"]:
        if b["reply_t"] is None:
            on_wire("gave-up-rst", f"dev-2 unanswered PINGREQ {b['k']}", b["sent_t"], d2["client_port"])
    on_wire("gave-up-rst", "dev-2's RST", d2["end"]["t"], d2["client_port"], "tcp.flags.reset==1")
    t = truth_of("gave-up-server")
    dead = [x for x in t["server_connections"] if x["end"]][0]
    port = int(dead["peer"].rsplit(":", 1)[1])
    for pg in dead["pings"]:
        if pg["pong_t"] is None:
            on_wire("gave-up-server", f"unanswered ping {pg['k']}", pg["sent_t"], port, to=True)
    on_wire("gave-up-server", "the server's RST", dead["end"]["t"], port, "tcp.flags.reset==1", to=True)
    t = truth_of("server-rst-late")
    x, y = t["clients"]["app-x"][0], t["clients"]["app-y"][0]
    on_wire("server-rst-late", "app-x's late beat", x["end"]["late_beat_sent_t"], x["client_port"])
    srv = t["server_resets"][0]
    on_wire("server-rst-late", "the server's RST to app-x", srv["t"], x["client_port"], "tcp.flags.reset==1", to=True)
    on_wire("server-rst-late", "app-y's own RST", y["end"]["t"], y["client_port"], "tcp.flags.reset==1")
    t = truth_of("five-clients-64b")
    n4 = t["nodes"]["node-4"][0]
    on_wire("five-clients-64b", "node-4's late beat", n4["end"]["late_beat_sent_t"], n4["client_port"])
    on_wire("five-clients-64b", "node-4's FIN", n4["end"]["t"], n4["client_port"], "tcp.flags.fin==1")
    t = truth_of("forged-rst-idle")
    c1 = t["db1"][0]
    on_wire("forged-rst-idle", "db-1's query after idle", c1["after_idle_query_t"], c1["client_port"])
    rst = frames(os.path.join(HERE, "forged-rst-idle", "capture.pcapng"),
                 f"tcp.port=={c1['client_port']} && tcp.flags.reset==1", ["frame.time_epoch", "ip.ttl"])
    check("forged-rst-idle: one RST, TTL 255, right after the query",
          len(rst) == 1 and rst[0][1] == "255" and 0 <= float(rst[0][0]) - c1["after_idle_query_t"] < TOL, str(rst))


def issue15_http():
    t = truth_of("haproxy-drain")
    cap = os.path.join(HERE, "haproxy-drain", "capture.pcapng")
    resp = frames(cap, "http.response", ["frame.number", "http.connection"])
    closes = sum(1 for r in resp if r[-1].lower() == "close")
    check("haproxy-drain: responses and close responses as the driver counted",
          len(resp) == t["responses"] and closes == t["close_responses"], f"{closes}/{len(resp)}")
    t = truth_of("nginx-limit5")
    cap = os.path.join(HERE, "nginx-limit5", "capture.pcapng")
    resp = frames(cap, "http.response", ["frame.number", "http.connection"])
    check("nginx-limit5: 6 close responses", sum(1 for r in resp if r[-1] == "close") == 6)
    t = truth_of("reuse-race")
    for c in t["connections"]:
        on_wire("reuse-race", f"reuse {c['reuse_after_s']:.3f}s request", c["reuse_sent_t"], c["client_port"], "http.request")
        rst = frames(os.path.join(HERE, "reuse-race", "capture.pcapng"), f"tcp.port=={c['client_port']} && tcp.flags.reset==1",
                     ["frame.number"])
        check(f"reuse-race: reuse {c['reuse_after_s']:.3f}s {'answered' if c['won'] else 'answered by RST'}",
              (len(rst) == 0) == c["won"])
def local_time_log():
    for sub in ("", "west"):
        d = os.path.join(HERE, "local-time-log", sub)
        tr = json.load(open(os.path.join(d, "truth.json")))
        name = tr["scenario"]
        cap = os.path.join(d, "capture.pcapng")
        probe = ":".join(tr["heartbeat_request"][i:i + 2] for i in range(0, len(tr["heartbeat_request"]), 2))
        probes = frames(cap, f"tcp.payload == {probe}", ["frame.time_epoch", "tcp.srcport", "tcp.dstport"])
        rsts = frames(cap, "tcp.flags.reset==1", ["frame.time_epoch", "tcp.srcport", "tcp.dstport"])
        on = lambda rows, p: [r for r in rows if p in (int(r[1]), int(r[2]))]  # noqa: E731
        for label, conns in tr["connections"].items():
            for c in conns:
                e = c["end"]
                if e["kind"] != "rst":
                    continue
                p = c["client_port"]
                late = on(near(e["late_beat_sent_t"], probes), p)
                prev = on(near(e["previous_beat_sent_t"], probes), p)
                check(f"{name} {label}: late probe and the one before on the wire", len(late) == 1 and len(prev) == 1)
                check(f"{name} {label}: {e['by']} RST at rst t", len(on(near(e["t"], rsts), p)) == 1)
        # The incident lines are where the driver says it wrote them.
        lines = open(os.path.join(d, "app.log")).read().splitlines()
        for what, n in tr["lines"].items():
            check(f"{name} {what}: line {n}", 1 <= n <= len(lines), lines[n - 1] if n <= len(lines) else "")
def slow_heartbeat_reply():
    d = os.path.join(HERE, "slow-heartbeat-reply")
    tr = json.load(open(os.path.join(d, "truth.json")))
    cap = os.path.join(d, "capture.pcapng")
    for c in tr["clients"]:
        p = c["client_port"]
        probes = frames(cap, f"tcp.srcport=={p} && tcp.len==5", ["frame.time_epoch"])
        replies = frames(cap, f"tcp.dstport=={p} && tcp.len==5", ["frame.time_epoch"])
        ok = len(probes) == len(c["beats"]) == len(replies)
        for b, q, r in zip(c["beats"], probes, replies):
            # The client reads the reply a little after the server's frame leaves.
            ok &= abs(float(q[0]) - b["sent_t"]) < TOL and 0 <= b["reply_t"] - float(r[0]) < 0.02
        check(f"slow-heartbeat-reply {c['name']}: every probe and reply on the wire at its time", ok)


def heartbeat_give_up():
    d = os.path.join(HERE, "heartbeat-give-up")
    tr = json.load(open(os.path.join(d, "truth.json")))
    cap = os.path.join(d, "capture.pcapng")
    for c in tr["clients"]:
        p = c["client_port"]
        probes = frames(cap, f"tcp.srcport=={p} && tcp.len==3", ["frame.time_epoch"])
        replies = frames(cap, f"tcp.dstport=={p} && tcp.len==3", ["frame.time_epoch"])
        answered = [b for b in c["beats"] if b["answered"]]
        ok = len(probes) == len(c["beats"]) and len(replies) == len(answered)
        ok &= all(abs(float(q[0]) - b["sent_t"]) < TOL for b, q in zip(c["beats"], probes))
        check(f"heartbeat-give-up {c['name']}: {len(answered)} of {len(c['beats'])} probes answered on the wire", ok)
        end = c["end"]
        flt = "tcp.flags.reset==1" if end["kind"] == "rst" else "tcp.flags.fin==1"
        close = frames(cap, f"tcp.srcport=={p} && {flt}", ["frame.time_epoch"])
        # end.t is read when shutdown()/close() returns, just after the segment left.
        check(f"heartbeat-give-up {c['name']}: client {end['kind']} at end.t",
              len(close) == 1 and 0 <= end["t"] - float(close[0][0]) < 0.05)
def middlebox_idle_rst():
    d = os.path.join(HERE, "middlebox-idle-rst")
    tr = json.load(open(os.path.join(d, "truth.json")))
    cap = os.path.join(d, "capture.pcapng")
    inj = tr["injected_rst"]
    first = tr["connections"][0]
    port = first["client_port"]
    rst = frames(cap, f"tcp.flags.reset==1 && tcp.port=={port}",
                 ["frame.time_epoch", "ip.ttl", "ip.id", "ip.flags.df"])
    m = near(inj["t"], rst)
    check("middlebox-idle-rst: the forged RST at the client at injected.t", len(m) == 1 and len(rst) == 1)
    if m:
        check("middlebox-idle-rst: forged RST has TTL 64, id 0xbeef, DF clear",
              m[0][1] == "64" and int(m[0][2], 16) == 0xBEEF and m[0][3] in ("0", "False"), str(m[0][1:]))
    genuine = frames(cap, f"ip.src==10.77.71.2 && tcp.port=={port} && tcp.flags.reset==0", ["ip.ttl"])
    check("middlebox-idle-rst: genuine server packets have TTL 63",
          genuine and all(r[0] == "63" for r in genuine), str(set(r[0] for r in genuine)))
    req = frames(cap, f"tcp.srcport=={port} && tcp.len>0", ["frame.time_epoch", "tcp.payload"])
    after = near(first["request_after_idle_sent_t"], req)
    check("middlebox-idle-rst: the request after idle on the wire at its sent time",
          len(after) == 1 and bytes.fromhex(after[0][1].replace(":", "")) == b"GET state\n")
    before = [float(r[0]) for r in req if float(r[0]) < first["request_after_idle_sent_t"] - TOL]
    check("middlebox-idle-rst: nothing sent by the client during the idle gap",
          before and first["request_after_idle_sent_t"] - max(before) > first["idle_s"])


def http_drain():
    d = os.path.join(HERE, "http-drain")
    tr = json.load(open(os.path.join(d, "truth.json")))
    cap = os.path.join(d, "capture.pcapng")
    for name in ("haproxy", "nginx"):
        port = tr[name]["server"].rsplit(":", 1)[1]
        resp = frames(cap, f"http.response && tcp.srcport=={port}", ["tcp.dstport", "http.connection"])
        check(f"http-drain {name}: every response the client read is on the wire",
              len(resp) == sum(c["responses"] for c in tr[name]["connections"]), str(len(resp)))
        closes = sorted(int(r[0]) for r in resp if len(r) > 1 and "close" in r[1].lower())
        expected = sorted(c["client_port"] for c in tr[name]["connections"] if c["said_close_at"])
        check(f"http-drain {name}: Connection: close on the connections the driver says", closes == expected)


def tls_heartbeat():
    """Every beat the driver sent is a client record on the wire at its time; the versions
    are the ones tshark sees; the cut record and the RSTs are where the driver says."""
    scn = "tls-heartbeat"
    tr = truth_of(scn)
    cap = os.path.join(HERE, scn, "capture.pcapng")
    for c in tr["connections"]:
        p = c["client_port"]
        if c.get("tls"):
            hello = frames(cap, f"tcp.port=={p} && tls.handshake.type==2",
                           ["tls.handshake.extensions.supported_version", "tls.handshake.version"])
            seen = hello and (hello[0][0] or hello[0][1])
            want = {"TLSv1.3": "0x0304", "TLSv1.2": "0x0303"}[c["tls"]]
            check(f"{scn} {c['name']}: Server Hello settles {c['tls']}", seen == want, seen)
        # The PING record: 4 bytes + 16-byte tag, + TLS 1.3's inner type or TLS 1.2's nonce.
        length = 21 if c.get("tls") == "TLSv1.3" else 28
        rows = frames(cap, f"tcp.srcport=={p} && tls.record.length=={length}",
                      ["frame.time_epoch", "frame.number"])
        for b in c.get("beats", []):
            # Python threads on a loaded machine: sendall may leave up to ~10 ms after the
            # driver read its clock.
            m = [r for r in rows if 0 <= float(r[0]) - b["sent_t"] < 0.010]
            check(f"{scn} {c['name']}: beat {b['k']} on the wire", len(m) == 1, m and f"f{m[0][1]}")
        if c.get("client_close") == "fin_alert_rst":
            rst = frames(cap, f"tcp.srcport=={p} && tcp.flags.reset==1", ["frame.time_epoch"])
            check(f"{scn} {c['name']}: the client kernel's RST", len(rst) == 1)
    h = next(c for c in tr["connections"] if c["name"] == "h12")
    rows = frames(cap, f"tcp.srcport=={h['server_port']} && tcp.flags.fin==1", ["frame.time_epoch"])
    check(f"{scn} h12: the server's FIN after the cut", len(near(h["cut_fin_t"], rows)) == 1)


def varying_heartbeat():
    """Every beat of every variant on the wire at the driver's time with the driver's length, its
    reply (if any) after it, and each connection's end (FIN or RST) from the side that closed."""
    for sub in ("", "binary", "small", "long"):
        d = os.path.join(HERE, "varying-heartbeat", sub)
        tr = json.load(open(os.path.join(d, "truth.json")))
        cap = os.path.join(d, "capture.pcapng")
        sport = int(tr["server"].rsplit(":", 1)[1])
        for c in tr["connections"]:
            p = c["client_port"]
            name = f"varying-heartbeat/{sub or 'json'} {c['name']}"
            src, dst = ("tcp.srcport", "tcp.dstport") if c["prober"] == "client" else ("tcp.dstport", "tcp.srcport")
            beats = frames(cap, f"{src}=={p} && tcp.len>0", ["frame.time_epoch", "tcp.len"])
            replies = frames(cap, f"{dst}=={p} && tcp.len>0", ["frame.time_epoch"])
            answered = [b for b in c["beats"] if b["answered"]]
            ok = len(beats) == len(c["beats"]) and len(replies) == len(answered)
            ok &= all(abs(float(q[0]) - b["sent_t"]) < TOL and int(q[1]) == b["len"]
                      for b, q in zip(c["beats"], beats))
            check(f"{name}: {len(answered)} of {len(c['beats'])} beats answered on the wire", ok)
            end = c["end"]
            flt = "tcp.flags.reset==1" if end["kind"] == "rst" else "tcp.flags.fin==1"
            by = "tcp.srcport" if end["by"] == "client" else "tcp.dstport"
            close = frames(cap, f"tcp.port=={sport} && {by}=={p} && {flt}", ["frame.time_epoch"])
            check(f"{name}: {end['by']} {end['kind']} at end.t",
                  len(close) >= 1 and abs(end["t"] - float(close[0][0])) < 0.05)


def main():
    for f in (tls_heartbeat, late_heartbeat, keepalive_dead_peer, nat_idle_drop, middlebox_rst, http_keepalive,
              issue15_heartbeats, issue15_http,
              local_time_log,
              slow_heartbeat_reply, heartbeat_give_up,
              middlebox_idle_rst, http_drain, varying_heartbeat):
        try:
            f()
        except Exception as e:  # a broken scenario must show up as a failure, not a crash
            check(f"{f.__name__}: {e!r}", False)
    print(f"truth: {sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
