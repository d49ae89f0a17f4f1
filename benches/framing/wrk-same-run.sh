#!/bin/bash
# Same-run wrk comparison of two keepsight binaries: serve (GET, chunked POST) and proxy -> serve.
# Usage: benches/framing/wrk-same-run.sh BASE_BIN NEW_BIN [DURATION] [ROUNDS]
set -u
BASE=$1; NEW=$2; DUR=${3:-10s}; ROUNDS=${4:-2}
T=$(mktemp -d); PIDS=()
trap 'kill ${PIDS[@]} 2>/dev/null; rm -rf $T' EXIT
cat > $T/chunked.lua <<'LUA'
request = function()
  return "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0000006;e=1\r\n world\r\n0\r\n\r\n"
end
LUA
start() { # start BIN args... -> sets P to the port
  local log=$T/ks.$RANDOM.err
  "$@" --listen 127.0.0.1:0 --workers 1 >/dev/null 2>"$log" &
  PIDS+=($!)
  for _ in $(seq 200); do grep -qs "listening on" "$log" && break; sleep 0.05; done
  P=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$')
}
declare -A PORT
for v in base new; do
  bin=$BASE; [ $v = new ] && bin=$NEW
  start $bin serve --body "ok
"; PORT[serve-$v]=$P
  start $bin proxy --upstream 127.0.0.1:${PORT[serve-$v]} --upstream-keepalive 64; PORT[proxy-$v]=$P
done
rps() { wrk -t2 -c100 -d"$DUR" "$@" | awk '/Requests\/sec/ {print $2}'; }
for r in $(seq $ROUNDS); do
  for v in base new; do
    echo "round $r $v serve-get $(rps http://127.0.0.1:${PORT[serve-$v]}/)"
    echo "round $r $v serve-chunked-post $(rps -s $T/chunked.lua http://127.0.0.1:${PORT[serve-$v]}/)"
    echo "round $r $v proxy-get $(rps http://127.0.0.1:${PORT[proxy-$v]}/)"
  done
done
