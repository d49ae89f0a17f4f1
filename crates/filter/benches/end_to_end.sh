#!/bin/bash
# Usage: crates/filter/benches/end_to_end.sh target/release/keepsight CAPTURE [RUNS] [cpu]
# Evaluation overhead with identical output: `(F) or frame` evaluates F on every frame and still
# prints every frame, so it differs from the unfiltered run only by the filter's work.
# Runs are interleaved (baseline, F1, F2, ... then again) so that load changes on a shared
# machine hit every command alike. With `cpu`, each run prints "user sys wall" from
# /usr/bin/time instead of keeping the best wall time.
BIN=$1; CAP=$2; N=${3:-3}; MODE=$4
declare -A best
filters=('' 'tcp.len eq 1' 'tcp.stream eq 7 and tcp.payload eq 01' 'tcp contains "abc"' 'tcp.analysis.keep_alive')
run() {  # run [TIMER...] FILTER
  local f=${!#}; local timer=("${@:1:$#-1}")
  if [ -z "$f" ]; then "${timer[@]}" $BIN packets $CAP -T fields -e frame.number > /dev/null
  else "${timer[@]}" $BIN packets $CAP -Y "($f) or frame" -T fields -e frame.number > /dev/null; fi
}
for i in $(seq $N); do
  for f in "${filters[@]}"; do
    k=${f:-baseline}
    if [ "$MODE" = cpu ]; then
      r=$( { run /usr/bin/time -f "%U %S %e" "$f"; } 2>&1 )
      echo "run $i | $k | user sys wall: $r"
      continue
    fi
    s=$(date +%s.%N)
    run "$f"
    e=$(date +%s.%N); d=$(echo "$e - $s" | bc)
    if [ -z "${best[$k]}" ] || [ $(echo "$d < ${best[$k]}" | bc) = 1 ]; then best[$k]=$d; fi
  done
done
[ "$MODE" = cpu ] && exit 0
for f in "${filters[@]}"; do k=${f:-baseline}; echo "$k: ${best[$k]} s"; done
