#!/usr/bin/env bash
# keepsight serve/proxy against nginx on loopback, same worker count, same run.
# Usage: benches/proxy/run.sh [DURATION]   (needs wrk, nginx, python3; builds keepsight --release)
#        ROUNDS=3 IDLE_CONNS=2000 benches/proxy/run.sh 10s
#        ONLY_IDLE=1 ROUNDS=5 benches/proxy/run.sh   (idle memory only, no load runs)
#        KS_ARGS="--park-idle-after 0" ONLY_IDLE=1 benches/proxy/run.sh   (extra keepsight flags)
# Each round starts fresh servers, measures idle memory, then runs every load once against
# nginx and once against keepsight (order alternating between rounds, so drift and
# after-effects such as TIME_WAIT sockets fall on both alike); the summary gives medians.
# Every server started here is stopped on exit.
set -euo pipefail
ulimit -n 65536 2>/dev/null || true
cd "$(dirname "$0")/../.."
DUR=${1:-10s}
WORKERS=2
IDLE_CONNS=${IDLE_CONNS:-2000}
ROUNDS=${ROUNDS:-3}
ONLY_IDLE=${ONLY_IDLE:-0}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -p keepsight >/dev/null
KS=$CARGO_TARGET_DIR/release/keepsight
T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  PIDS=()
  sleep 0.5
  rm -rf "$T"
}
trap cleanup EXIT

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.05; done; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_nginx NAME WORKERS SERVER_BODY [HTTP_EXTRA]; sets NG_PORT and NG_PID
start_nginx() {
  local name=$1 workers=$2 body=$3 extra=${4:-} port
  port=$(free_port)
  mkdir -p "$T/$name"
  cat >"$T/$name/nginx.conf" <<CONF
worker_processes $workers;
error_log $T/$name/error.log warn;
pid $T/$name/nginx.pid;
events { worker_connections 10240; }
http {
  access_log off;
  keepalive_timeout 75s;

  client_body_temp_path $T/$name/b; proxy_temp_path $T/$name/p;
  fastcgi_temp_path $T/$name/f; uwsgi_temp_path $T/$name/u; scgi_temp_path $T/$name/s;
  $extra
  server { listen 127.0.0.1:$port backlog=511; $body }
}
CONF
  nginx -p "$T/$name" -c "$T/$name/nginx.conf" -g 'daemon off;' &
  NG_PID=$!
  PIDS+=("$NG_PID")
  NG_PORT=$port
  wait_port "$port"
}

start_ks() { # start_ks OUTVAR args...
  local log=$T/ks.$RANDOM.err
  # shellcheck disable=SC2086 # KS_ARGS is a list of extra flags, e.g. "--park-idle-after 0"
  "$KS" "$@" ${KS_ARGS:-} --listen 127.0.0.1:0 --workers $WORKERS 2>"$log" &
  PIDS+=($!)
  KS_PID=$!
  for _ in $(seq 100); do grep -qs "listening on" "$log" && break; sleep 0.05; done
  KS_PORT=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$')
}


bench() { # bench LABEL PORT [wrk args]
  local label=$1 port=$2; shift 2
  curl -s -o /dev/null "http://127.0.0.1:$port/" # warm
  local out
  out=$(wrk -t2 -c100 -d"$DUR" --latency "$@" "http://127.0.0.1:$port/")
  local rps p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  printf '%-44s %12s req/s   p99 %-9s load %s\n' "$label" "$rps" "$p99" "$(cut -d' ' -f1 /proc/loadavg)"
  printf 'RAW\t%s\t%s\t%s\t%s\n' "$label" "$rps" "$p99" "$(cut -d' ' -f1 /proc/loadavg)" >>"$T/raw.tsv"
}

rss_kb() { # sum of VmRSS over pids
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '/VmRSS/ {print $2}' /proc/$p/status))); done
  echo $t
}

idle_mem() { # idle_mem LABEL PORT PIDS...
  local label=$1 port=$2; shift 2
  local before after
  before=$(rss_kb "$@")
  coproc HOLD { python3 benches/proxy/hold_idle.py 127.0.0.1 "$port" "$IDLE_CONNS"; }
  read -r _ <&"${HOLD[0]}"
  # Idle for IDLE_SETTLE seconds before reading: keepsight parks connections idle for 1 s
  # (--park-idle-after), nginx has nothing that changes with time here.
  sleep "${IDLE_SETTLE:-3}"
  after=$(rss_kb "$@")
  eval "exec ${HOLD[1]}>&-"
  wait "$HOLD_PID" 2>/dev/null || true
  local each
  each=$(echo "($after - $before) * 1024 / $IDLE_CONNS" | bc -l)
  printf '%-44s %6d connections: %d KiB -> %d KiB, %.0f bytes each\n' "$label" "$IDLE_CONNS" \
    "$before" "$after" "$each"
  printf 'MEM\t%s\t%.0f\n' "$label" "$each" >>"$T/raw.tsv"
}

