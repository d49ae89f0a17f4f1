//! Damaged input never panics and never loops: every corpus capture, mutated many times
//! (random bit flips, truncation at random offsets, spliced duplicate ranges), is read through
//! the whole pipeline and every registered field of every frame is visited. A failure prints the
//! file, the mutation seed and the kind, so it can be replayed.
//!
//! This is a deterministic, bounded stand-in for the `capture` fuzz target in `crates/fuzzing`, which
//! explores far more inputs but runs outside `cargo test`.

use keepsight_engine::capture::CaptureReader;
use keepsight_engine::Engine;
use keepsight_fields::{all_fields, Packet};
use std::path::Path;

/// xorshift64*: small, deterministic, good enough to pick offsets.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(original: &[u8], seed: u64) -> (Vec<u8>, &'static str) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut b = original.to_vec();
    let kind = match seed % 3 {
        0 => {
            for _ in 0..1 + rng.below(16) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            "bit flips"
        }
        1 => {
            b.truncate(rng.below(b.len()));
            "truncation"
        }
        _ => {
            let from = rng.below(b.len());
            let len = rng.below(256).min(b.len() - from);
            let to = rng.below(b.len());
            let chunk = b[from..from + len].to_vec();
            b.splice(to..to, chunk);
            "splice"
        }
    };
    (b, kind)
}

fn read_everything(bytes: Vec<u8>) -> usize {
    let Ok(reader) = CaptureReader::from_bytes(bytes) else {
        return 0;
    };
    let mut engine = Engine::from_reader(reader);
    let fields: Vec<_> = all_fields().map(|(id, _)| id).collect();
    let mut frames = 0;
    let mut visited = 0usize;
    while let Ok(Some(frame)) = engine.next_frame() {
        frames += 1;
        for &id in &fields {
            frame.visit(id, &mut |_| visited += 1);
        }
        assert!(frames < 1_000_000, "reader does not make progress");
    }
    frames + visited.min(1)
}

#[test]
fn mutated_corpus_captures_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus");
    let mut files = Vec::new();
    for sub in ["", "fmt", "link", "bad", "crafted", "crafted/frag"] {
        let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.contains(".pcap") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() > 40, "corpus not found ({} files)", files.len());
    let mutations: u64 = std::env::var("KEEPSIGHT_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    for file in &files {
        let original = std::fs::read(file).unwrap();
        if original.is_empty() {
            continue;
        }
        for seed in 0..mutations {
            let (bytes, kind) = mutate(&original, seed);
            let result = std::panic::catch_unwind(|| read_everything(bytes));
            assert!(
                result.is_ok(),
                "{}: panicked on mutation seed {seed} ({kind})",
                file.display()
            );
        }
    }
}
