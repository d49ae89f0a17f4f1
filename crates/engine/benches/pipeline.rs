//! Throughput of the whole pipeline (read → dissect → track) on a 200,000-packet capture made
//! at bench time by the project's generator (`crates/gen`). Run: `cargo bench -p
//! keepsight-engine`. Set KEEPSIGHT_BENCH_CAPTURE to bench a file of your own instead.

use keepsight_engine::Engine;
use std::path::PathBuf;
use std::sync::OnceLock;

fn capture() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Ok(p) = std::env::var("KEEPSIGHT_BENCH_CAPTURE") {
            return PathBuf::from(p);
        }
        let out = std::env::temp_dir().join(format!(
            "keepsight-bench-200k-{}.pcap",
            env!("CARGO_PKG_VERSION")
        ));
        keepsight_gen::generate_file(&keepsight_gen::Config::new(200_000, 1), &out)
            .expect("generate the bench capture");
        out
    })
}

#[divan::bench(sample_count = 10)]
fn read_dissect_track() -> u32 {
    let mut engine = Engine::open(capture()).expect("capture opens");
    let mut streams = 0;
    while let Some(f) = engine.next_frame().expect("capture reads") {
        if let Some(t) = f.tcp {
            streams = streams.max(t.stream);
        }
    }
    streams
}

#[divan::bench(sample_count = 10)]
fn read_only() -> usize {
    let mut reader =
        keepsight_engine::capture::CaptureReader::open(capture()).expect("capture opens");
    let mut bytes = 0;
    while let Some(r) = reader.next_record().expect("capture reads") {
        bytes += r.data.len();
    }
    bytes
}

fn main() {
    divan::main();
}
