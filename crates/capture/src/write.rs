//! Writing records back out (`keepsight packets -w`): the frames a filter kept, with their
//! original time stamps, interfaces and comments.
//!
//! When the output format is the input's (pcapng to pcapng, microsecond pcap to `pcap`,
//! nanosecond pcap to `nsecpcap`) every record and every container structure is copied exactly
//! as stored ([`Record::raw`], [`Record::container`]): nothing is decoded or re-encoded, so
//! pcapng comments, options, name-resolution blocks, byte order and time stamp resolutions
//! survive untouched and the frame data is written straight from the reader's buffer. Across
//! formats the records are re-encoded the way tshark 4.0.17 does it: a microsecond pcap keeps
//! microseconds (nanoseconds are truncated), a pcap holds one link type only.

use crate::reader::CaptureReader;
use crate::record::{Format, Interface, Record, TsResolution};
use std::io::{self, Write};

/// The file formats of `-F`, as tshark names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFormat {
    /// pcapng (tshark's default for `-w`).
    PcapNg,
    /// Classic libpcap with microsecond time stamps.
    Pcap,
    /// Classic libpcap with nanosecond time stamps.
    NsecPcap,
}

impl WriteFormat {
    /// The names `-F` accepts.
    pub const NAMES: [&'static str; 3] = ["pcapng", "pcap", "nsecpcap"];

    /// The format a `-F` name stands for.
    pub fn parse(name: &str) -> Option<WriteFormat> {
        match name {
            "pcapng" => Some(WriteFormat::PcapNg),
            "pcap" => Some(WriteFormat::Pcap),
            "nsecpcap" => Some(WriteFormat::NsecPcap),
            _ => None,
        }
    }

    /// True when records read from `input` are copied as stored.
    fn copies(self, input: Format) -> bool {
        matches!(
            (self, input),
            (WriteFormat::PcapNg, Format::PcapNg)
                | (WriteFormat::Pcap, Format::Pcap { nanos: false, .. })
                | (WriteFormat::NsecPcap, Format::Pcap { nanos: true, .. })
        )
    }
}

/// Why a capture could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The output refused the bytes.
    #[error("writing the capture: {0}")]
    Io(#[from] io::Error),
    /// A pcap file has one link type for all its records.
    #[error("a pcap file holds one link type, and this capture has frames of link types {first} and {other}: write pcapng (-F pcapng) instead")]
    MixedLinkTypes {
        /// The link type of the file being written.
        first: u32,
        /// The link type of a record that cannot join it.
        other: u32,
    },
}

/// Writes the records a reader hands out, all of them or the ones the caller keeps.
pub struct CaptureWriter<W: Write> {
    out: W,
    format: WriteFormat,
    /// Records and container structures are copied as stored.
    copy: bool,
    /// The interface of a classic pcap input, for a pcapng written from it.
    pcap_interface: Option<Interface>,
    /// The link type of the file header written so far (re-encoding only).
    header_link_type: Option<u32>,
}

/// What tshark writes as a converted pcap's snap length (WTAP_MAX_PACKET_SIZE_STANDARD).
const PCAP_SNAPLEN: u32 = 262_144;

impl<W: Write> CaptureWriter<W> {
    /// A writer of `format` for the records of `reader`. When the formats match, asks the
    /// reader for its container structures (so call this before reading the first record).
    pub fn new(out: W, format: WriteFormat, reader: &mut CaptureReader) -> Self {
        let copy = format.copies(reader.format());
        // A pcap written from a pcapng needs the interfaces' link types up front, as tshark
        // checks them: they are in the container blocks.
        let pcapng_to_pcap = reader.format() == Format::PcapNg && format != WriteFormat::PcapNg;
        reader.keep_container(copy || pcapng_to_pcap);
        let pcap_interface = match reader.format() {
            Format::Pcap { .. } => reader.interfaces().first().cloned(),
            Format::PcapNg => None,
        };
        CaptureWriter {
            out,
            format,
            copy,
            pcap_interface,
            header_link_type: None,
        }
    }

