//! Runs the checks of one target over files or directories of inputs, on stable:
//! `cargo run --release -p keepsight-fuzzing --example replay -- TARGET PATH...`. Every failing
//! input is named (the run goes on); the exit status is 1 when any failed. `benches/fuzz.sh`
//! uses it where no nightly toolchain is installed.

use keepsight_fuzzing::{target, CountingAlloc};
use std::path::PathBuf;
use std::time::Duration;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().expect("usage: replay TARGET PATH...");
    let t = target(&name).unwrap_or_else(|| panic!("no target {name}"));
    let mut paths: Vec<PathBuf> = Vec::new();
    for a in args {
        let p = PathBuf::from(a);
        if p.is_dir() {
            let mut v: Vec<_> = std::fs::read_dir(&p)
                .expect("reading a directory")
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            v.sort();
            paths.extend(v);
        } else {
            paths.push(p);
        }
    }
    std::panic::set_hook(Box::new(|_| {}));
    let (mut failed, mut cpu, mut slowest, mut peak) = (0, Duration::ZERO, Duration::ZERO, 0);
    for p in &paths {
        let data = std::fs::read(p).expect("reading an input");
        match std::panic::catch_unwind(|| t.check(&data)) {
            Ok(used) => {
                cpu += used.cpu;
                slowest = slowest.max(used.cpu);
                peak = peak.max(used.peak_bytes.unwrap_or(0));
            }
            Err(e) => {
                failed += 1;
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                println!("FAIL {}: {msg}", p.display());
            }
        }
    }
    println!(
        "{name}: {} inputs, {failed} failed, {cpu:?} CPU, slowest {slowest:?}, peak {peak} bytes",
        paths.len()
    );
    std::process::exit(i32::from(failed > 0));
}
