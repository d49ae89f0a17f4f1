#!/bin/bash
# openssl.sh -- makes openssl.pcapng and openssl.keylog.txt: OpenSSL's own s_server/s_client
# on loopback (a second TLS implementation for the record-layer oracle tests): a TLS 1.3
# handshake with a Hello Retry Request (the client's key share is X25519, the server takes
# only P-256), then TLS 1.2 with ECDHE-ECDSA-CHACHA20-POLY1305 and with AES-128-GCM, each
# sending one line and closing with close_notify. Run as root; needs openssl, dumpcap,
# ethtool, unshare. Same test-only certificate as run.py.
set -e
D=$(cd "$(dirname "$0")" && pwd)
if [ "$KS_TLS_INSIDE" != 1 ]; then
    exec env KS_TLS_INSIDE=1 unshare -n "$0"
fi
ip link set lo up
ethtool -K lo tso off gso off gro off >/dev/null
rm -f "$D/openssl.keylog.txt"
dumpcap -q -i lo -f tcp -w "$D/openssl.pcapng" & DP=$!
sleep 1.5
openssl s_server -accept 127.0.0.1:46443 -cert "$D/server.crt" -key "$D/server.key" \
    -groups P-256 -alpn h2,http/1.1 -quiet -naccept 3 >/dev/null 2>&1 & SP=$!
sleep 0.5
client() {
    (echo "$1"; sleep 0.3) | timeout 3 openssl s_client -connect 127.0.0.1:46443 \
        -keylogfile "$D/openssl.keylog.txt" -quiet -ign_eof "${@:2}" >/dev/null 2>&1 || true
}
client hello13 -tls1_3 -groups X25519:P-256 -servername hrr.keepsight.test -alpn http/1.1
client hello12 -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305 -servername cc.keepsight.test
client hello12b -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256
sleep 0.5
kill $SP 2>/dev/null || true
sleep 0.5
kill $DP
wait $DP || true
chmod 644 "$D/openssl.pcapng"
