#!/bin/bash
# Instructions per request (callgrind) of `keepsight serve` and `keepsight proxy` (-> an
# uninstrumented serve), for two binaries: (I(N2) - I(N1)) / (N2 - N1), so start-up cancels out.
# Usage: benches/framing/instructions-per-request.sh BASE_BIN NEW_BIN [N1] [N2]
#        CASES="serve get,proxy post" ... picks cases (serve|proxy) x (get|plain|post).
set -u
BIN_BASE=$1; BIN_NEW=$2; N1=${3:-500}; N2=${4:-2500}
T=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf $T' EXIT
port_of() { for _ in $(seq 2400); do grep -qs "listening on" "$1" && break; sleep 0.05; done
  grep -o 'listening on 127.0.0.1:[0-9]*' "$1" | grep -o '[0-9]*$'; }
measure() { # BIN MODE(serve|proxy) KIND N -> Ir
  local bin=$1 mode=$2 kind=$3 n=$4 up="" args e=$T/srv.$RANDOM$RANDOM.err u=$T/up.$RANDOM$RANDOM.err c=$T/cg.$RANDOM$RANDOM.out
  if [ $mode = proxy ]; then
    $bin serve --body "ok
" --listen 127.0.0.1:0 --workers 1 >/dev/null 2>$u & UPID=$!
    up=$(port_of $u); args=(proxy --upstream 127.0.0.1:$up --upstream-keepalive 64)
  else args=(serve --body "ok
"); fi
  valgrind --tool=callgrind --callgrind-out-file=$c $bin "${args[@]}" --listen 127.0.0.1:0 --workers 1 >/dev/null 2>$e & local VPID=$!
  local p=$(port_of $e)
  python3 "$(dirname "$0")/client.py" $p $n $kind >/dev/null || echo "client failed ($mode $kind $n)" >&2
  kill -INT $VPID; wait $VPID 2>/dev/null
  [ $mode = proxy ] && { kill $UPID; wait $UPID 2>/dev/null; }
  grep -o 'Collected : [0-9]*' $e | grep -o '[0-9]*$'
}
IFS=, read -ra LIST <<< "${CASES:-serve get,serve post,proxy get,proxy post}"
for mode_kind in "${LIST[@]}"; do
  read -r mode kind <<<"$mode_kind"
  for v in base new; do
    bin=$BIN_BASE; [ $v = new ] && bin=$BIN_NEW
    a=$(measure $bin $mode $kind $N1); b=$(measure $bin $mode $kind $N2)
    echo "$mode $kind $v: $(( (b - a) / (N2 - N1) )) instructions/request (Ir $a at $N1, $b at $N2)"
  done
done
