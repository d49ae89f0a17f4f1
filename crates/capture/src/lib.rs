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
//! What this crate is not: it does not look inside packets (see `keepsight-wire`), and it does not
//! write captures.
//!
//! Errors are precise and non-destructive: a damaged file yields every record before the damage,
//! then a [`CaptureError`] naming the byte offset, the frame number being read and what was
//! expected. Unknown pcapng block types are skipped, as tshark does.

mod error;
mod input;
mod pcap;
mod pcapng;

pub use error::{CaptureError, ErrorKind};

use input::Input;
use std::path::Path;

/// Link-layer header types (tcpdump.org LINKTYPE_* values) this project dissects.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
    /// OpenBSD/older libpcap alias of RAW.
    pub const RAW_ALT_12: u32 = 12;
    pub const RAW_ALT_14: u32 = 14;
    /// Not a tcpdump link type: marks a pcapng custom block, which tshark shows as a frame.
    pub const PCAPNG_CUSTOM_BLOCK: u32 = 0xFFFF_0BAD;
}

/// Link types are assigned by tcpdump.org in a small range; a value far outside it means the
/// header is damaged or the file comes from a tool with private numbering, and tshark refuses
/// such files at open. Values we cannot dissect but which exist are accepted (frames are still
/// listed and counted).
pub(crate) fn check_link_type(link_type: u32, offset: u64, frame: u64) -> Result<(), CaptureError> {
    if link_type > 1000 {
        return Err(CaptureError::new(
            ErrorKind::Unsupported(format!("link type {link_type} is unknown")),
            offset,
            frame,
            "a tcpdump.org LINKTYPE_* value",
        ));
    }
    Ok(())
}

/// The container format of a capture file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic libpcap; `nanos` for the nanosecond-resolution magic.
    Pcap {
        nanos: bool,
        big_endian: bool,
    },
    PcapNg,
}

/// One captured frame, borrowed from the reader until the next call to [`CaptureReader::next_record`].
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// Capture time, ns since the Unix epoch (`None` for pcapng simple packet blocks, which
    /// carry no time stamp).
    pub ts_ns: Option<i64>,
    /// Decimal digits the file's time stamp resolution supports (6 = microseconds, 9 = nanoseconds).
    pub ts_digits: u8,
    /// Bytes on the wire; may exceed `data.len()` when the capture was cut by a snap length.
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
    /// LINKTYPE_* of the interface the frame was captured on.
    pub link_type: u32,
    /// pcapng interface index (0 for classic pcap).
    pub interface_id: u32,
    /// Byte offset of the record (or block) in the (decompressed) file.
    pub file_offset: u64,
    /// The time stamp's fractional part in ns, when it is outside 0..10⁹ (a broken writer): a
    /// second or more, or negative after the 32-bit wrap tshark's reader applies (see the pcap
    /// reader). `ts_ns` is the instant it stands for (seconds × 10⁹ + this); tshark keeps the
    /// seconds and this fraction apart, prints them so, and raises an expert note.
    pub invalid_frac_ns: Option<i32>,
    /// pcapng packet block options, undecoded (empty for classic pcap); see [`Record::comments`].
    pub options: &'a [u8],
    /// Byte order of `options` (the section's).
    pub options_big_endian: bool,
}

impl<'a> Record<'a> {
    /// The frame's pcapng comments (`opt_comment`), in file order. Decoded only when asked
    /// for; options that run past the block end stop the walk.
    pub fn comments(&self) -> impl Iterator<Item = &'a str> + 'a {
        let (mut rest, be) = (self.options, self.options_big_endian);
        std::iter::from_fn(move || loop {
            if rest.len() < 4 {
                return None;
            }
            let u16_at = |i: usize| {
                let b = [rest[i], rest[i + 1]];
                if be {
                    u16::from_be_bytes(b)
                } else {
                    u16::from_le_bytes(b)
                }
            };
            let (code, len) = (u16_at(0), u16_at(2) as usize);
            let value = rest.get(4..4 + len)?;
            rest = rest.get(4 + len.next_multiple_of(4)..).unwrap_or(&[]);
            match code {
                0 => return None,
                1 => return Some(std::str::from_utf8(value).unwrap_or("")),
                _ => {}
            }
        })
    }
}

