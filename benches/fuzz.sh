#!/usr/bin/env bash
# Time-bounded fuzzing of every parser (issue 21).
#
#   benches/fuzz.sh MINUTES [TARGET...]        MINUTES of fuzzing per target, one at a time
#   FUZZ_SEEDS=DIR benches/fuzz.sh ...         use seeds written before by examples/seed.rs
#   FUZZ_UPDATE=1 benches/fuzz.sh ...          also replace the committed corpus with the
#                                              minimized result (crates/fuzzing/corpus/TARGET)
#
# With a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`), each target runs under
# libFuzzer, seeded from the repository's captures and test inputs (examples/seed.rs) plus
# the committed corpus, with debug assertions (integer overflow checks) on; the corpus is then
# minimized (`cargo fuzz cmin`). Without them (a stable-only machine, CI) every committed corpus
# input, regression and seed is replayed through the same checks on stable instead, and
# MINUTES is not used.
#
# Work files go to $FUZZ_WORK (default target/fuzz-work): seeds/, corpus/TARGET (the growing
# corpus), artifacts/TARGET (crashes, hangs, out-of-memory inputs), logs/TARGET.log and
# summary.tsv (target, wall and CPU seconds, executions, minimized corpus inputs and bytes,
# edges and features it covers, failing inputs). A
# crash input is fixed in the crate that owns the parser and committed to
# crates/fuzzing/regressions/TARGET/ (the replay test runs it from then on). Exits 1 when any
# target found a failure. Runs at `nice -n 19`: the machine stays usable.
set -euo pipefail
minutes=${1:?usage: benches/fuzz.sh MINUTES [TARGET...]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
crate=$root/crates/fuzzing
work=${FUZZ_WORK:-$root/target/fuzz-work}
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in "$crate"/fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi
mkdir -p "$work/logs"
export CARGO_INCREMENTAL=0

if [ -n "${FUZZ_SEEDS:-}" ]; then
  # Seeds written earlier by examples/seed.rs (saves a build).
  rm -rf "$work/seeds"
  cp -r "$FUZZ_SEEDS" "$work/seeds"
else
  echo "== seeds from the repository's captures and test inputs"
  rm -rf "$work/seeds"
  nice -n 19 cargo run -q --release --manifest-path "$root/Cargo.toml" -p keepsight-fuzzing \
    --example seed -- "$work/seeds" >/dev/null
fi

summary=$work/summary.tsv
printf 'target\twall_s\tcpu_s\texecs\tcorpus_inputs\tcorpus_bytes\tedges\tfeatures\tfailures\n' >"$summary"
failed=0

if cargo +nightly --version >/dev/null 2>&1 && cargo fuzz --version >/dev/null 2>&1; then
  seconds=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')
  (cd "$crate/fuzz" && nice -n 19 cargo +nightly fuzz build -s none -a -O >/dev/null)
  bin=$crate/fuzz/target/x86_64-unknown-linux-gnu/release
  flags=(-max_len=65536 -timeout=10 -rss_limit_mb=2048)
  for t in "${targets[@]}"; do
    echo "== $t: $minutes min of libFuzzer"
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t" "$crate/corpus/$t" "$work/seeds/$t"
    log=$work/logs/$t.log
    # The first directory receives new inputs; the others are read. CPU time is measured
    # because on a shared machine wall time says little.
    /usr/bin/time -f '%U %S' -o "$work/logs/$t.cpu" nice -n 19 "$bin/$t" "${flags[@]}" \
      -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" \
      "$work/corpus/$t" "$crate/corpus/$t" "$work/seeds/$t" >"$log" 2>&1 || true
    # (The last line: /usr/bin/time first notes a non-zero exit.)
    cpu=$(tail -1 "$work/logs/$t.cpu" | awk '{printf "%.1f", $1 + $2}')
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' || true)
    # Minimize what was found together with the committed corpus.
    rm -rf "$work/min/$t"
    mkdir -p "$work/min/$t"
    nice -n 19 "$bin/$t" "${flags[@]}" -merge=1 "$work/min/$t" "$crate/corpus/$t" \
      "$work/corpus/$t" >"$work/logs/$t.merge.log" 2>&1 || true
    # Edges and features of the minimized corpus, as libFuzzer counts them when it loads it.
    nice -n 19 "$bin/$t" "${flags[@]}" -runs=0 "$work/min/$t" >"$work/logs/$t.cov.log" 2>&1 || true
    edges=$(grep -o 'cov: [0-9]*' "$work/logs/$t.cov.log" | tail -1 | cut -d' ' -f2 || true)
    features=$(grep -o 'ft: [0-9]*' "$work/logs/$t.cov.log" | tail -1 | cut -d' ' -f2 || true)
    found=$(find "$work/artifacts/$t" -type f | wc -l)
    inputs=$(find "$work/min/$t" -type f | wc -l)
    bytes=$(find "$work/min/$t" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$seconds" "$cpu" "${execs:-?}" "$inputs" \
      "$bytes" "${edges:-?}" "${features:-?}" "$found" >>"$summary"
    if [ "${FUZZ_UPDATE:-0}" = 1 ] && [ "$inputs" -gt 0 ]; then
      # Inputs up to 4 KiB only: the committed corpus stays small (the larger seeds come back
      # from the repository's captures on every run).
      rm -rf "$crate/corpus/$t"
      mkdir -p "$crate/corpus/$t"
      find "$work/min/$t" -type f -size -4097c -exec cp {} "$crate/corpus/$t/" \;
    fi
    if [ "$found" -gt 0 ]; then
      failed=1
      echo "   $found failing input(s) in $work/artifacts/$t"
    fi
  done
else
  echo "== no nightly toolchain with cargo-fuzz: replaying corpus, regressions and seeds on stable"
  for t in "${targets[@]}"; do
    log=$work/logs/$t.log
    dirs=()
    for d in "$crate/corpus/$t" "$crate/regressions/$t" "$work/seeds/$t"; do
      [ -d "$d" ] && dirs+=("$d")
    done
    if nice -n 19 cargo run -q --release --manifest-path "$root/Cargo.toml" -p keepsight-fuzzing \
      --example replay -- "$t" "${dirs[@]}" >"$log" 2>&1; then
      found=0
    else
      found=$(grep -c '^FAIL' "$log" || true)
      failed=1
    fi
    tail -1 "$log"
    inputs=$(grep -o '[0-9]* inputs' "$log" | tail -1 | cut -d' ' -f1)
    printf '%s\t-\t-\t%s\t-\t-\t-\t-\t%s\n' "$t" "${inputs:-0}" "$found" >>"$summary"
  done
fi
column -t -s $'\t' "$summary"
exit $failed
