//! Every committed corpus input and crash regression, through the same checks the fuzzers
//! run (on stable, in `cargo test`): `corpus/TARGET/*` and `regressions/TARGET/*`.

use keepsight_fuzzing::{Budget, CountingAlloc, TARGETS};
use std::path::Path;
use std::time::Duration;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// The inputs in `dir/TARGET/`, sorted by name.
fn inputs(dir: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (
                name,
                std::fs::read(e.path()).expect("reading a corpus input"),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_target_has_a_seeded_corpus() {
    for t in TARGETS {
        let n = inputs("corpus", t.name).len();
        assert!(
            n >= 3,
            "{}: only {n} corpus inputs; run benches/fuzz.sh",
            t.name
        );
    }
}

#[test]
fn corpus_and_regressions_pass_their_checks() {
    let mut worst = (Duration::ZERO, String::new());
    let mut total = 0usize;
    for t in TARGETS {
        for dir in ["corpus", "regressions"] {
            for (name, data) in inputs(dir, t.name) {
                let used = t.check(&data);
                total += 1;
                assert!(
                    used.peak_bytes.is_some(),
                    "the counting allocator is installed, so memory is measured"
                );
                if used.cpu > worst.0 {
                    worst = (used.cpu, format!("{dir}/{}/{name}", t.name));
                }
            }
        }
    }
    eprintln!("{total} inputs; slowest {} ({:?})", worst.1, worst.0);
}

#[test]
fn regressions_are_for_known_targets() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(
            keepsight_fuzzing::target(&name).is_some(),
            "regressions/{name} names no target"
        );
    }
}

#[test]
#[should_panic(expected = "of CPU")]
fn an_input_over_its_cpu_time_fails() {
    let budget = Budget {
        cpu: Duration::from_millis(5),
        bytes: usize::MAX,
    };
    budget.watch("spin", || {
        let mut x = 1u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(200) {
            x = std::hint::black_box(x.wrapping_mul(3));
        }
    });
}

#[test]
#[should_panic(expected = "bytes at the peak")]
fn an_input_over_its_memory_fails() {
    let budget = Budget {
        cpu: Duration::from_secs(60),
        bytes: 1 << 20,
    };
    budget.watch("hog", || {
        let v = std::hint::black_box(vec![1u8; 8 << 20]);
        drop(v);
    });
}
