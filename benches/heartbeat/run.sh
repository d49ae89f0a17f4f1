#!/usr/bin/env bash
# Heartbeat benchmark: one `keepsight heartbeat serve` holding N connections on loopback from
# several 127.0.0.x source addresses and client processes, beating every 5 s; then the same
# number of idle connections held by our server and by nginx, for memory per connection.
# Figures land in $OUT (summary.md + raw JSON/logs). See README.md. Needs root (nginx, 127.0.0.x).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${KEEPSIGHT_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/keepsight}
N=${N:-20000}             # connections
PROCS=${PROCS:-4}         # client processes (a process may open at most 20,000 files here)
EVERY=${EVERY:-5s}        # heartbeat period
BEAT_SECS=${BEAT_SECS:-60} # length of each beating run
IDLE_SECS=${IDLE_SECS:-30} # length of each idle-memory run
RAMP=${RAMP:-10}          # seconds to open all connections
OUT=${OUT:-$ROOT/bench-data/heartbeat-$(date -u +%Y%m%dT%H%M%SZ)}
PORT=7800
NGINX_PORT=7801

[ -x "$BIN" ] || { echo "no keepsight binary at $BIN; build it: cargo build --release -p keepsight" >&2; exit 3; }
mkdir -p "$OUT"

# Every fd is a connection: take the hard limit, and hold fewer connections if it is too low
# for N plus the server's own descriptors.
HARD=$(ulimit -Hn)
ulimit -n "$HARD"
if [ "$HARD" != unlimited ] && [ $((N + 64)) -gt "$HARD" ]; then
  echo "note: open-file hard limit is $HARD; holding $((HARD - 64)) connections instead of $N" | tee -a "$OUT/summary.md"
  N=$((HARD - 64))
