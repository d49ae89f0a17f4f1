//! A set of files read as one capture: each file's place in the global frame numbering, and
//! the damage that ended it.

use crate::error::CaptureError;
use std::path::{Path, PathBuf};

/// One file of a capture read from several files ([`CaptureReader::open_sequence`]).
///
/// [`CaptureReader::open_sequence`]: crate::CaptureReader::open_sequence
#[derive(Debug)]
pub struct Part {
    /// The file, as given.
    pub path: PathBuf,
    /// The global number of its first frame: frames are numbered across the whole set, as
    /// `mergecap -a` would number them in the file it writes.
    pub first_frame: u64,
    /// Frames read from it.
    pub frames: u64,
    /// What stopped it early (damage, or a file that could not be opened at all): its frames
    /// before that were read, and the next file was read after it.
    pub damage: Option<CaptureError>,
}

impl Part {
    /// Whether global frame `frame` came from this file.
    pub fn holds(&self, frame: u64) -> bool {
        frame >= self.first_frame && frame < self.first_frame + self.frames
    }
}

/// Where a global frame number of a set came from: the file and the frame's number in it.
pub fn locate(parts: &[Part], frame: u64) -> Option<(&Path, u64)> {
    let part = parts.iter().find(|p| p.holds(frame))?;
    Some((&part.path, frame - part.first_frame + 1))
}

/// The files still to read after the current one, and what was read so far.
pub(crate) struct Sequence {
    pub(crate) parts: Vec<Part>,
    pub(crate) rest: std::collections::VecDeque<PathBuf>,
}
