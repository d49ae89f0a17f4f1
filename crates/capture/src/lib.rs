//! Capture-file reading: classic pcap and pcapng, plain or gzip-compressed, one record at a time.
//!
//! The reader streams: it holds one record (or one pcapng block) at a time, so memory does not
//! grow with the file. Plain files are memory-mapped and records are handed out as borrowed
//! slices of the map (no copy); gzip files are inflated through a small sliding buffer.
//!
//! Timestamps come out as nanoseconds since the Unix epoch together with the precision the file
//! recorded them in (6 digits for microsecond pcap, per-interface `if_tsresol` for pcapng), which
//! is what tshark uses to decide how many decimals to print.
//!
//! [`CaptureWriter`] writes records back out (pcap or pcapng), copying them as stored when the
//! formats match.
//!
//! What this crate is not: it does not look inside packets (see `keepsight-wire`).
//!
//! Errors are precise and non-destructive: a damaged file yields every record before the damage,
//! then a [`CaptureError`] naming the byte offset, the frame number being read and what was
//! expected. Unknown pcapng block types are skipped, as tshark does.

mod error;
mod input;
pub mod linktype;
mod pcap;
mod pcapng;
mod reader;
mod record;
pub mod sequence;
mod write;

pub use error::{CaptureError, ErrorKind};
pub use reader::CaptureReader;
pub use record::{Format, Interface, Record, TsResolution};
pub use sequence::Part;
pub use write::{CaptureWriter, WriteError, WriteFormat};
#[cfg(test)]
mod tests;
