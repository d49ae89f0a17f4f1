//! `--evidence DIR` of `diagnose` and `report`: the packets of each stream a finding names,
//! saved as one pcapng per stream (`DIR/stream-N.pcapng`) with the `-w` writer of
//! `keepsight packets`, so a finding can be handed on with the frames that show it.

use keepsight_engine::capture::{CaptureWriter, WriteError, WriteFormat};
use keepsight_engine::Engine;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// At most this many streams get a file (the first ones named, most severe findings first):
/// each is an open file during the pass.
pub const MAX_STREAMS: usize = 100;

/// Why the evidence could not be written.
#[derive(Debug)]
pub enum EvidenceError {
    /// The directory or a file in it could not be created.
    Create {
        /// What could not be created.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Writing a file failed.
    Write {
        /// The file being written.
        path: PathBuf,
        /// Why.
        source: WriteError,
    },
}

impl std::fmt::Display for EvidenceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvidenceError::Create { path, source } => write!(f, "{}: {source}", path.display()),
            EvidenceError::Write { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for EvidenceError {}

/// The file of `stream`'s packets in `dir`.
pub fn stream_file(dir: &Path, stream: u32) -> PathBuf {
    dir.join(format!("stream-{stream}.pcapng"))
}

/// Reads `engine`'s capture (opened afresh, before its first frame) and writes the packets of
/// each of `streams` (`tcp.stream`; the first [`MAX_STREAMS`] distinct ones) to
/// [`stream_file`] in `dir`, which is created if missing. Returns the file of each stream.
/// A read error ends the pass like the end of the capture: the files hold the frames before it.
pub fn save_streams(
    engine: &mut Engine,
    streams: impl IntoIterator<Item = u32>,
    dir: &Path,
) -> Result<BTreeMap<u32, PathBuf>, EvidenceError> {
    let mut wanted: Vec<u32> = Vec::new();
    for s in streams {
        if !wanted.contains(&s) && wanted.len() < MAX_STREAMS {
            wanted.push(s);
        }
    }
    let mut files = BTreeMap::new();
    if wanted.is_empty() {
        return Ok(files);
    }
    std::fs::create_dir_all(dir).map_err(|source| EvidenceError::Create {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut writers: BTreeMap<u32, (PathBuf, CaptureWriter<BufWriter<File>>)> = BTreeMap::new();
    for &s in &wanted {
        let path = stream_file(dir, s);
        let file = File::create(&path).map_err(|source| EvidenceError::Create {
            path: path.clone(),
            source,
        })?;
        let writer = CaptureWriter::new(
            BufWriter::with_capacity(1 << 16, file),
            WriteFormat::PcapNg,
            engine.reader_mut(),
        );
        writers.insert(s, (path, writer));
    }
    while let Ok(Some(frame)) = engine.next_frame() {
        let stream = frame.tcp.as_ref().map(|t| t.stream);
        // Every writer sees every record: pcapng blocks between packets (interfaces, name
        // resolution) are carried into each file, as tshark's -w carries them.
        for (&s, (path, w)) in writers.iter_mut() {
            w.record(&frame.record, stream == Some(s))
                .map_err(|source| EvidenceError::Write {
                    path: path.clone(),
                    source,
                })?;
        }
    }
    for (s, (path, w)) in writers {
        w.finish(engine.reader())
            .map_err(|source| EvidenceError::Write {
                path: path.clone(),
                source,
            })?;
        files.insert(s, path);
    }
    Ok(files)
}