/// A capture interface (classic pcap has exactly one).
#[derive(Clone, Debug)]
pub struct Interface {
    pub link_type: u32,
    pub snap_len: u32,
    /// Time stamp units per second as a power: `(base, exponent)`, e.g. (10, 6) for microseconds.
    pub ts_resolution: (u8, u8),
    /// Seconds added to every time stamp (`if_tsoffset`).
    pub ts_offset_s: i64,
    pub name: Option<String>,
}

impl Interface {
    fn ts_digits(&self) -> u8 {
        match self.ts_resolution {
            (10, e) => e.min(9),
            // 2^-e: print as many decimals as needed to distinguish ticks, capped at ns.
            (_, e) => ((e as u32 * 30103).div_ceil(100000) as u8).min(9),
        }
    }

    fn to_ns(&self, ticks: u64) -> i64 {
        let ns: i128 = match self.ts_resolution {
            (10, e) if e <= 9 => ticks as i128 * 10i128.pow(9 - e as u32),
            (10, e) => ticks as i128 / 10i128.pow((e as u32 - 9).min(30)),
            (_, e) => ((ticks as i128) * 1_000_000_000) >> e.min(64),
        };
        (ns + self.ts_offset_s as i128 * 1_000_000_000) as i64
    }
}

/// Reads records from a pcap or pcapng file, plain or gzip-compressed.
pub struct CaptureReader {
    input: Input,
    format: Format,
    state: FormatState,
    /// Number of records returned so far (the next record is frame `frames + 1`).
    frames: u64,
    /// Set once an error was returned: the reader then stays at end of file.
    failed: bool,
}

enum FormatState {
    Pcap(pcap::PcapState),
    PcapNg(pcapng::PcapNgState),
}

impl CaptureReader {
    /// Opens a capture file, detecting its format (and gzip compression) from its first bytes.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CaptureError> {
        let input = Input::open(path.as_ref())
            .map_err(|e| CaptureError::new(ErrorKind::Io(e), 0, 0, "opening the file"))?;
        Self::from_input(input)
    }

    /// Reads a capture held in memory (tests, fuzzing).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, CaptureError> {
        Self::from_input(Input::from_vec(bytes))
    }

    fn from_input(mut input: Input) -> Result<Self, CaptureError> {
        let magic = match input.peek(4) {
            Ok(Some(m)) => [m[0], m[1], m[2], m[3]],
            Ok(None) => {
                return Err(CaptureError::new(
                    ErrorKind::Empty,
                    0,
                    0,
                    "a capture file header",
                ));
            }
            Err(e) => return Err(e.at(0, 0, "a capture file header")),
        };
        let (format, state) =
            match magic {
                [0x0a, 0x0d, 0x0d, 0x0a] => {
                    let st = pcapng::PcapNgState::new();
                    (Format::PcapNg, FormatState::PcapNg(st))
                }
                _ => match pcap::PcapState::read_header(&mut input)? {
                    Some(st) => (st.format(), FormatState::Pcap(st)),
                    None => return Err(CaptureError::new(
                        ErrorKind::UnknownFormat { magic },
                        0,
                        0,
                        "a pcap magic (a1b2c3d4, a1b23c4d) or a pcapng section header (0a0d0d0a)",
                    )),
                },
            };
        Ok(CaptureReader {
            input,
            format,
            state,
            frames: 0,
            failed: false,
        })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// True when the file was gzip-compressed.
    pub fn compressed(&self) -> bool {
        self.input.compressed()
    }

    /// Interfaces seen so far (pcapng declares them as it goes).
    pub fn interfaces(&self) -> &[Interface] {
        match &self.state {
            FormatState::Pcap(p) => std::slice::from_ref(p.interface()),
            FormatState::PcapNg(p) => p.interfaces(),
        }
    }

    /// Total size in bytes when known (plain files), for progress reporting.
    pub fn len_hint(&self) -> Option<u64> {
        self.input.len_hint()
    }

    /// Bytes consumed so far (in the decompressed stream).
    pub fn position(&self) -> u64 {
        self.input.position()
    }

    /// The next record, `Ok(None)` at a clean end of file. After an error, returns `Ok(None)`.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, CaptureError> {
        if self.failed {
            return Ok(None);
        }
        let frame = self.frames + 1;
        let result = match &mut self.state {
            FormatState::Pcap(p) => p.next(&mut self.input, frame),
            FormatState::PcapNg(p) => p.next(&mut self.input, frame),
        };
        match result {
            Ok(Some(r)) => {
                self.frames = frame;
                Ok(Some(r))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests;
