"""tlslab -- what the HTTPS scenario drivers (tls-keepalive-idle-close, tls-reuse-race) share
(stdlib only; run as root): a fresh network namespace with `lo` at MTU 1500 and no segmentation
offload, dumpcap on it, TLS client contexts that write an NSS key log, and an HTTP/1.1
response reader that says how a read ended.

The certificate and key are ../tls-heartbeat/server.crt/.key (test-only keys).
"""
import os
import socket
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CERT = os.path.join(HERE, "tls-heartbeat", "server.crt")
KEY = os.path.join(HERE, "tls-heartbeat", "server.key")
HOST = "hb.keepsight.test"


def r6(t):
    return None if t is None else round(t, 6)


def in_own_namespace(script):
    """Re-runs `script` in a new network namespace unless already there; returns when inside."""
    if os.environ.get("KS_TLS_INSIDE") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up", "mtu", "1500"], check=True)
        # Without offloads the kernel cuts at the MSS, so big records span several segments.
        subprocess.run(["ethtool", "-K", "lo", "tso", "off", "gso", "off", "gro", "off"],
                       check=True, stdout=subprocess.DEVNULL)
        return
    env = dict(os.environ, KS_TLS_INSIDE="1")
    sys.exit(subprocess.call(["unshare", "-n", sys.executable, os.path.abspath(script)] +
                             sys.argv[1:], env=env))


class Capture:
    def __init__(self, path):
        self.p = subprocess.Popen(["dumpcap", "-q", "-i", "lo", "-f", "tcp", "-w", path],
                                  stderr=subprocess.DEVNULL)
        time.sleep(1.5)

    def stop(self):
        time.sleep(0.3)
        self.p.terminate()
        self.p.wait()


def client_ctx(tls, keylog):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(CERT)
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.keylog_filename = keylog
    if tls == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def connect(ctx, port, timeout=5):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ctx.wrap_socket(raw, server_hostname=HOST)


def request(path, method="GET", body=b""):
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def read_response(s, buf=b""):
    """One response with a Content-Length body; returns (status, body length, rest, ended)
    where ended is "complete", "eof" (EOF or close_notify first), "reset" or "error"."""
    try:
        while b"\r\n\r\n" not in buf:
            got = s.recv(65536)
            if not got:
                return None, 0, buf, "eof"
            buf += got
        head, rest = buf.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(rest) < length:
            got = s.recv(65536)
            if not got:
                return status, len(rest), b"", "eof"
            rest += got
        return status, length, rest[length:], "complete"
    except ssl.SSLZeroReturnError:
        return None, 0, b"", "eof"
    except ConnectionResetError:
        return None, 0, b"", "reset"
    except (ssl.SSLError, OSError) as e:
        return None, 0, b"", f"error: {e}"
