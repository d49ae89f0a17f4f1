#!/usr/bin/env bash
# Soak: `keepsight proxy` (in front of `keepsight serve`) and `keepsight heartbeat serve` under
# mixed load for MINUTES (default 10: an hour of heartbeats compressed, 1 s periods instead of
# 6 s), sampling every 10 s the resident memory and open descriptors of each server. The load,
# all at once for the whole run:
#   - wrk in 30 s rounds cycling through keep-alive (64 connections), `Connection: close`
#     (16), and many keep-alive connections (512); each round's req/s and p99 are kept;
#   - 300 slowloris clients reopening whenever the proxy's header timeout (5 s) cuts them;
#   - a drain ratio of 2 % on the proxy, so keep-alive clients are recycled all the time;
#   - 1,000 heartbeat connections beating every 1 s with a 1 s timeout.
# Flat means: memory and descriptors in the last minute within a few % of the second minute's,
# and each round kind's p99 the same at the end as at the start. Runs in its own network
# namespace (faults-soak-PID). Needs root, wrk, python3.
#
#   benches/faults/soak.sh            # 10 minutes
#   benches/faults/soak.sh 60         # a real hour
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${KEEPSIGHT_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/keepsight}
MINUTES=${1:-10}
SECS=$((MINUTES * 60))
NS=faults-soak-$$
OUT=${OUT:-$(mktemp -d /tmp/faults-soak.XXXXXX)}
[ -x "$BIN" ] || { echo "no keepsight binary at $BIN: cargo build --release -p keepsight" >&2; exit 3; }
mkdir -p "$OUT"

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
# Foreground only: `in_ns … &` would make $! a subshell, not the process.
in_ns() { ip netns exec "$NS" "$@"; }
log() { echo "$(date -u +%H:%M:%S) $* (load average: $(cut -d' ' -f1-3 /proc/loadavg))"; }
ulimit -n "$(ulimit -Hn)"

ip netns exec "$NS" "$BIN" serve --listen 127.0.0.1:8081 --body 'ok\n' --workers 1 >/dev/null 2>&1 &
SERVE=$!; PIDS+=($SERVE)
ip netns exec "$NS" "$BIN" proxy --listen 127.0.0.1:8080 --upstream 127.0.0.1:8081 --workers 2 \
  --header-timeout 5s --drain-ratio 0.02 >/dev/null 2>&1 &
PROXY=$!; PIDS+=($PROXY)
ip netns exec "$NS" "$BIN" heartbeat serve --listen 127.0.0.1:7000 --quiet >/dev/null 2>&1 &
HBS=$!; PIDS+=($HBS)
sleep 1

ip netns exec "$NS" "$BIN" heartbeat client --connect 127.0.0.1:7000 --connections 1000 --every 1s \
  --timeout 1s --misses 3 --ramp 5s --warmup 10s --duration "${SECS}s" --log events --stats --stats-every 60s --json \
  --priority realtime >"$OUT/heartbeat-client.json" 2>"$OUT/heartbeat-client.log" &
HBC=$!; PIDS+=($HBC)
ip netns exec "$NS" python3 "$HERE/slow_clients.py" 127.0.0.1 8080 300 "$SECS" 1 >"$OUT/slow.json" &
SLOW=$!; PIDS+=($SLOW)

sample() {
  local t=$1
  printf '%s' "$t"
  for p in $PROXY $HBS $SERVE; do
    printf '\t%s\t%s' "$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status")" "$(ls "/proc/$p/fd" | wc -l)"
  done
  printf '\n'
}
echo -e "t_s\tproxy_rss_kib\tproxy_fds\thb_rss_kib\thb_fds\tserve_rss_kib\tserve_fds" >"$OUT/samples.tsv"
T0=$(date +%s)
( while true; do sample $(( $(date +%s) - T0 )) >>"$OUT/samples.tsv"; sleep 10; done ) &
SAMPLER=$!; PIDS+=($SAMPLER)

echo -e "t_s\tkind\treq_per_s\tp99\terrors" >"$OUT/rounds.tsv"
log "soak for $MINUTES min; output in $OUT"
round=0
while [ $(( $(date +%s) - T0 )) -lt $((SECS - 30)) ]; do
  case $((round % 3)) in
    0) kind=keepalive-64; args=(-c64) ;;
    1) kind=close-16; args=(-c16 -H "Connection: close") ;;
    2) kind=keepalive-512; args=(-c512) ;;
  esac
  in_ns wrk -t2 "${args[@]}" -d30s --timeout 5s --latency http://127.0.0.1:8080/ >"$OUT/wrk-$round.txt" 2>&1 || true
  awk -v t=$(( $(date +%s) - T0 )) -v k=$kind '/Requests\/sec/ {r=$2} /^ +99%/ {p=$2}
      /Socket errors/ {gsub(",", ""); e=$4+$6+$8+$10} /Non-2xx/ {n=$NF}
      END {printf "%s\t%s\t%s\t%s\t%d\n", t, k, r, p, e+n}' "$OUT/wrk-$round.txt" >>"$OUT/rounds.tsv"
  round=$((round + 1))
done
wait "$HBC" || true
wait "$SLOW" || true
kill "$SAMPLER" 2>/dev/null || true
sample $(( $(date +%s) - T0 )) >>"$OUT/samples.tsv"
log "done"
python3 "$HERE/soak_summary.py" "$OUT"
