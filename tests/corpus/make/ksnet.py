"""ksnet -- tiny helpers for the corpus/scenario scripts (Python 3.11 stdlib only, run as root).

Creates network namespaces joined by veth pairs, runs capture processes (dumpcap) and role
processes inside them, and tears everything down again (also on Ctrl-C / exceptions).

Only namespaces created here are touched; every name starts with "ks-" (namespaces) or "ks"
(interfaces) plus a per-script tag, so several scripts can run at once.
"""
import atexit
import os
import shlex
import signal
import subprocess
import sys
import time

_NS = []        # namespaces we created
_PROCS = []     # processes we started


def sh(cmd, check=True, quiet=False):
    """Run a shell command (string), return stdout."""
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"command failed ({r.returncode}): {cmd}\n{r.stderr}")
    if not quiet and r.stderr.strip() and r.returncode != 0:
        print(r.stderr, file=sys.stderr)
    return r.stdout


def nsx(ns, cmd, check=True):
    """Run a shell command inside namespace ns."""
    return sh(f"ip netns exec {ns} sh -c {shlex.quote(cmd)}", check=check)


def add_ns(name):
    assert name.startswith("ks-")
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    sh(f"ip netns add {name}")
    _NS.append(name)
    nsx(name, "ip link set lo up")
    # IPv6 on, no DAD delays, no router solicitation noise in captures
    nsx(name, "sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.accept_dad=0 "
              "net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.router_solicitations=0 "
              "net.ipv6.conf.all.router_solicitations=0", check=False)
    return name


def veth(ns_a, if_a, ns_b, if_b, addrs_a=(), addrs_b=(), mtu=None, offload=True):
    """Create a veth pair if_a (in ns_a) <-> if_b (in ns_b), assign addresses, bring up.

    offload=False switches off TSO/GSO/GRO and checksum offload (needs ethtool: apt-get install
    -y ethtool) so that captured segments are wire-sized and carry correct checksums."""
    assert len(if_a) <= 15 and len(if_b) <= 15
    sh(f"ip link add {if_a} type veth peer name {if_b}")
    sh(f"ip link set {if_a} netns {ns_a}")
    sh(f"ip link set {if_b} netns {ns_b}")
    for ns, ifn, addrs in ((ns_a, if_a, addrs_a), (ns_b, if_b, addrs_b)):
        if mtu:
            nsx(ns, f"ip link set {ifn} mtu {mtu}")
        # no IPv6 multicast/ND chatter unless we want it
        nsx(ns, f"sysctl -qw net.ipv6.conf.{ifn}.accept_dad=0 net.ipv6.conf.{ifn}.router_solicitations=0",
            check=False)
        if not offload:
            nsx(ns, f"ethtool -K {ifn} tso off gso off gro off tx off rx off >/dev/null 2>&1")
        for a in addrs:
            extra = " nodad" if ":" in a else ""
            nsx(ns, f"ip addr add {a} dev {ifn}{extra}")
        nsx(ns, f"ip link set {ifn} up")


def cleanup():
    for p in reversed(_PROCS):
        if p.poll() is None:
            try:
                p.terminate()
                p.wait(timeout=5)
            except Exception:
                try:
                    p.kill()
                except Exception:
                    pass
    _PROCS.clear()
    for ns in reversed(_NS):
        # kill anything still running in the namespace we made (by pid, from ip netns pids)
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except Exception:
                pass
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    _NS.clear()


atexit.register(cleanup)


def _sig(signum, frame):
    cleanup()
    sys.exit(128 + signum)


signal.signal(signal.SIGINT, _sig)
signal.signal(signal.SIGTERM, _sig)


def spawn(ns, argv, **kw):
    """Start argv inside namespace ns; returns Popen (tracked for cleanup)."""
    p = subprocess.Popen(["ip", "netns", "exec", ns] + list(argv), **kw)
    _PROCS.append(p)
    return p


def role(ns, script, *args, **kw):
    """Run `python3 script --role ...` inside ns."""
    return spawn(ns, [sys.executable, "-u", script] + [str(a) for a in args], **kw)


class Capture:
    """dumpcap in a namespace.  fmt: 'pcap' or 'pcapng'."""

    def __init__(self, ns, iface, out, fmt="pcapng", snaplen=None, linktype=None, bpf=None):
        self.out = os.path.abspath(out)
        if os.path.exists(self.out):
            os.unlink(self.out)
        tmp = self.out + ".tmp"
        if os.path.exists(tmp):
            os.unlink(tmp)
        self.tmp = tmp
        argv = ["dumpcap", "-q", "-i", iface, "-w", tmp]
        if fmt == "pcap":
            argv.append("-P")
        if snaplen:
            argv += ["-s", str(snaplen)]
        if linktype:
            argv += ["-y", linktype]
        if bpf:
            argv += ["-f", bpf]
        self.errf = open(tmp + ".err", "w+")
        self.p = spawn(ns, argv, stdout=subprocess.DEVNULL, stderr=self.errf)
        # wait until dumpcap is really capturing (it prints "Capturing on ...")
        t0 = time.time()
        while time.time() - t0 < 10:
            self.errf.seek(0)
            if "Capturing on" in self.errf.read():
                break
            if self.p.poll() is not None:
                self.errf.seek(0)
                raise RuntimeError("dumpcap died: " + self.errf.read())
            time.sleep(0.05)
        time.sleep(0.3)

    def stop(self):
        time.sleep(0.3)
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
        self.errf.close()
        os.unlink(self.tmp + ".err")
        os.replace(self.tmp, self.out)
        os.chmod(self.out, 0o644)
        return self.out


def here(*p):
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), *p)


CORPUS = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


# --- switching the calling thread's network namespace (socket creation) -------------------
import contextlib
import ctypes

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


@contextlib.contextmanager
def in_ns(name):
    """Create sockets inside `with in_ns('ks-x'):` -- a socket keeps the namespace it was made in."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    tgt = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(tgt, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        yield
    finally:
        _libc.setns(own, CLONE_NEWNET)
        os.close(own)
        os.close(tgt)
