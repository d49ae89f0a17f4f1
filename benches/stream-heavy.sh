#!/usr/bin/env bash
# Stream-heavy captures (issue 22): keepsight's diagnose, conv, report and packets against
# tshark's `-z conv,tcp`, in the same run, on a SYN flood and a short-connection server.
#
#   benches/stream-heavy.sh [RUNS] [BEFORE_BINARY]
#
# Makes the captures with the project's generator when they are missing (bench-data/ is
# git-ignored):
#   keepsight-gen --shape syn-flood  --packets 1000000 --seed 1 --out bench-data/syn-1m.pcap      # 1M SYNs, 78 MB
#   keepsight-gen --shape short-http --packets 2400000 --seed 1 --out bench-data/short-300k.pcap  # 300k connections, 455 MB
# Prints, per capture and command, the best wall time of RUNS (default 3) and the peak RSS of
# that run; tshark runs once (it is the slow one). BEFORE_BINARY, when given, is another
# keepsight build measured the same way right after, for before/after figures in one run.
# Output goes to /dev/null (the report to a scratch file) so terminal speed does not count.
set -euo pipefail
runs=${1:-3}
before=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release -q -p keepsight -p keepsight-gen --manifest-path "$root/Cargo.toml"
ks=$root/target/release/keepsight
gen=$root/target/release/keepsight-gen
data=$root/bench-data
mkdir -p "$data"
syn=$data/syn-1m.pcap
short=$data/short-300k.pcap
[ -f "$syn" ] || "$gen" --shape syn-flood --packets 1000000 --seed 1 --out "$syn"
[ -f "$short" ] || "$gen" --shape short-http --packets 2400000 --seed 1 --out "$short"
html=$(mktemp --suffix .html)
trap 'rm -f "$html"' EXIT

best() { # name, runs, command...
  local name=$1 n=$2; shift 2
  local best_t=999999 best_m=0
  for _ in $(seq "$n"); do
    local tf out
    tf=$(mktemp)
    /usr/bin/time -o "$tf" -f "%e %M" "$@" > /dev/null 2>/dev/null || true
    out=$(tail -1 "$tf")
    rm -f "$tf"
    local t=${out% *} m=${out#* }
    if awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; best_m=$m; fi
  done
  printf '%-40s %8.2f s %8.0f MB\n' "$name" "$best_t" "$((best_m / 1024))"
}

keepsight() { # label, binary, capture
  local label=$1 bin=$2 cap=$3
  best "$label diagnose" "$runs" "$bin" diagnose "$cap"
  best "$label conv" "$runs" "$bin" conv "$cap"
  best "$label report" "$runs" "$bin" report "$cap" -o "$html"
  best "$label packets" "$runs" "$bin" packets "$cap"
}

echo "$(date -u +%FT%RZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), best of $runs"
for cap in "$syn" "$short"; do
  cat "$cap" > /dev/null   # page cache warm for every command
  echo "== $(basename "$cap") ($(du -h "$cap" | cut -f1))"
  best "tshark -q -z conv,tcp" 1 tshark -n -q -z conv,tcp -r "$cap"
  keepsight "keepsight" "$ks" "$cap"
  if [ -n "$before" ]; then keepsight "before" "$before" "$cap"; fi
done
