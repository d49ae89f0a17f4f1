//! What must hold for any input of each parser in keepsight, written once and run two ways:
//! coverage-guided by the cargo-fuzz targets in `fuzz/` (nightly), and as a replay of every
//! committed corpus and crash input by `cargo test` (stable, `tests/replay.rs`).
//!
//! Each [`Target`] takes arbitrary bytes and panics when something that must hold does not:
//! besides "no panic" in the parser, every input stays within a CPU-time and memory
//! [`budget::Budget`], and where a second implementation exists the two must agree (the HTTP/1
//! framing core against httparse and a reference chunked decoder, a filter against the filter
//! compiled from its canonical text, an HTTP/2 frame header against its re-encoding), and a
//! reassembler must give the same output however its input is split.
//!
//! The byte layouts the targets read (how one input becomes several segments, a capture, a
//! filter) are in each target's module; `examples/seed.rs` writes seeds in those layouts from
//! the repository's captures and test inputs.

pub mod budget;
pub mod input;
pub use targets::{pcap, LINK_TYPES};
mod targets;

pub use budget::{Budget, CountingAlloc, Used};
pub use target::Target;
mod target;

/// Every target, in the order `benches/fuzz.sh` runs them.
pub const TARGETS: &[Target] = targets::ALL;

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
