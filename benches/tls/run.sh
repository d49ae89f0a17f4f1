#!/usr/bin/env bash
# keepsight serve/proxy over TLS against nginx over TLS on loopback, same worker count, same run.
# Usage: benches/tls/run.sh [DURATION]   (needs wrk with TLS, nginx, openssl, python3, bc;
#        builds keepsight --release)
#        ROUNDS=3 IDLE_CONNS=1000 benches/tls/run.sh 10s   (the defaults)
# Both sides get the same throwaway certificate (ECDSA P-256, made here with openssl) and
# negotiate TLS 1.3 with ALPN http/1.1. Each round starts fresh servers, measures memory per
# idle keep-alive TLS connection first, then runs wrk against nginx and keepsight (order
# alternating between rounds). The proxies both front the same upstream: a third nginx, TLS,
# one worker, `return 200`. Every server started here is stopped on exit.
set -euo pipefail
ulimit -n 65536 2>/dev/null || true
cd "$(dirname "$0")/../.."
DUR=${1:-10s}
WORKERS=2
IDLE_CONNS=${IDLE_CONNS:-1000}
ROUNDS=${ROUNDS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -p keepsight >/dev/null
KS=$CARGO_TARGET_DIR/release/keepsight
T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  rm -rf "$T"
}
trap cleanup EXIT

# A CA and a leaf for 127.0.0.1 it signed (the one certificate every server presents).
EC=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${EC[@]}" -keyout "$T/ca.key" -out "$T/ca.pem" -days 2 -subj /CN=bench-ca 2>/dev/null
openssl req "${EC[@]}" -keyout "$T/leaf.key" -out "$T/leaf.csr" -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$T/leaf.ext"
openssl x509 -req -in "$T/leaf.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
  -out "$T/leaf.pem" -days 2 -extfile "$T/leaf.ext" 2>/dev/null
TLS_NGINX="ssl_certificate $T/leaf.pem; ssl_certificate_key $T/leaf.key; ssl_protocols TLSv1.2 TLSv1.3;"
TLS_KS=(--tls-cert "$T/leaf.pem" --tls-key "$T/leaf.key")

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.05; done; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_nginx() { # start_nginx NAME WORKERS SERVER_BODY [HTTP_EXTRA]; sets NG_PORT, NG_PID
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
  server { listen 127.0.0.1:$port ssl backlog=511; $TLS_NGINX $body }
}
CONF
  nginx -p "$T/$name" -c "$T/$name/nginx.conf" -g 'daemon off;' &
  NG_PID=$!
  PIDS+=("$NG_PID")
  NG_PORT=$port
  wait_port "$port"
}

start_ks() { # start_ks args...; sets KS_PORT, KS_PID
  local log=$T/ks.$RANDOM.err
  "$KS" "$@" "${TLS_KS[@]}" --listen 127.0.0.1:0 --workers $WORKERS 2>"$log" &
  KS_PID=$!
  PIDS+=("$KS_PID")
  for _ in $(seq 100); do grep -qs "listening on" "$log" && break; sleep 0.05; done
  KS_PORT=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$')
}

stop() { for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }

bench() { # bench LABEL PORT
  local label=$1 port=$2 out rps p99
  # Warm up with the same 100 connections' handshakes (and the proxies' upstream pools), so
  # the figures are the keep-alive steady state rather than a burst of full handshakes.
  wrk -t2 -c100 -d1s "https://127.0.0.1:$port/" >/dev/null
  out=$(wrk -t2 -c100 -d"$DUR" --latency "https://127.0.0.1:$port/")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  printf '%-40s %12s req/s   p99 %-9s load %s\n' "$label" "$rps" "$p99" "$(cut -d' ' -f1 /proc/loadavg)"
  printf 'RAW\t%s\t%s\t%s\n' "$label" "$rps" "$p99" >>"$T/raw.tsv"
}

rss_kb() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/VmRSS/ {print $2}' /proc/"$p"/status))); done; echo $t; }

