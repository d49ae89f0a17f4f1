use std::fmt;

/// What went wrong while reading a capture, and where.
#[derive(Debug)]
pub struct CaptureError {
    /// The failure itself; the other fields say where in the file it happened.
    pub kind: ErrorKind,
    /// Byte offset (in the decompressed stream) of the record or block being read.
    pub offset: u64,
    /// Number of the frame being read (1-based); 0 while reading the file header.
    pub frame: u64,
    /// What the reader expected at that point.
    pub expected: &'static str,
}

/// The kinds of failure a capture read can end with, so callers can tell an unreadable file
/// (exit 3) from a damaged one (exit 1) without parsing messages.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// The operating system refused the read (missing file, permissions, I/O fault).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Zero bytes: nothing to detect a format from.
    #[error("the file is empty")]
    Empty,
    /// The first bytes are neither a pcap magic nor a pcapng section header.
    #[error("not a capture file (first bytes {:02x} {:02x} {:02x} {:02x})", magic[0], magic[1], magic[2], magic[3])]
    UnknownFormat {
        /// The first four bytes, shown so users can recognise what the file really is.
        magic: [u8; 4],
    },
    /// The file stops inside a header or record, as when a capture is copied while still
    /// being written.
    #[error("the file ends in the middle of {what}: {available} of {needed} bytes present")]
    Truncated {
        /// The structure that was cut ("a packet record", "a block header", ...).
        what: &'static str,
        /// Bytes the file still had.
        available: usize,
        /// Bytes the structure needs.
        needed: usize,
    },
    /// A length, magic or field value no correct writer produces.
    #[error("the file appears damaged: {0}")]
    Corrupt(String),
    /// A valid file using a feature this reader does not implement (e.g. an unknown link type).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl CaptureError {
    pub(crate) fn new(kind: ErrorKind, offset: u64, frame: u64, expected: &'static str) -> Self {
        CaptureError {
            kind,
            offset,
            frame,
            expected,
        }
    }

    /// True when the problem is damage in the file (as opposed to I/O failure).
    pub fn is_damage(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Truncated { .. } | ErrorKind::Corrupt(_)
        )
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.frame > 0 {
            write!(
                f,
                "frame {} at byte offset {}: {} (expected {})",
                self.frame, self.offset, self.kind, self.expected
            )
        } else {
            write!(
                f,
                "at byte offset {}: {} (expected {})",
                self.offset, self.kind, self.expected
            )
        }
    }
}

impl std::error::Error for CaptureError {}

/// A short read, before the caller knows which record it belongs to.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(std::io::Error),
    Truncated { available: usize, needed: usize },
}

impl ReadError {
    pub(crate) fn at(self, offset: u64, frame: u64, expected: &'static str) -> CaptureError {
        let kind = match self {
            ReadError::Io(e) => ErrorKind::Io(e),
            ReadError::Truncated { available, needed } => ErrorKind::Truncated {
                what: expected,
                available,
                needed,
            },
        };
        CaptureError::new(kind, offset, frame, expected)
    }
}