    /// Hands the writer a record the reader returned; `keep` says whether it goes into the
    /// output. Every record read must be handed over, kept or not, so that the container
    /// structures before it (interfaces, sections) are written.
    pub fn record(&mut self, record: &Record<'_>, keep: bool) -> Result<(), WriteError> {
        if self.copy {
            self.out.write_all(record.container)?;
            if keep {
                self.out.write_all(record.raw)?;
            }
            return Ok(());
        }
        if self.format != WriteFormat::PcapNg {
            // Every interface the file declares must fit the one link type of a pcap, the
            // ones with no frame kept too (tshark refuses such a file before writing).
            for link_type in idb_link_types(record.container) {
                self.header(link_type)?;
            }
        }
        if !keep {
            return Ok(());
        }
        self.header(record.link_type)?;
        let ts_ns = record.ts_ns.unwrap_or(0);
        let caplen = record.data.len() as u32;
        match self.format {
            WriteFormat::PcapNg => {
                let digits = self.pcap_digits();
                let ticks = ts_ns.max(0) as u64 / 10u64.pow(9 - digits as u32);
                let padded = record.data.len().next_multiple_of(4);
                let total = 32 + padded as u32;
                let mut head = [0u8; 28];
                for (i, v) in [
                    6,
                    total,
                    0,
                    (ticks >> 32) as u32,
                    ticks as u32,
                    caplen,
                    record.orig_len,
                ]
                .into_iter()
                .enumerate()
                {
                    head[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
                }
                self.out.write_all(&head)?;
                self.out.write_all(record.data)?;
                self.out
                    .write_all(&[0u8; 3][..padded - record.data.len()])?;
                self.out.write_all(&total.to_le_bytes())?;
            }
            WriteFormat::Pcap | WriteFormat::NsecPcap => {
                let secs = ts_ns.div_euclid(1_000_000_000) as u32;
                let mut frac = ts_ns.rem_euclid(1_000_000_000) as u32;
                if self.format == WriteFormat::Pcap {
                    frac /= 1000;
                }
                let mut head = [0u8; 16];
                for (i, v) in [secs, frac, caplen, record.orig_len]
                    .into_iter()
                    .enumerate()
                {
                    head[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
                }
                self.out.write_all(&head)?;
                self.out.write_all(record.data)?;
            }
        }
        Ok(())
    }

    /// Writes what follows the last record (trailing pcapng blocks; the header of a file
    /// with no record kept) and hands the output back, flushed.
    pub fn finish(mut self, reader: &CaptureReader) -> Result<W, WriteError> {
        if self.copy {
            self.out.write_all(reader.pending_container())?;
        } else if self.header_link_type.is_none() {
            let link_type = reader.interfaces().first().map_or(1, |i| i.link_type);
            self.header(link_type)?;
        }
        self.out.flush()?;
        Ok(self.out)
    }

    /// Decimal digits of the pcap input's time stamps (a pcapng written from it keeps them).
    fn pcap_digits(&self) -> u8 {
        match self.pcap_interface.as_ref().map(|i| i.ts_resolution) {
            Some(TsResolution::Decimal(9)) => 9,
            _ => 6,
        }
    }

    /// The file header of a re-encoded output, once; a pcap output refuses a second link type.
    fn header(&mut self, link_type: u32) -> Result<(), WriteError> {
        if let Some(first) = self.header_link_type {
            if first != link_type && self.format != WriteFormat::PcapNg {
                return Err(WriteError::MixedLinkTypes {
                    first,
                    other: link_type,
                });
            }
            return Ok(());
        }
        self.header_link_type = Some(link_type);
        let mut bytes: Vec<u8> = Vec::with_capacity(64);
        let mut put = |v: u32| bytes.extend_from_slice(&v.to_le_bytes());
        match self.format {
            WriteFormat::PcapNg => {
                // Section header: byte-order magic, version 1.0, section length unknown.
                for v in [0x0A0D_0D0A, 28, 0x1A2B_3C4D, 1, u32::MAX, u32::MAX, 28] {
                    put(v);
                }
                let nanos = self.pcap_digits() == 9;
                let snap_len = self.pcap_interface.as_ref().map_or(0, |i| i.snap_len);
                let total = if nanos { 32 } else { 20 };
                put(1);
                put(total);
                put(link_type & 0xffff);
                put(snap_len);
                if nanos {
                    // if_tsresol = 9 (nanoseconds), padded, then the end of options.
                    put(0x0001_0009);
                    put(9);
                    put(0);
                }
                put(total);
            }
            WriteFormat::Pcap | WriteFormat::NsecPcap => {
                let magic = if self.format == WriteFormat::NsecPcap {
                    0xa1b2_3c4d
                } else {
                    0xa1b2_c3d4
                };
                for v in [magic, 0x0004_0002, 0, 0, PCAP_SNAPLEN, link_type] {
                    put(v);
                }
            }
        }
        self.out.write_all(&bytes)?;
        Ok(())
    }
}

/// The link types of the interface description blocks among raw pcapng blocks (as stored,
/// byte order given by their section header). Stops at a malformed length: the reader has
/// checked the blocks it handed out, so that does not happen.
fn idb_link_types(mut blocks: &[u8]) -> impl Iterator<Item = u32> + '_ {
    let mut big_endian = false;
    std::iter::from_fn(move || loop {
        let head = blocks.get(..12)?;
        let word = |i: usize, be: bool| {
            let b = [head[i], head[i + 1], head[i + 2], head[i + 3]];
            if be {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        if word(0, false) == 0x0A0D_0D0A {
            big_endian = word(8, true) == 0x1A2B_3C4D;
        }
        let total = word(4, big_endian) as usize;
        let block_type = word(0, big_endian);
        if total < 12 || total > blocks.len() {
            return None;
        }
        blocks = &blocks[total..];
        if block_type == 1 {
            let link = if big_endian {
                u16::from_be_bytes([head[8], head[9]])
            } else {
                u16::from_le_bytes([head[8], head[9]])
            };
            return Some(link as u32);
        }
    })
}
