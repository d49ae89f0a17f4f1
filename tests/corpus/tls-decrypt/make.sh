#!/bin/bash
# make.sh -- makes the captures of the TLS decryption oracle tests (issue 16 item 4), each with
# the NSS key log its clients wrote (test-only keys: the certificate and key are
# ../../scenarios/tls-heartbeat/server.crt/.key, valid for nothing but these tests).
#
# ciphers.pcapng + ciphers.keylog.txt: OpenSSL's s_server/s_client on loopback, one connection
#   per cipher suite keepsight decrypts: TLS 1.3 AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305;
#   TLS 1.2 ECDHE-ECDSA with AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305. The client sends two
#   lines, the server a line and a 6000-byte block (several records, several segments: lo's
#   MTU is 1500 and offloads are off), both close with close_notify. ALPN ks/1, so tshark hands
#   the decrypted bytes to `data`.
# https.pcapng + https.keylog.txt: nginx with TLS (keepalive_timeout 1s) and two clients:
#   curl over TLS 1.3 fetching two URLs on one keep-alive connection, and Python's ssl over
#   TLS 1.2 (ECDHE-ECDSA-AES256-GCM-SHA384) sending two requests on one connection, then
#   staying idle until nginx closes it (the idle close keepsight http reports).
#
# Run as root; needs openssl, nginx, curl, python3, dumpcap, ethtool, unshare.
set -e
D=$(cd "$(dirname "$0")" && pwd)
CERT="$D/../../scenarios/tls-heartbeat/server.crt"
KEY="$D/../../scenarios/tls-heartbeat/server.key"
if [ "$KS_TLS_INSIDE" != 1 ]; then
    exec env KS_TLS_INSIDE=1 unshare -n "$0"
fi
ip link set lo up
ip link set lo mtu 1500
ethtool -K lo tso off gso off gro off >/dev/null 2>&1 || true
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# ---------------------------------------------------------------- ciphers
rm -f "$D/ciphers.keylog.txt"
dumpcap -q -i lo -f tcp -w "$D/ciphers.pcapng" & DP=$!
sleep 1.5
head -c 6000 /dev/zero | tr '\0' 'x' > "$TMP/block"
one() { # PORT, then openssl options for both ends
    local port=$1; shift
    ( sleep 0.4; echo "server says hello"; cat "$TMP/block"; echo; sleep 0.6 ) |
        timeout 5 openssl s_server -accept 127.0.0.1:$port -cert "$CERT" -key "$KEY" \
            -alpn ks/1 -naccept 1 -quiet "$@" >/dev/null 2>&1 & local sp=$!
    sleep 0.3
    ( echo "client line one"; sleep 0.3; echo "client line two"; sleep 0.8 ) |
        timeout 5 openssl s_client -connect 127.0.0.1:$port -alpn ks/1 \
            -keylogfile "$D/ciphers.keylog.txt" -quiet "$@" >/dev/null 2>&1 || true
    wait $sp || true
}
one 46501 -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256
one 46502 -tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384
one 46503 -tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256
one 46504 -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256
one 46505 -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384
one 46506 -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305
sleep 0.5
kill $DP
wait $DP || true

# ---------------------------------------------------------------- https
rm -f "$D/https.keylog.txt"
mkdir -p "$TMP/www"
chmod 755 "$TMP" "$TMP/www"
echo "first page" > "$TMP/www/a.txt"
head -c 3000 /dev/zero | tr '\0' 'b' > "$TMP/www/b.txt"
cat > "$TMP/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/error.log;
events { worker_connections 64; }
http {
    access_log off;
    keepalive_timeout 1s;
    server {
        listen 127.0.0.1:46543 ssl;
        ssl_certificate $CERT;
        ssl_certificate_key $KEY;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $TMP/www;
    }
}
CONF
nginx -c "$TMP/nginx.conf" & NP=$!
dumpcap -q -i lo -f tcp -w "$D/https.pcapng" & DP=$!
sleep 1.5
SSLKEYLOGFILE="$D/https.keylog.txt" curl -s --tlsv1.3 --cacert "$CERT" \
    --resolve hb.keepsight.test:46543:127.0.0.1 \
    https://hb.keepsight.test:46543/a.txt https://hb.keepsight.test:46543/b.txt >/dev/null
sleep 0.3
python3 - "$CERT" "$D/https.keylog.txt" <<'PY'
import socket, ssl, sys, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(sys.argv[1])
ctx.maximum_version = ssl.TLSVersion.TLSv1_2
ctx.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
ctx.keylog_filename = sys.argv[2]
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", 46543)), server_hostname="hb.keepsight.test")
for path in ("/a.txt", "/b.txt"):
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: hb.keepsight.test\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got or len(got.split(b"\r\n\r\n", 1)[1]) < int(got.split(b"Content-Length: ")[1].split(b"\r\n")[0]):
        got += s.recv(65536)
    time.sleep(0.2)
# Idle until nginx closes (keepalive_timeout 1s).
s.settimeout(3)
try:
    while s.recv(65536):
        pass
except (ssl.SSLError, OSError):
    pass
s.close()
PY
sleep 0.5
kill $DP
wait $DP || true
kill $NP
wait $NP 2>/dev/null || true
chmod 644 "$D"/*.pcapng "$D"/*.keylog.txt