fi
PER=$((N / PROCS))
N=$((PER * PROCS))

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$OUT/nginx/nginx.pid" ] && kill "$(cat "$OUT/nginx/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tcp_mem_pages() { awk '/^TCP:/ {for (i = 1; i < NF; i++) if ($i == "mem") print $(i + 1)}' /proc/net/sockstat; }
established() { ss -Htn state established "( sport = :$1 )" | wc -l; }
TICK=$(getconf CLK_TCK)

log() { echo "$(date -u +%H:%M:%S) $* (load average: $(cut -d' ' -f1-3 /proc/loadavg))"; }

# --- idle connections, our server ------------------------------------------------------------
idle_ours() {
  log "idle: keepsight server, $N connections"
  "$BIN" heartbeat serve --listen 127.0.0.1:$PORT --quiet >"$OUT/idle-serve.log" 2>&1 &
  local srv=$!; PIDS+=("$srv"); sleep 1
  local base; base=$(rss_kib "$srv"); local mem0; mem0=$(tcp_mem_pages)
  for i in $(seq 1 "$PROCS"); do
    # A period of 1 h with phases spread over it: almost every connection stays silent.
    "$BIN" heartbeat client --connect 127.0.0.1:$PORT --connections "$PER" --bind "127.0.0.$((i + 1))" \
      --every 1h --ramp "${RAMP}s" --duration "${IDLE_SECS}s" --log events --stats --json \
      >"$OUT/idle-client-$i.json" 2>"$OUT/idle-client-$i.log" &
    PIDS+=("$!")
  done
  sleep $((IDLE_SECS - 5))
  local open; open=$(established $PORT); local rss; rss=$(rss_kib "$srv"); local mem1; mem1=$(tcp_mem_pages)
  wait "${PIDS[@]:1}" 2>/dev/null || true
  kill "$srv"; wait "$srv" 2>/dev/null || true; PIDS=()
  echo "ours $open $base $rss $mem0 $mem1" >>"$OUT/idle.txt"
}

# --- idle connections, nginx -----------------------------------------------------------------
idle_nginx() {
  log "idle: nginx, $N keep-alive connections"
  mkdir -p "$OUT/nginx"
  cat >"$OUT/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile $HARD;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log warn;
# nginx starts closing idle keep-alive connections when fewer than 1/16 of its connections are
# free, so it needs headroom beyond N to hold N.
events { worker_connections $((N * 17 / 16 + 64)); }
http {
  access_log off;
  keepalive_timeout 600s;
  keepalive_requests 1000000;
  client_body_temp_path $OUT/nginx/tmp;
  server {
    listen 127.0.0.1:$NGINX_PORT backlog=4096;
    location / { return 200 "ok\n"; }
  }
}
CONF
  nginx -t -c "$OUT/nginx/nginx.conf" -p "$OUT/nginx/" >/dev/null 2>&1 || { nginx -t -c "$OUT/nginx/nginx.conf" -p "$OUT/nginx/"; exit 3; }
  nginx -c "$OUT/nginx/nginx.conf" -p "$OUT/nginx/" -g 'daemon off;' &
  local master=$!; PIDS+=("$master"); sleep 1
  local worker; worker=$(pgrep -P "$master" | head -1)
  local base; base=$(rss_kib "$worker"); local mem0; mem0=$(tcp_mem_pages)
  for i in $(seq 1 "$PROCS"); do
    python3 "$HERE/hold_http.py" --connect 127.0.0.1:$NGINX_PORT --n "$PER" --bind "127.0.0.$((i + 1))" \
      --hold "$IDLE_SECS" --ramp "$RAMP" 2>"$OUT/idle-nginx-client-$i.log" &
    PIDS+=("$!")
  done
  sleep $((IDLE_SECS - 5))
  local open; open=$(established $NGINX_PORT); local rss; rss=$(rss_kib "$worker"); local mem1; mem1=$(tcp_mem_pages)
  local master_rss; master_rss=$(rss_kib "$master")
  wait "${PIDS[@]:1}" 2>/dev/null || true
  kill "$master"; wait "$master" 2>/dev/null || true; PIDS=()
  echo "nginx $open $base $rss $mem0 $mem1 $master_rss" >>"$OUT/idle.txt"
}

# --- beating connections ---------------------------------------------------------------------
# $1: name; $2: "loaded" to keep both cores busy; $3: priority of the server and clients.
beats() {
  local name=$1 load=$2 prio=$3
  log "beats: $name ($N connections every $EVERY, load=$load, client priority=$prio)"
  "$BIN" heartbeat serve --listen 127.0.0.1:$PORT --quiet --stats-every 5s --json --priority "$prio" \
    >"$OUT/beats-$name-serve.json" 2>"$OUT/beats-$name-serve.log" &
  local srv=$!; PIDS+=("$srv"); sleep 1
  local base; base=$(rss_kib "$srv")
  for i in $(seq 1 "$PROCS"); do
    "$BIN" heartbeat client --connect 127.0.0.1:$PORT --connections "$PER" --bind "127.0.0.$((i + 1))" \
      --every "$EVERY" --timeout 1s --misses 3 --ramp "${RAMP}s" --duration "${BEAT_SECS}s" \
      --priority "$prio" --warmup "$((RAMP + 5))s" --log events --stats --json \
      >"$OUT/beats-$name-client-$i.json" 2>"$OUT/beats-$name-client-$i.log" &
    PIDS+=("$!")
  done
  if [ "$load" = loaded ]; then
    # Two busy loops, one per core, for the whole run.
    for _ in 1 2; do timeout "$((BEAT_SECS + 2))" sh -c 'while :; do :; done' & PIDS+=("$!"); done
  fi
  # Server CPU over the steady state: after the ramp and the first full period.
  sleep $((RAMP + 10))
  local t0 c0; t0=$(date +%s.%N); c0=$(cpu_ticks "$srv")
  sleep $((BEAT_SECS - RAMP - 15))
  local t1 c1; t1=$(date +%s.%N); c1=$(cpu_ticks "$srv")
  local open; open=$(established $PORT); local rss; rss=$(rss_kib "$srv")
  wait "${PIDS[@]:1}" 2>/dev/null || true
  kill "$srv"; wait "$srv" 2>/dev/null || true; PIDS=()
  echo "$name $open $base $rss $c0 $c1 $t0 $t1 $TICK" >>"$OUT/beats.txt"
}

log "binary: $BIN; $N connections, $PROCS client processes; output in $OUT"
uname -r >"$OUT/machine.txt"; nproc >>"$OUT/machine.txt"; nginx -v 2>>"$OUT/machine.txt"
idle_ours
idle_nginx
beats unloaded none normal
beats loaded loaded normal
beats loaded-rt loaded realtime
python3 "$HERE/summarize.py" "$OUT" | tee -a "$OUT/summary.md"
