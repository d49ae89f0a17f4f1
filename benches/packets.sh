#!/usr/bin/env bash
# Whole-process benchmark for `keepsight packets` (issue: capture engine).
#
#   benches/packets.sh CAPTURE [RUNS]
#
# Runs, on the same file and in the same session: the bare record walk (lower bound), the
# reader alone, `keepsight packets -T fields` and the same tshark command, plus the engine
# alone (a filter that matches nothing, so nothing is printed). Reports the best wall time of
# RUNS (default 3) and the peak RSS. Output goes to /dev/null so terminal speed does not count.
#
# Make captures with: cargo run --release -p keepsight-gen -- --packets 1000000 --seed 1 --out bench-data/cap-1m.pcap
set -euo pipefail
cap=${1:?usage: benches/packets.sh CAPTURE [RUNS]}
runs=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release -q -p keepsight -p keepsight-capture --example walk --manifest-path "$root/Cargo.toml"
ks=$root/target/release/keepsight
walk=$root/target/release/examples/walk
fields=(-T fields -e frame.number -e tcp.stream -e tcp.analysis.flags)

best() { # name, command...
  local name=$1; shift
  local best_t=999999 best_m=0
  for _ in $(seq "$runs"); do
    local tf out
    tf=$(mktemp)
    /usr/bin/time -o "$tf" -f "%e %M" "$@" > /dev/null 2>/dev/null
    out=$(tail -1 "$tf")
    rm -f "$tf"
    local t=${out% *} m=${out#* }
    if awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; best_m=$m; fi
  done
  printf '%-44s %8.2f s %8.0f MB\n' "$name" "$best_t" "$((best_m / 1024))"
}

cat "$cap" > /dev/null   # warm the page cache once, so every command reads from memory
echo "capture: $cap ($(du -h "$cap" | cut -f1)), best of $runs, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
best "bare record walk (examples/walk raw)" "$walk" raw "$cap"
best "capture reader (examples/walk reader)" "$walk" reader "$cap"
best "keepsight engine only (-Y frame.number==0)" "$ks" packets "$cap" -Y 'frame.number == 0'
best "keepsight packets -T fields (3 fields)" "$ks" packets "$cap" "${fields[@]}"
if command -v tshark > /dev/null && [ "${SKIP_TSHARK:-0}" != 1 ]; then
  tshark_runs=${TSHARK_RUNS:-1}
  runs=$tshark_runs best "tshark -T fields (3 fields)" tshark -r "$cap" "${fields[@]}"
fi
