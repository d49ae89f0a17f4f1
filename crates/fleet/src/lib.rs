//! Many capture files at once: which of them continue one another and are read as one
//! capture, and running the independent captures in parallel.
//!
//! [`plan`] turns the files and directories a user names into [`Capture`]s. Files continue
//! one another when dumpcap's ring buffer named them (`PREFIX_NNNNN_YYYYMMDDhhmmss.EXT`, the
//! same prefix and extension: read in `NNNNN` order), or, for other names, when their times
//! follow one another without overlap on the same link types, less than [`MAX_GAP_NS`] apart.
//! A capture of several files is read with
//! [`CaptureReader::open_sequence`](keepsight_capture::CaptureReader::open_sequence): one pass
//! over the concatenated frames, numbered as `mergecap -a` would number them.
//!
//! [`run`] runs one job per capture on a fixed number of worker threads and hands the results
//! back in capture order, so memory is bounded by the workers, not the captures.
//!
//! [`Located`] is the notation for a frame of a set: the global number plus `file:frame`.
//!
//! What this crate is not: it analyses nothing; the commands run their own analyses per
//! capture and render their own reports.

mod plan;
mod run;

pub use plan::{plan, ring_name, Capture, Joined, PlanError, RingName, MAX_GAP_NS};
pub use run::run;

use keepsight_capture::Part;
use serde::Serialize;
use std::path::Path;

/// One file of a capture in a fleet report: where its frames sit in the capture's numbering,
/// and the error that ended it early, if any.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileSpan {
    /// The file, as given (or as found in a directory given).
    pub file: String,
    /// Global number of its first frame in the capture.
    pub first_frame: u64,
    /// Frames read from it.
    pub frames: u64,
    /// What ended it early (damage, unreadable): the frames before were analysed.
    pub error: Option<String>,
}

impl FileSpan {
    /// The spans of a set's parts, errors written with their file name.
    pub fn of_parts(parts: &[Part]) -> Vec<FileSpan> {
        parts
            .iter()
            .map(|p| FileSpan {
                file: p.path.display().to_string(),
                first_frame: p.first_frame,
                frames: p.frames,
                error: p.damage.as_ref().map(|e| e.to_string()),
            })
            .collect()
    }
}

/// A frame of a capture read from several files: its global number and, when known, the file
/// it came from and its number there. Shown as `frame 43 (hb_00002_….pcapng:15)`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Located {
    /// The global frame number (as in the file `mergecap -a` makes of the set).
    pub frame: u64,
    /// The file the frame came from.
    pub file: Option<String>,
    /// The frame's number in that file.
    pub file_frame: Option<u64>,
}

/// Where global frame `frame` of a capture with files `files` came from.
pub fn locate(files: &[FileSpan], frame: u64) -> Located {
    let hit = files
        .iter()
        .find(|f| frame >= f.first_frame && frame < f.first_frame + f.frames);
    Located {
        frame,
        file: hit.map(|f| f.file.clone()),
        file_frame: hit.map(|f| frame - f.first_frame + 1),
    }
}

/// `file:frame` for a global frame, with the file's name only (not its directory).
pub fn file_frame(files: &[FileSpan], frame: u64) -> Option<String> {
    let at = locate(files, frame);
    let file = at.file?;
    let name = Path::new(&file)
        .file_name()
        .map_or(file.clone(), |n| n.to_string_lossy().into_owned());
    Some(format!("{name}:{}", at.file_frame?))
}

/// The result of one capture of a fleet run, as the fleet JSON documents list them.
#[derive(Debug, Serialize)]
pub struct CaptureResult<R> {
    /// The capture's name ([`Capture::name`]): what each finding of the merged report names.
    pub capture: String,
    /// How its files were found to belong together.
    pub joined: Joined,
    /// Its files in reading order, with their frame spans.
    pub files: Vec<FileSpan>,
    /// Why it could not be analysed at all (no file of it could be read).
    pub error: Option<String>,
    /// The command's own report of it (absent when `error` is set).
    pub report: Option<R>,
}

/// The heading the text of a fleet run prints before each capture's own report: its name,
/// and for several files each file's frame span (the key to `file:frame`).
pub fn heading<R>(result: &CaptureResult<R>) -> String {
    use std::fmt::Write;
    let mut s = format!("=== capture {}", result.capture);
    if result.files.len() > 1 {
        let _ = write!(
            s,
            " ({} files read as one capture, {}; frame numbers are global, as mergecap -a numbers them)",
            result.files.len(),
            result.joined.as_str()
        );
    }
    s.push('\n');
    if result.files.len() > 1 {
        for f in &result.files {
            let _ = write!(s, "    {}: ", f.file);
            if f.frames == 0 {
                s.push_str("no frames");
            } else {
                let _ = write!(
                    s,
                    "frames {}-{}",
                    f.first_frame,
                    f.first_frame + f.frames - 1
                );
            }
            if let Some(e) = &f.error {
                let _ = write!(s, " — ERROR: {e}");
            }
            s.push('\n');
        }
    }
    if let Some(e) = &result.error {
        let _ = writeln!(s, "    ERROR: {e}");
    }
    s.push('\n');
    s
}

/// A fleet run's JSON document: one entry per capture, in the order of [`plan`].
#[derive(Debug, Serialize)]
pub struct Document<R> {
    /// Schema version of this wrapper (each `report` keeps its own).
    pub schema: u32,
    /// Every capture's result.
    pub captures: Vec<CaptureResult<R>>,
}
