#!/usr/bin/env bash
# Slowloris against `keepsight proxy` while wrk runs: N slow clients (default 10,000, spread
# over processes of 2,500 connections each, trickling a byte every 2 s) hold unfinished request heads open and
# reopen whenever cut; the proxy's --header-timeout must cut each one on time while wrk's load
# is still served. Compares wrk alone with wrk under the attack, and samples the proxy's
# memory and open descriptors. Runs in a network namespace of its own (faults-bench-PID), so
# its fixed ports collide with nothing. Needs root, wrk, python3.
#
#   benches/faults/slowloris.sh                 # 10,000 clients, 20 s of wrk each way
#   N=2000 SECS=10 benches/faults/slowloris.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${KEEPSIGHT_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/keepsight}
N=${N:-10000}
SECS=${SECS:-20}
HEADER_TIMEOUT=${HEADER_TIMEOUT:-10s}
PER_PROC=2500
NS=faults-bench-$$
[ -x "$BIN" ] || { echo "no keepsight binary at $BIN: cargo build --release -p keepsight" >&2; exit 3; }

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
PIDS+=($!)
ip netns exec "$NS" "$BIN" proxy --listen 127.0.0.1:8080 --upstream 127.0.0.1:8081 --workers 2 \
  --header-timeout "$HEADER_TIMEOUT" --max-connections $((N + 2000)) >/dev/null 2>&1 &
PROXY=$!
PIDS+=($PROXY)
sleep 1

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$PROXY/status"; }
fds() { ls "/proc/$PROXY/fd" | wc -l; }
wrk_run() {
  in_ns wrk -t2 -c64 -d"${SECS}s" --timeout 5s --latency http://127.0.0.1:8080/ >"$1"
  awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
       /Socket errors/ {err=$0} /Non-2xx/ {non=$NF}
       END {printf "req/s %s  p50 %s  p99 %s  non-2xx %s  %s\n", rps, p50, p99, non ? non : 0, err ? err : "no socket errors"}' "$1"
}

OUT=$(mktemp -d /tmp/faults-slowloris.XXXXXX)
log "proxy RSS $(rss) KiB, $(fds) fds; wrk alone for ${SECS}s"
echo "wrk alone:        $(wrk_run "$OUT/wrk-alone.txt")"

procs=$(( (N + PER_PROC - 1) / PER_PROC ))
HOLD=$((SECS + 20))
est() { in_ns ss -Htn state established '( sport = :8080 )' | wc -l; }
# Two attacks in a row on the same proxy: memory after the second equal to memory after the
# first is what "bounded" means (the allocator keeps freed pages for reuse; it must not need
# more of them the second time).
for attack in $(seq 1 "${ATTACKS:-2}"); do
  log "attack $attack: starting $N slow clients (header timeout $HEADER_TIMEOUT)"
  SLOW_PIDS=()
  for i in $(seq 1 "$procs"); do
    n=$(( i < procs ? PER_PROC : N - PER_PROC * (procs - 1) ))
    ip netns exec "$NS" python3 "$HERE/slow_clients.py" 127.0.0.1 8080 "$n" "$HOLD" 2 >"$OUT/slow-$attack-$i.json" &
    SLOW_PIDS+=($!); PIDS+=($!)
  done
  SAMPLER_OUT="$OUT/samples-$attack.tsv"
  ( while sleep 2; do echo -e "$(date +%s)\t$(rss)\t$(fds)\t$(est)"; done ) >"$SAMPLER_OUT" 2>/dev/null &
  SAMPLER=$!
  sleep 8
  log "proxy RSS $(rss) KiB, $(fds) fds with the slow clients connected; wrk for ${SECS}s"
  echo "wrk under attack $attack: $(wrk_run "$OUT/wrk-attack-$attack.txt")"
  log "waiting for the slow clients to finish"
  for p in "${SLOW_PIDS[@]}"; do wait "$p" || true; done
  kill "$SAMPLER" 2>/dev/null || true
  sleep 2
  log "proxy RSS $(rss) KiB, $(fds) fds after attack $attack"
  for i in $(seq 1 "$procs"); do echo "slow clients $i: $(cat "$OUT/slow-$attack-$i.json")"; done
  awk -F'\t' 'NR == 1 || $2 > r {r = $2} NR == 1 || $3 > f {f = $3} NR == 1 || $4 > e {e = $4}
    END {print "proxy peak during the attack: RSS " r " KiB, " f " fds, " e " established client connections"}' "$SAMPLER_OUT"
done
echo "wrk alone again:  $(wrk_run "$OUT/wrk-alone-after.txt")"
echo "raw output: $OUT"
