#!/bin/sh
# synth.sh -- A7: the corpus's synthetic captures.
#
# synth/synth-1200.pcap and synth/synth-1200-first1100.pcapng are committed test inputs: the
# oracle tests compare keepsight with tshark on them and the golden test records every command's
# output on them, so they stay exactly as they are. They were made on 2026-11-29 by a Python
# generator that lived outside this repository (make_capture.py, since replaced by crates/gen):
#
#   make_capture.py --packets 1200 --seed 1 --duration 3600 --ka-idle 600 --ka-interval 30 --out synth-1200.pcap
#   make_capture.py (same arguments) --pcapng --out full.pcapng
#   editcap -r full.pcapng synth-1200-first1100.pcapng 1-1100    # 1200 frames of pcapng were over 200 KB
#
# That script is not part of the project, so they cannot be remade byte for byte. This script
# checks they are there and makes a similar pair with the project's own generator
# (crates/gen: HTTP :80, HTTPS :443, heartbeats :7443 and inside TLS :8443, keep-alive probes
# :15432, bulk :8873, refused :8874;
# deterministic, with its ground truth as JSON) in $OUT (default target/synth), outside the
# corpus: adding a capture to the corpus means a MANIFEST.tsv row and survey.sh/filters.sh runs.
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
for f in synth-1200.pcap synth-1200-first1100.pcapng; do
  test -s "$here/../synth/$f" || { echo "missing committed capture synth/$f" >&2; exit 1; }
done
out=${OUT:-$root/target/synth}
mkdir -p "$out"
args="--packets 1200 --seed 1 --duration 3600 --ka-idle 600 --ka-interval 30"
gen="cargo run --release -q --manifest-path $root/Cargo.toml -p keepsight-gen --"
$gen $args --out "$out/gen-1200.pcap" --truth "$out/gen-1200.truth.json"
$gen $args --pcapng --out "$out/gen-1200.pcapng" --truth "$out/gen-1200.pcapng.truth.json"
ls -l "$out"
