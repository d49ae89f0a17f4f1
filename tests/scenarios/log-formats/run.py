#!/usr/bin/env python3
"""log-formats -- the same heartbeat incidents written by real logging libraries in their own
formats (root; ~15 s).  Issue 23.

Server 10.77.74.1:6200 (in ks-lf-s) answers `PING n\\n` with `PONG n\\n`; it resets (SO_LINGER 0)
a chosen connection instead of answering one PING: the client, blocked reading the reply, gets
ECONNRESET at once and logs it, so a millisecond stamp must land within milliseconds of the RST.
Three clients in ks-lf-c, each a real program with a real logging library:
  py   (10.77.74.11, this driver, Python `logging`; process TZ Asia/Kolkata, UTC+05:30): three
       connections, the first reset at its 4th PING, the second at its 3rd.  One logging call per
       event goes to four handlers:
         python.log      logging.Formatter '%(asctime)s %(levelname)s %(name)s [%(conn)s]: %(message)s'
                         (local time, no zone, milliseconds after a comma);
         json.log        a JSON formatter in the style of structlog / python-json-logger: RFC 3339
                         `timestamp` with zone and milliseconds, `level`, `event`, and the
                         connection only in fields (`conn`, `local_port`, `peer`);
         syslog-3164.log / syslog-5424.log  util-linux `logger --rfc3164` / `--rfc5424`, run for each
                         record and sending to a Unix datagram socket the driver reads (what rsyslog
                         would receive): `<11>Dec  7 21:27:42 hb-client[42]: ...` (local time, whole
                         seconds, no year) and `<11>1 2026-12-07T21:27:42.311223+05:30 ...`.
  java (10.77.74.12, HbClient.java, java.util.logging's SimpleFormatter with a Logback-like
       pattern, `-Duser.timezone=America/Sao_Paulo`, UTC-03:00): two connections, the first reset at
       its 4th PING, logged at SEVERE with the exception's stack trace (multi-line entries).
  go   (10.77.74.13, hbclient.go, Go's `log` with LstdFlags|Lmicroseconds, TZ=Asia/Tokyo,
       UTC+09:00; Debian's Go 1.19 has no log/slog): two connections, the first reset at its 4th PING.
journald is not running here (no systemd): its formats are tested on recorded lines in the unit
tests.  Truth: the event times each program printed itself (`connected`, `reset`, `closing`), the
server's RST times; capture on the client veth.
"""
import datetime
import json
import logging
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import kit  # noqa: E402
from kit import ksnet, r6  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SA, PORT = "10.77.74.1", 6200
CLIENTS = {"py": "10.77.74.11", "java": "10.77.74.12", "go": "10.77.74.13"}
# (client, connection number) -> the PING the server resets instead of answering
RESET_AT = {("py", 1): 4, ("py", 2): 3, ("java", 1): 4, ("go", 1): 4}
PY_TZ, JAVA_TZ, GO_TZ = "Asia/Kolkata", "America/Sao_Paulo", "Asia/Tokyo"
WORK = "/tmp/ks-log-formats"
os.environ["TZ"] = PY_TZ
time.tzset()


def serve(ls, stop, resets):
    ls.settimeout(0.2)
    counts = {}

    def handle(c, peer):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = c.makefile("rb")
        hello = f.readline().decode().split()
        if len(hello) != 2:
            c.close()
            return
        who = hello[1]
        counts[who] = counts.get(who, 0) + 1
        n = counts[who]
        c.sendall(b"OK\n")
        k = 0
        for line in f:
            k += 1
            if RESET_AT.get((who, n)) == k:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                t = time.time()
                c.close()
                resets.append({"client": who, "connection": n, "ping": k, "t": r6(t),
                               "client_port": peer[1]})
                return
            c.sendall(line.replace(b"PING", b"PONG"))
        c.close()

    while not stop.is_set():
        try:
            c, peer = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(c, peer), daemon=True).start()


