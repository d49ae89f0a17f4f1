//! What the tables are written from and what writing them gives: the capture's identity,
//! its partition labels, the written files and the errors.

use std::io::Read;
use std::path::{Path, PathBuf};

/// What could not be written, and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be created or written.
    // The source's words follow in the error chain, once.
    #[error("{}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The Parquet writer refused (a bug or a full disk).
    #[error("{}: writing Parquet", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What the writer said.
        source: parquet::errors::ParquetError,
    },
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn parquet(path: &Path, source: parquet::errors::ParquetError) -> Self {
        Error::Parquet {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The capture the rows come from: what every row names, and where its files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// A stable id of the capture's contents ([`capture_id`]): the same file copied anywhere
    /// gets the same id, two different captures different ones.
    pub id: String,
    /// The file name as the user gave it.
    pub file: String,
    /// The `host=` partition: a name safe in a path ([`host_label`]).
    pub host: String,
}

impl Capture {
    /// The directory of `table`'s partition under `dir` for a capture whose first packet was
    /// on `date` (`YYYY-MM-DD`, UTC).
    pub fn partition(&self, dir: &Path, table: &str, date: &str) -> PathBuf {
        dir.join(table)
            .join(format!("host={}", self.host))
            .join(format!("date={date}"))
    }
}

/// The UTC date of `ns` since the epoch, `YYYY-MM-DD`: a capture's `date=` partition is its
/// first packet's.
pub fn date_of(ns: i64) -> String {
    let mut s = keepsight_diagnose::civil::fmt_utc(ns);
    s.truncate(10);
    s
}

/// The id of the capture in `path`: 16 hex digits of a 64-bit FNV-1a hash over the file's
/// length and its first MiB (a capture's first packets and their times tell it from any other,
/// and reading them costs nothing next to the analysis).
pub fn capture_id(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let mut head = Vec::with_capacity(1 << 20);
    f.by_ref().take(1 << 20).read_to_end(&mut head)?;
    Ok(id_of(len, &head))
}

/// [`capture_id`] of a capture of `len` bytes starting with `head`.
pub fn id_of(len: u64, head: &[u8]) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    let h = len
        .to_le_bytes()
        .iter()
        .chain(head)
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    format!("{h:016x}")
}

/// The `host=` partition value: `given` (an option), else the capture's first interface name,
/// else `unknown`; characters that are not letters, digits, `.`, `_` or `-` become `_` (a
/// partition value is a path component and a SQL literal).
pub fn host_label(given: Option<&str>, interface: Option<&str>) -> String {
    let raw = given
        .or(interface)
        .filter(|s| !s.trim().is_empty())
        .unwrap_or("unknown");
    let s: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.chars().all(|c| c == '.') {
        s.replace('.', "_")
    } else {
        s
    }
}

/// The initial sequence numbers of a stream's client and server (raw `tcp.seq` of their SYN
/// and SYN-ACK), when the capture held them.
pub type Isns<'a> = &'a dyn Fn(u32) -> (Option<u32>, Option<u32>);

/// One table file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The table's name (`streams`, ...).
    pub table: &'static str,
    /// The file.
    pub path: PathBuf,
    /// Its rows.
    pub rows: u64,
}
