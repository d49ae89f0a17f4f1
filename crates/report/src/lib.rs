//! tshark-compatible views of a capture, computed in one streaming pass.
//!
//! Three views, each a small state machine fed one [`keepsight_engine::Frame`] at a time and
//! rendered at the end:
//! - [`expert`]: tshark's `-z expert` table for the TCP expert items, plus keepsight's own
//!   diagnosis findings as a separate group;
//! - [`conv`]: tshark's `-z conv,tcp` table, plus how each conversation ended, its longest idle
//!   gap and its heartbeat period;
//! - [`follow`]: tshark's `-z follow,tcp,ascii|hex|raw` output for one stream;
//! - [`html`]: `keepsight report`, one self-contained HTML page of the diagnosis and its evidence.
//!
//! The numbers follow tshark 4.0.17 (the oracle of the differential tests in
//! `crates/cli/tests/views_*.rs`); where the layout or content differs, the module says so.
//!
//! What this crate is not: it does not read files or parse command lines (the CLI does), it
//! does not dissect or track TCP (`keepsight-engine` / `keepsight-tcp` do), and it keeps no
//! per-packet state: memory grows with the number of conversations (`conv`, 96 bytes each
//! during the pass; `expert` for the diagnosis group), with the distinct item texts (`expert`,
//! HTTP chat rows included) or with one stream's out-of-order data (`follow`), never with file
//! size.

pub mod analyses;
pub mod conv;
pub mod evidence;
pub mod expert;
pub mod follow;
pub mod html;
pub mod packets;
pub mod read;
pub mod stats;

use keepsight_engine::capture::{CaptureError, ErrorKind};
use keepsight_engine::Engine;
use std::path::Path;

/// True for `-`, the name of standard input for [`open`].
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The outcome of opening a capture for a view, classified the way `keepsight packets` does.
pub enum Opened {
    /// Read it (boxed: the engine is large and the other variants are not).
    Ready(Box<Engine>),
    /// A 0-byte file: an empty capture, as for tshark (the view prints its empty table).
    Empty,
    /// Not a capture we can read, or damaged from the first byte (exit status 1).
    Problem(CaptureError),
    /// Could not be read at all (I/O; exit status 3).
    Failure(CaptureError),
}

/// Opens `path` for a view, sorting failures into the exit statuses the views share. `-` is
/// standard input (as for tshark's `-r -`), streamed: a view that needs two passes over the
/// capture cannot use it.
pub fn open(path: &Path) -> Opened {
    let opened = if is_stdin(path) {
        keepsight_engine::capture::CaptureReader::from_read(Box::new(std::io::stdin()))
            .map(Engine::from_reader)
    } else {
        Engine::open(path)
    };
    match opened {
        Ok(e) => Opened::Ready(Box::new(e)),
        Err(e) if matches!(e.kind, ErrorKind::Empty) => Opened::Empty,
        Err(e)
            if e.is_damage()
                || matches!(
                    e.kind,
                    ErrorKind::UnknownFormat { .. } | ErrorKind::Unsupported(_)
                ) =>
        {
            Opened::Problem(e)
        }
        Err(e) => Opened::Failure(e),
    }
}