class JsonFormatter(logging.Formatter):
    """One JSON object per record, as structlog's JSONRenderer or python-json-logger write."""

    def format(self, record):
        zone = datetime.timezone(datetime.timedelta(seconds=time.localtime(record.created).tm_gmtoff))
        ts = datetime.datetime.fromtimestamp(record.created, zone).isoformat(timespec="milliseconds")
        obj = {"timestamp": ts, "level": record.levelname.lower(), "logger": record.name,
               "event": record.getMessage()}
        for k in ("conn", "local_port", "peer"):
            if hasattr(record, k):
                obj[k] = getattr(record, k)
        return json.dumps(obj)


class LoggerHandler(logging.Handler):
    """Hands each record to util-linux logger(1), which stamps and sends it to a syslog socket."""

    def __init__(self, sock, rfc):
        super().__init__()
        self.sock, self.rfc = sock, rfc

    def emit(self, record):
        prio = {"ERROR": "err", "WARNING": "warning", "INFO": "info"}.get(record.levelname, "debug")
        subprocess.run(["logger", "-u", self.sock, "-d", f"--{self.rfc}", "-t", "hb-client",
                        "-i", "-p", f"user.{prio}", "--", self.format(record)], check=True)


def syslog_sink(path, out, stop):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.2)
    while not stop.is_set():
        try:
            out.append(s.recv(4096).decode().rstrip("\n"))
        except socket.timeout:
            continue
    s.close()


def py_client(ns, log, events):
    for n in (1, 2, 3):
        s = kit.connect(ns, SA, PORT, src=CLIENTS["py"])
        port = s.getsockname()[1]
        label = f"py-conn-{n}"
        extra = {"conn": label, "local_port": port, "peer": f"{SA}:{PORT}"}
        events.append({"ev": "connected", "t": r6(time.time()), "port": port})
        log.info("connected to %s:%d from local port %d", SA, PORT, port, extra=extra)
        f = s.makefile("rb")
        s.sendall(b"HELLO py\n")
        f.readline()
        try:
            for k in range(1, 7):
                time.sleep(0.5)
                s.sendall(b"PING %d\n" % k)
                if not f.readline():
                    raise ConnectionError("server closed")
            events.append({"ev": "closing", "t": r6(time.time()), "port": port})
            log.info("closing connection", extra=extra)
            s.close()
        except ConnectionResetError as e:
            events.append({"ev": "reset", "t": r6(time.time()), "port": port})
            log.error("heartbeat failed: %s; reconnecting", e, extra=extra)
            s.close()
            time.sleep(0.3)


def build(tmp):
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    subprocess.run(["javac", "-d", tmp, os.path.join(HERE, "HbClient.java")], check=True)
    env = dict(os.environ, GOCACHE=os.path.join(tmp, "gocache"), GO111MODULE="off", HOME=tmp)
    subprocess.run(["go", "build", "-o", os.path.join(tmp, "hbclient"),
                    os.path.join(HERE, "hbclient.go")], check=True, env=env)


def spawn_client(ns, argv, env):
    return ksnet.spawn(ns, argv, stdout=subprocess.PIPE, text=True, env=env)


