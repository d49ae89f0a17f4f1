//! Timing of the HTTP analysis on a capture: one pass reading frames through the engine only,
//! one pass feeding every TCP segment to the analyzer (bounded mode, as `keepsight diagnose`
//! would run it). The difference is what HTTP analysis adds to any engine-based pass.
//!
//!     cargo run --release -p keepsight-http --example bench -- cap-5m.pcap

use keepsight_engine::Engine;
use keepsight_http::{Analyzer, Options};
use std::time::Instant;

fn cpu_s() -> f64 {
    // user + sys of this process, from /proc (Linux); 0 elsewhere.
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn main() {
    let path = std::env::args().nth(1).expect("capture file");
    let with_http = std::env::args().nth(2).as_deref() != Some("engine-only");
    let (w0, c0) = (Instant::now(), cpu_s());
    let mut e = Engine::open(&path).expect("open");
    let mut a = Analyzer::new(Options::default());
    let mut frames = 0u64;
    let mut peak_live = 0;
    while let Ok(Some(f)) = e.next_frame() {
        frames += 1;
        if !with_http {
            continue;
        }
        let Some(segment) = f.segment() else { continue };
        a.segment(&segment);
        if frames & 0xffff == 0 {
            peak_live = peak_live.max(a.live());
        }
    }
    let r = a.finish();
    println!(
        "{} frames, http={with_http}: wall {:.2} s, cpu {:.2} s; {} HTTP connections, {} messages, {} faulty, {} findings, peak live streams {peak_live}",
        frames,
        w0.elapsed().as_secs_f64(),
        cpu_s() - c0,
        r.connections.len(),
        r.messages,
        r.faulty_messages,
        r.findings.len()
    );
}
