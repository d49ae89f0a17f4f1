"""kit -- helpers shared by the issue-15 scenario drivers (stdlib only; run as root).

On top of common.py / ksnet.py: application logs in a local time zone with a clock skew and a
few line formats, a client/server namespace pair, nginx and haproxy started in a namespace, an
HTTP/1.1 response reader, and the tshark reference next to each capture.

The truth a driver writes comes from its own clock and sockets only; nothing here reads
keepsight's output.
"""
import os
import re
import shutil
import socket
import subprocess
import threading
import time

from common import ksnet, r6, write_truth  # noqa: F401  (re-exported for the drivers)

HERE = os.path.dirname(os.path.abspath(__file__))


class ZonedLog:
    """An application log stamped in local time with no zone, like most real logs.

    `zone_min`: the log host's UTC offset in minutes (+480 for UTC+08:00); `skew_s`: how far the
    log host's clock is ahead of the capture host's (the line for an event at capture time t reads
    t + skew_s); `style`: the line format ("iso", "ms", "bracket")."""

    def __init__(self, zone_min, skew_s=0.0, style="iso"):
        self.zone_min, self.skew_s, self.style = zone_min, skew_s, style
        self.lines = []
        self.lock = threading.Lock()

    def zone(self):
        sign = "+" if self.zone_min >= 0 else "-"
        m = abs(self.zone_min)
        return f"{sign}{m // 60:02d}:{m % 60:02d}"

    def stamp(self, t):
        local = t + self.skew_s + self.zone_min * 60
        base = time.strftime("%H:%M:%S", time.gmtime(local))
        if self.style == "iso":
            return time.strftime("%Y-%m-%d ", time.gmtime(local)) + base
        if self.style == "ms":
            return f"{base}.{int((local % 1) * 1000):03d}"
        return base

    def log(self, who, level, msg, t=None):
        """Appends a line for an event at capture-clock time t (now when None); returns t."""
        t = time.time() if t is None else t
        st = self.stamp(t)
        if self.style == "iso":
            line = f"{st} [{level.upper()}] {who}: {msg}"
        elif self.style == "ms":
            line = f"{st} {level.upper():<5} {who} {msg}"
        else:
            line = f"[{st}] [{level}] ({who}) {msg}"
        with self.lock:
            self.lines.append((t, line))
        return t

    def write(self, path):
        """Writes the log sorted by time; returns {id: 1-based line number} for tagged lines."""
        ordered = sorted(self.lines, key=lambda x: x[0])
        with open(path, "w") as f:
            for _t, line in ordered:
                f.write(line + "\n")
        return [line for _t, line in ordered]

    def line_no(self, ordered, needle, first=False):
        """1-based number of the only (or, with `first`, the first) line containing `needle`."""
        hits = [i + 1 for i, ln in enumerate(ordered) if needle in ln]
        assert hits and (first or len(hits) == 1), (needle, hits)
        return hits[0]

    def truth(self):
        return {"zone": self.zone(), "zone_minutes": self.zone_min, "clock_skew_s": self.skew_s,
                "clock_offset_s_capture_minus_log": -self.skew_s, "style": self.style,
                "stamps": "local time, no zone in the line"}


def pair(tag, client_addrs, server_addrs, prefix=24):
    """Client namespace ks-TAG-c and server namespace ks-TAG-s joined by veth ksTAGc/ksTAGs."""
    c, s = f"ks-{tag}-c", f"ks-{tag}-s"
    ksnet.add_ns(c)
    ksnet.add_ns(s)
    ksnet.veth(c, f"ks{tag}c", s, f"ks{tag}s", [f"{a}/{prefix}" for a in client_addrs],
               [f"{a}/{prefix}" for a in server_addrs], offload=False)
    return c, s, f"ks{tag}c", f"ks{tag}s"


def listener(ns, addr, port, backlog=16):
    with ksnet.in_ns(ns):
        ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(backlog)
    return ls


def connect(ns, addr, port, src=None, timeout=5):
    with ksnet.in_ns(ns):
        s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if src:
        s.bind((src, 0))
    s.settimeout(timeout)
    s.connect((addr, port))
    return s


def wait_port(ns, addr, port, tries=60):
    for _ in range(tries):
        try:
            connect(ns, addr, port, timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {addr}:{port}")


def nginx(ns, workdir, server_blocks, http_extra=""):
    """Starts nginx (single process, foreground) in `ns` with the given server blocks."""
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    conf = f"""
worker_processes 1;
daemon off;
master_process off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    default_type text/plain;
    {http_extra}
    {server_blocks}
}}
"""
    path = os.path.join(workdir, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    return ksnet.spawn(ns, ["nginx", "-c", path, "-p", workdir], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL), conf


def haproxy(ns, workdir, conf):
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    path = os.path.join(workdir, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(conf)
    subprocess.run(["haproxy", "-c", "-f", path], check=True, capture_output=True)
    return ksnet.spawn(ns, ["haproxy", "-db", "-f", path], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def http_get(s, host, path, timeout=3.0):
    """Sends GET and reads one response; returns {status, headers, body_len, ended, t_sent, t_done}."""
    t_sent = time.time()
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ks-driver\r\n\r\n".encode())
    res = {"t_sent": r6(t_sent), "path": path}
    s.settimeout(timeout)
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            d = s.recv(4096)
            if not d:
                res["ended"] = "eof-before-headers"
                return res
            buf += d
        head, body = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin1").split("\r\n")
        res["status"] = lines[0]
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        res["headers"] = hdrs
        n = int(hdrs.get("content-length", "0"))
        while len(body) < n:
            d = s.recv(4096)
            if not d:
                res["ended"] = "eof-in-body"
                return res
            body += d
        res["ended"] = "complete"
        res["body_len"] = len(body)
    except ConnectionResetError:
        res["ended"] = "reset"
    except socket.timeout:
        res["ended"] = "timeout"
    res["t_done"] = r6(time.time())
    return res


def _survey_fields():
    text = open(os.path.join(HERE, "..", "corpus", "make", "survey.sh")).read()
    return re.search(r'fields="([^"]*)"', text).group(1).split()


def tshark_reference(cap):
    """Writes <capture>.tshark.tsv with the columns of ../corpus/make/survey.sh."""
    argv = ["tshark", "-r", cap, "-T", "fields", "-E", "header=y", "-E", "separator=/t",
            "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in _survey_fields():
        argv += ["-e", f]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    with open(cap[: -len(".pcapng")] + ".tshark.tsv", "w") as f:
        f.write(out)


def finish(here, truth, log, captures):
    """Writes app.log (if any), truth.json and each capture's tshark reference; checks sizes."""
    if log is not None:
        log.write(os.path.join(here, "app.log"))
    write_truth(os.path.join(here, "truth.json"), truth)
    for cap in captures:
        p = os.path.join(here, cap)
        size = os.path.getsize(p)
        assert size < 1_000_000, f"{cap} is {size} bytes"
        tshark_reference(p)