def main():
    build(WORK)
    c, s, cif, _sif = kit.pair("lf", list(CLIENTS.values()), [SA])
    ls = kit.listener(s, SA, PORT)
    stop, resets = threading.Event(), []
    threading.Thread(target=serve, args=(ls, stop, resets), daemon=True).start()
    sinks = {}
    for rfc in ("rfc3164", "rfc5424"):
        path = os.path.join(WORK, f"{rfc}.sock")
        sinks[rfc] = []
        threading.Thread(target=syslog_sink, args=(path, sinks[rfc], stop), daemon=True).start()
    time.sleep(0.3)

    log = logging.getLogger("hb.client")
    log.setLevel(logging.INFO)
    log.propagate = False
    text = logging.FileHandler(os.path.join(HERE, "python.log"), mode="w")
    text.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(conn)s]: %(message)s"))
    js = logging.FileHandler(os.path.join(HERE, "json.log"), mode="w")
    js.setFormatter(JsonFormatter())
    log.addHandler(text)
    log.addHandler(js)
    for rfc in ("rfc3164", "rfc5424"):
        h = LoggerHandler(os.path.join(WORK, f"{rfc}.sock"), rfc)
        h.setFormatter(logging.Formatter("%(levelname)s [%(conn)s] %(message)s (local_port=%(local_port)d)"))
        log.addHandler(h)

    cap = ksnet.Capture(c, cif, os.path.join(HERE, "capture.pcapng"))
    time.sleep(0.5)
    events = {"py": [], "java": [], "go": []}
    py = threading.Thread(target=py_client, args=(c, log, events["py"]))
    py.start()
    time.sleep(1.2)
    java = spawn_client(c, [
        "java", f"-Duser.timezone={JAVA_TZ}",
        "-Djava.util.logging.SimpleFormatter.format="
        "%1$tF %1$tT,%1$tL %4$-7s [%3$s] - %5$s%6$s%n",
        "-cp", WORK, "HbClient", "java", SA, str(PORT), CLIENTS["java"],
        os.path.join(HERE, "java.log"), "2"], dict(os.environ))
    time.sleep(1.3)
    go = spawn_client(c, [os.path.join(WORK, "hbclient"), "go", SA, str(PORT), CLIENTS["go"],
                          os.path.join(HERE, "go.log"), "2"], dict(os.environ, TZ=GO_TZ))
    for name, p in (("java", java), ("go", go)):
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0, (name, p.returncode)
        events[name] = [json.loads(ln) for ln in out.splitlines()]
    py.join(timeout=60)
    time.sleep(0.5)
    stop.set()
    cap.stop()
    time.sleep(0.3)
    for rfc in ("rfc3164", "rfc5424"):
        with open(os.path.join(HERE, f"syslog-{rfc[3:]}.log"), "w") as f:
            f.write("".join(ln + "\n" for ln in sinks[rfc]))
    for h in log.handlers:
        h.close()
    for lck in ("java.log.lck",):
        if os.path.exists(os.path.join(HERE, lck)):
            os.remove(os.path.join(HERE, lck))
    truth = make_truth(events, resets)
    kit.finish(HERE, truth, None, ["capture.pcapng"])
    print(json.dumps({k: [e for e in v if e["ev"] == "reset"] for k, v in events.items()}))


def lines_of(name):
    with open(os.path.join(HERE, name)) as f:
        return f.read().splitlines()


def entry_lines(name, needle):
    """1-based numbers of the lines containing `needle` (entries' first lines)."""
    return [i + 1 for i, ln in enumerate(lines_of(name)) if needle in ln]


