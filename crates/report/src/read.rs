//! The one read loop of the analysis commands: every frame of a capture in file order to the
//! analyses, until the end or the first damage (for a set of files read as one capture: the
//! damage ends that file, and the next file is read).

use keepsight_engine::capture::CaptureError;
use keepsight_engine::{Engine, Frame};

/// How a [`read_frames`] pass ended.
#[derive(Default)]
pub struct ReadEnd {
    /// Time of the first frame (the capture's time origin), if any frame was read.
    pub first_ns: Option<i64>,
    /// Latest frame time seen (frames may be out of order); 0 when no frame was read.
    pub last_ns: i64,
    /// The damage that stopped the pass early; the frames before it were all handed out.
    pub damage: Option<CaptureError>,
}

/// Hands every frame to `each` in file order, until the end or the first damage, which ends
/// the pass but not the analysis (what was read stays valid). Keeps the time origin and the
/// latest time, and tells `progress` the file offset every 65,536 frames: often enough to be
/// seen, rare enough to cost nothing. `None` as engine is an empty (0-byte) capture.
pub fn read_frames(
    engine: Option<&mut Engine>,
    progress: impl FnMut(u64),
    mut each: impl FnMut(&Frame<'_>),
) -> ReadEnd {
    let read = try_read_frames(engine, progress, |frame| {
        each(frame);
        Ok::<(), std::convert::Infallible>(())
    });
    match read {
        Ok(end) => end,
        Err(never) => match never {},
    }
}

/// [`read_frames`] for work that can fail (writing output): the first error from `each` stops
/// the read and is returned, so a closed pipe does not read the rest of the capture for nothing.
pub fn try_read_frames<E>(
    engine: Option<&mut Engine>,
    mut progress: impl FnMut(u64),
    mut each: impl FnMut(&Frame<'_>) -> Result<(), E>,
) -> Result<ReadEnd, E> {
    let mut end = ReadEnd::default();
    let Some(engine) = engine else {
        return Ok(end);
    };
    let mut read = 0u64;
    loop {
        // A set of files read as one capture goes on with its next file at the end (or
        // damage) of each; the analyses see one sequence of frames.
        let frame = match engine.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => match engine.reader_mut().next_file(None) {
                Ok(true) => continue,
                _ => break,
            },
            Err(e) => match engine.reader_mut().next_file(Some(e)) {
                Ok(true) => continue,
                Ok(false) => break,
                Err(e) => {
                    end.damage = Some(e);
                    break;
                }
            },
        };
        read += 1;
        if read.is_multiple_of(65_536) {
            progress(frame.record.file_offset);
        }
        end.first_ns.get_or_insert(frame.ts_ns);
        end.last_ns = end.last_ns.max(frame.ts_ns);
        each(&frame)?;
    }
    Ok(end)
}
