#!/usr/bin/env bash
# Whole-process benchmark of `keepsight probe`: how long it takes to find a 60 s idle timeout
# to ± 1 s. Not part of `cargo test` (it runs for minutes).
#
#   cargo build --release -p keepsight
#   sudo crates/probe/bench/idle60.sh [http|path|both] [TIMEOUT_S]
#
# http: nginx on loopback with keepalive_timeout TIMEOUT_S (a server that closes: observed close).
# path: a network-namespace NAT whose conntrack forgets established TCP after TIMEOUT_S, silently
#       (nf_conntrack_tcp_loose=0, INVALID dropped), in front of `keepsight heartbeat serve`
#       (check after idle; needs root).
# Prints the report and the wall time of each run.
set -euo pipefail
MODE=${1:-both}
T=${2:-60}
BIN=${KEEPSIGHT:-${CARGO_TARGET_DIR:-target}/release/keepsight}
[ -x "$BIN" ] || { echo "build first: cargo build --release -p keepsight (or set KEEPSIGHT=)" >&2; exit 3; }
WORK=$(mktemp -d)
P=kb$$
cleanup() {
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  [ -n "${HB:-}" ] && kill "$HB" 2>/dev/null || true
  for n in c r s; do ip netns del "$P$n" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

run_http() {
  local port=18560
  cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
error_log $WORK/error.log warn;
pid $WORK/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/b; proxy_temp_path $WORK/p; fastcgi_temp_path $WORK/f;
  uwsgi_temp_path $WORK/u; scgi_temp_path $WORK/s;
  server { listen 127.0.0.1:$port; keepalive_timeout ${T}s; location / { return 200 "hello\n"; } }
}
CONF
  nginx -p "$WORK" -c "$WORK/nginx.conf"
  sleep 0.5
  local t0=$(date +%s.%N)
  "$BIN" probe http "http://127.0.0.1:$port/" --precision 1s --max-requests 1000 || true
  local t1=$(date +%s.%N)
  echo "http: nginx keepalive_timeout ${T}s: wall $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s"
  kill "$(cat "$WORK/nginx.pid")"; rm -f "$WORK/nginx.pid"
}

run_path() {
  for n in c r s; do ip netns add "$P$n"; ip -n "$P$n" link set lo up; done
  ip link add eth0 netns "${P}c" type veth peer name left netns "${P}r"
  ip link add right netns "${P}r" type veth peer name eth0 netns "${P}s"
  ip -n "${P}c" addr add 10.82.1.2/24 dev eth0; ip -n "${P}c" link set eth0 up
  ip -n "${P}r" addr add 10.82.1.1/24 dev left; ip -n "${P}r" link set left up
  ip -n "${P}r" addr add 10.82.2.1/24 dev right; ip -n "${P}r" link set right up
  ip -n "${P}s" addr add 10.82.2.2/24 dev eth0; ip -n "${P}s" link set eth0 up
  ip -n "${P}c" route add default via 10.82.1.1
  ip netns exec "${P}r" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "${P}r" iptables -t nat -A POSTROUTING -o right -j MASQUERADE
  ip netns exec "${P}r" iptables -A FORWARD -m conntrack --ctstate INVALID -j DROP
  ip netns exec "${P}r" sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
  ip netns exec "${P}r" sysctl -qw "net.netfilter.nf_conntrack_tcp_timeout_established=$T"
  ip netns exec "${P}s" "$BIN" heartbeat serve --listen 10.82.2.2:7000 --quiet >/dev/null 2>&1 &
  HB=$!
  sleep 0.5
  local t0=$(date +%s.%N)
  ip netns exec "${P}c" "$BIN" probe path 10.82.2.2:7000 --precision 1s || true
  local t1=$(date +%s.%N)
  echo "path: NAT conntrack established timeout ${T}s: wall $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s"
}

case $MODE in
  http) run_http ;;
  path) run_path ;;
  both) run_http; run_path ;;
  *) echo "usage: $0 [http|path|both] [TIMEOUT_S]" >&2; exit 2 ;;
esac