def make_truth(events, resets):
    cap = "capture.pcapng"
    facts = []

    def fact(args, id_, check):
        facts.append({"capture": cap, "command": "diagnose", "args": args, "id": id_, "check": check})

    py_resets = [e for e in events["py"] if e["ev"] == "reset"]
    assert len(py_resets) == 2, events["py"]
    # Every format the py client's one logging call went to, and how keepsight must read it.
    py_logs = [
        ("python.log", "python", "search", None, "heartbeat failed"),
        ("json.log", "json", "stamp", [-1.0, 5.0], "heartbeat failed"),
        ("syslog-3164.log", "rfc3164", "search", None, "heartbeat failed"),
        ("syslog-5424.log", "rfc5424", "stamp", [-1.0, 50.0], "heartbeat failed"),
    ]
    for file, fmt, zone_from, delay, needle in py_logs:
        args = ["--log", file]
        fact(args, f"{file} is read as {fmt}, zone +05:30 ({zone_from})",
             {"log": {"format": fmt, "zone": "+05:30", "zone_from": zone_from}})
        errs = entry_lines(file, needle)
        assert len(errs) == 2, (file, errs)
        for n, e in zip(errs, py_resets):
            fact(args, f"{file} line {n} (py's reset of local port {e['port']}) matches that connection's reset",
                 {"log_line": n, "conn": {"client_port": e["port"]}, "kinds_any": ["connection_reset"]})
            if delay:
                fact(args, f"{file} line {n} is stamped within milliseconds of the RST",
                     {"finding": "log_match", "conn": {"client_port": e["port"]},
                      "where": {"line": n, "delay_ms": delay}})
        fact(args, f"{file}: both error lines match, no other line is an error",
             {"log": {"event_lines": 2, "matched": 2}})
        if delay:
            # capture - log: the stamp is taken after the event, by up to the delay allowed
            fact(args, f"{file}: the clocks' offset is measured, not searched: about zero, spread in ms",
                 {"log": {"clock_offset_s": [-delay[1] / 1000, 0.002],
                          "clock_offset_spread_s": [0.0, delay[1] / 1000]}})
    for who, file, fmt, zone, needle in (("java", "java.log", "logback", "-03:00", "SEVERE"),
                                          ("go", "go.log", "go-log", "+09:00", "ERROR")):
        rs = [e for e in events[who] if e["ev"] == "reset"]
        assert len(rs) == 1, events[who]
        errs = entry_lines(file, needle)
        assert len(errs) == 1, (file, errs)
        args = ["--log", file]
        fact(args, f"{file} is read as {fmt}; its zone {zone} is found by search",
             {"log": {"format": fmt, "zone": zone, "zone_from": "search", "event_lines": 1, "matched": 1}})
        fact(args, f"{file} line {errs[0]} ({who}'s reset of local port {rs[0]['port']}) matches it",
             {"log_line": errs[0], "conn": {"client_port": rs[0]["port"]}, "kinds_any": ["connection_reset"]})
    # All three programs' logs at once: each its own format and zone.
    args = ["--log", "json.log", "--log", "java.log", "--log", "go.log"]
    for k, (file, fmt, zone, frm) in enumerate((("json.log", "json", "+05:30", "stamp"),
                                                ("java.log", "logback", "-03:00", "search"),
                                                ("go.log", "go-log", "+09:00", "search"))):
        fact(args, f"with three --log, {file} keeps its own format and zone",
             {"log": {"file": file, "format": fmt, "zone": zone, "zone_from": frm}, "index": k})
    jr = [e for e in events["java"] if e["ev"] == "reset"][0]
    fact(args, "with three --log, java.log's error line still matches java's reset",
         {"log_line": entry_lines("java.log", "SEVERE")[0], "file": "java.log",
          "conn": {"client_port": jr["port"]}, "kinds_any": ["connection_reset"]})
    return {
        "scenario": "log-formats",
        "clock": "Unix epoch seconds from each program's own clock (the driver's time.time(), Java's "
                 "Instant.now(), Go's time.Now(): the same system clock dumpcap stamps frames with)",
        "capture": "capture.pcapng (dumpcap on the client veth kslfc)",
        "server": f"{SA}:{PORT}", "period_s": 0.5,
        "clients": {k: {"addr": CLIENTS[k], "events": v} for k, v in events.items()},
        "server_resets": resets,
        "zones": {"py": "+05:30 (" + PY_TZ + ")", "java": "-03:00 (" + JAVA_TZ + ")",
                  "go": "+09:00 (" + GO_TZ + ")"},
        "logs": {"python.log": "Python logging.Formatter, asctime", "json.log": "Python logging, JSON formatter",
                 "syslog-3164.log": "util-linux logger --rfc3164", "syslog-5424.log": "util-linux logger --rfc5424",
                 "java.log": "java.util.logging SimpleFormatter, Logback-like pattern",
                 "go.log": "Go log, LstdFlags|Lmicroseconds"},
        "facts": facts,
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["--facts"]:
        # Rewrites the facts from the events truth.json already holds (no new run).
        with open(os.path.join(HERE, "truth.json")) as f:
            old = json.load(f)
        ev = {k: v["events"] for k, v in old["clients"].items()}
        kit.write_truth(os.path.join(HERE, "truth.json"), make_truth(ev, old["server_resets"]))
    else:
        main()
