#!/bin/bash
# Usage: crates/filter/benches/end_to_end.sh target/release/keepsight CAPTURE [RUNS]
# Evaluation overhead with identical output: `(F) or frame` evaluates F on every frame and still
# prints every frame, so it differs from the unfiltered run only by the filter's work.
BIN=$1; CAP=$2; N=${3:-3}
declare -A best
filters=('' 'tcp.len eq 1' 'tcp.stream eq 7 and tcp.payload eq 01' 'tcp contains "abc"' 'tcp.analysis.keep_alive')
for i in $(seq $N); do
  for f in "${filters[@]}"; do
    s=$(date +%s.%N)
    if [ -z "$f" ]; then $BIN packets $CAP -T fields -e frame.number > /dev/null
    else $BIN packets $CAP -Y "($f) or frame" -T fields -e frame.number > /dev/null; fi
    e=$(date +%s.%N); d=$(echo "$e - $s" | bc)
    k=${f:-baseline}
    if [ -z "${best[$k]}" ] || [ $(echo "$d < ${best[$k]}" | bc) = 1 ]; then best[$k]=$d; fi
  done
done
for f in "${filters[@]}"; do k=${f:-baseline}; echo "$k: ${best[$k]} s"; done