nginx_workers() { pgrep -P "$1" | tr '\n' ' '; }

echo "# $(date -u +%FT%TZ) $(nproc) CPUs; wrk -t2 -c100 -d$DUR --latency; $WORKERS workers each"
echo "# nginx $(nginx -v 2>&1 | cut -d/ -f2); keepsight $($KS --version | cut -d' ' -f2) ($(git rev-parse --short HEAD 2>/dev/null || echo tree))"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# Upstream shared by both proxies: nginx, one worker, fixed 200.
start_nginx upstream 1 'location / { return 200 "ok\n"; }' 'keepalive_requests 100000;'
UP=$NG_PORT
UP_PIDS=("${PIDS[@]}")

stop_servers() { # stop everything but the upstream
  local p keep
  for p in "${PIDS[@]}"; do
    keep=0
    for u in "${UP_PIDS[@]}"; do [ "$p" = "$u" ] && keep=1; done
    [ $keep = 1 ] || { kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; }
  done
  PIDS=("${UP_PIDS[@]}")
}

# pair FIRST LABEL_A PORT_A LABEL_B PORT_B [wrk args]: run A then B, or B then A when FIRST=b
pair() {
  [ "$ONLY_IDLE" = 1 ] && return
  local first=$1 la=$2 pa=$3 lb=$4 pb=$5; shift 5
  if [ "$first" = a ]; then bench "$la" "$pa" "$@"; bench "$lb" "$pb" "$@"
  else bench "$lb" "$pb" "$@"; bench "$la" "$pa" "$@"; fi
}

for round in $(seq "$ROUNDS"); do
  first=a; [ $((round % 2)) = 0 ] && first=b
  echo "## round $round (load $(cut -d' ' -f1-3 /proc/loadavg)); $([ $first = a ] && echo nginx || echo keepsight) first"
  echo "### origin: keepsight serve vs nginx return 200"
  start_nginx origin $WORKERS 'location / { return 200 "ok\n"; }'
  NG=$NG_PORT
  NG_MASTER=$NG_PID
  start_ks serve --body "ok
"
  # Memory first, on fresh processes, so heap left over from the load runs does not hide it.
  idle_mem "nginx idle keep-alive memory" "$NG" $(nginx_workers "$NG_MASTER")
  idle_mem "keepsight serve idle keep-alive memory" "$KS_PORT" "$KS_PID"
  pair $first "nginx return 200 (keep-alive)" "$NG" "keepsight serve (keep-alive)" "$KS_PORT"
  pair $first "nginx return 200 (Connection: close)" "$NG" \
    "keepsight serve (Connection: close)" "$KS_PORT" -H "Connection: close"
  stop_servers

  echo "### reverse proxy to the same upstream (127.0.0.1:$UP)"
  start_nginx proxy $WORKERS "location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; }" \
    "upstream up { server 127.0.0.1:$UP; keepalive 64; }"
  NP=$NG_PORT
  NP_PID=$NG_PID
  start_ks proxy --upstream 127.0.0.1:"$UP" --upstream-keepalive 64
  idle_mem "nginx proxy idle keep-alive memory" "$NP" $(nginx_workers "$NP_PID")
  idle_mem "keepsight proxy idle keep-alive memory" "$KS_PORT" "$KS_PID"
  pair $first "nginx proxy_pass (keep-alive)" "$NP" "keepsight proxy (keep-alive)" "$KS_PORT"
  pair $first "nginx proxy_pass (Connection: close)" "$NP" \
    "keepsight proxy (Connection: close)" "$KS_PORT" -H "Connection: close"
  stop_servers
done

echo "## medians over $ROUNDS rounds (load average after: $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$T/raw.tsv" <<'PY'
import statistics, sys
rows = {}
order = []
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[1] not in rows:
        order.append(f[1])
        rows[f[1]] = []
    rows[f[1]].append(f)
def ms(v):
    return float(v[:-2]) if v.endswith("ms") else float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-1]) * 1000
for label in order:
    r = rows[label]
    if r[0][0] == "MEM":
        v = [float(x[2]) for x in r]
        print(f"{label:44s} median {statistics.median(v):7.0f} B   all: {', '.join(f'{x:.0f}' for x in v)}")
    else:
        rps = [float(x[2]) for x in r]
        p99 = [ms(x[3]) for x in r]
        print(f"{label:44s} median {statistics.median(rps):9.0f} req/s  p99 {statistics.median(p99):6.2f} ms"
              f"   all: {', '.join(f'{x:.0f}' for x in rps)} / {', '.join(f'{x:.2f}' for x in p99)} ms")
PY