idle_mem() { # idle_mem LABEL PORT PIDS...
  local label=$1 port=$2 before after each; shift 2
  before=$(rss_kb "$@")
  coproc HOLD { python3 benches/proxy/hold_idle.py 127.0.0.1 "$port" "$IDLE_CONNS" "$T/ca.pem"; }
  read -r _ <&"${HOLD[0]}"
  sleep "${IDLE_SETTLE:-3}"
  after=$(rss_kb "$@")
  eval "exec ${HOLD[1]}>&-"
  wait "$HOLD_PID" 2>/dev/null || true
  each=$(echo "($after - $before) * 1024 / $IDLE_CONNS" | bc -l)
  printf '%-40s %6d TLS connections: %d KiB -> %d KiB, %.0f bytes each\n' "$label" "$IDLE_CONNS" \
    "$before" "$after" "$each"
  printf 'MEM\t%s\t%.0f\n' "$label" "$each" >>"$T/raw.tsv"
}

workers_of() { pgrep -P "$1" | tr '\n' ' '; }

pair() { # pair FIRST LABEL_A PORT_A LABEL_B PORT_B
  if [ "$1" = a ]; then bench "$2" "$3"; bench "$4" "$5"; else bench "$4" "$5"; bench "$2" "$3"; fi
}

echo "# $(date -u +%FT%TZ) $(nproc) CPUs; wrk -t2 -c100 -d$DUR --latency over TLS; $WORKERS workers each"
echo "# nginx $(nginx -v 2>&1 | cut -d/ -f2) ($(openssl version | cut -d' ' -f1-2)); keepsight $($KS --version | cut -d' ' -f2) ($(git rev-parse --short HEAD 2>/dev/null || echo tree)); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
start_nginx upstream 1 'location / { return 200 "ok\n"; }' 'keepalive_requests 100000;'
UP=$NG_PORT

for round in $(seq "$ROUNDS"); do
  first=a; [ $((round % 2)) = 0 ] && first=b
  echo "## round $round"
  start_nginx origin $WORKERS 'location / { return 200 "ok\n"; }'
  NG=$NG_PORT; NG_MASTER=$NG_PID
  start_ks serve --body "ok
"
  idle_mem "nginx TLS idle keep-alive memory" "$NG" $(workers_of "$NG_MASTER")
  idle_mem "keepsight serve TLS idle memory" "$KS_PORT" "$KS_PID"
  pair $first "nginx TLS return 200" "$NG" "keepsight serve TLS" "$KS_PORT"
  stop "$NG_MASTER" "$KS_PID"

  start_nginx proxy $WORKERS "location / { proxy_pass https://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_ssl_session_reuse on; }" \
    "upstream up { server 127.0.0.1:$UP; keepalive 64; }"
  NP=$NG_PORT; NP_MASTER=$NG_PID
  start_ks proxy --upstream "https://127.0.0.1:$UP" --upstream-cacert "$T/ca.pem" --upstream-keepalive 64
  idle_mem "nginx TLS proxy idle memory" "$NP" $(workers_of "$NP_MASTER")
  idle_mem "keepsight proxy TLS idle memory" "$KS_PORT" "$KS_PID"
  pair $first "nginx TLS proxy_pass https" "$NP" "keepsight proxy TLS to https" "$KS_PORT"
  stop "$NP_MASTER" "$KS_PID"
done

echo "## medians over $ROUNDS rounds (load after: $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$T/raw.tsv" <<'PY'
import statistics, sys
rows, order = {}, []
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[1] not in rows:
        order.append(f[1]); rows[f[1]] = []
    rows[f[1]].append(f)
def ms(v):
    return float(v[:-2]) if v.endswith("ms") else float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-1]) * 1000
for label in order:
    r = rows[label]
    if r[0][0] == "MEM":
        v = [float(x[2]) for x in r]
        print(f"{label:40s} median {statistics.median(v):7.0f} B   all: {', '.join(f'{x:.0f}' for x in v)}")
    else:
        rps = [float(x[2]) for x in r]; p99 = [ms(x[3]) for x in r]
        print(f"{label:40s} median {statistics.median(rps):9.0f} req/s  p99 {statistics.median(p99):6.2f} ms"
              f"   all: {', '.join(f'{x:.0f}' for x in rps)} / {', '.join(f'{x:.2f}' for x in p99)} ms")
PY
