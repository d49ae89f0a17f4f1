//! What the readers hand out: the container format, the interfaces a file declares and one
//! captured frame at a time.

/// The container format of a capture file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic libpcap: one file header, then one record header per frame.
    Pcap {
        /// The nanosecond-resolution magic (a1b23c4d): time stamps carry 9 decimals, not 6.
        nanos: bool,
        /// The file was written on a big-endian host; every header field is read swapped.
        big_endian: bool,
    },
    /// pcapng: blocks, several interfaces with their own link types and time resolutions.
    PcapNg,
}

/// One captured frame, borrowed from the reader until the next call to
/// [`CaptureReader::next_record`](crate::CaptureReader::next_record).
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
    /// The record exactly as stored in the (decompressed) file: the pcap record header and
    /// data, or the whole pcapng block. A writer in the same format copies it unchanged.
    pub raw: &'a [u8],
    /// The file's own structures read since the previous record, exactly as stored: the pcap
    /// file header before the first record; pcapng section headers, interface descriptions
    /// and the other non-packet blocks. Empty unless
    /// [`CaptureReader::keep_container`](crate::CaptureReader::keep_container) asked for them.
    pub container: &'a [u8],
    /// The pcapng interface's name (`if_name`), when the file records one (tshark's packet
    /// details show it).
    pub interface_name: Option<&'a str>,
    /// Which pcapng section the record is in, from 1 (0 for classic pcap).
    pub section: u32,
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

/// How long one time stamp tick is: 10^-n or 2^-n seconds, as pcapng's `if_tsresol` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsResolution {
    /// Ticks of 10^-n s: 6 for microseconds (the default), 9 for nanoseconds.
    Decimal(u8),
    /// Ticks of 2^-n s, which some hardware time-stampers write.
    Binary(u8),
}

/// A capture interface (classic pcap has exactly one).
#[derive(Clone, Debug)]
pub struct Interface {
    /// LINKTYPE_* of every frame captured on it: tells the dissector where to start.
    pub link_type: u32,
    /// The most bytes the capture kept per frame (0: no limit); frames longer on the wire
    /// were cut here.
    pub snap_len: u32,
    /// The unit of the interface's time stamps (`if_tsresol`; microseconds for classic pcap).
    pub ts_resolution: TsResolution,
    /// Seconds added to every time stamp (`if_tsoffset`).
    pub ts_offset_s: i64,
    /// The interface's name (`if_name`, e.g. `eth0`) when the pcapng file records one.
    pub name: Option<String>,
}

impl Interface {
    /// Decimals a time column shows for this interface's frames. tshark 4.0.17 knows only
    /// s, ds, cs, ms, µs and ns precisions and takes the coarsest one whose unit is not finer
    /// than the interface's tick: 10^-4, 10^-5 and 2^-10 s show 3 decimals, 10^-7, 10^-8 and
    /// 2^-20 s show 6 (truncated, not rounded).
    pub(crate) fn ts_digits(&self) -> u8 {
        // log10 of ticks per second, rounded down; 2^e has floor(e * log10 2) decimal digits.
        let magnitude = match self.ts_resolution {
            TsResolution::Decimal(e) => e as u32,
            TsResolution::Binary(e) => e as u32 * 30103 / 100000,
        };
        match magnitude {
            0..=2 => magnitude as u8,
            3..=5 => 3,
            6..=8 => 6,
            _ => 9,
        }
    }

    pub(crate) fn to_ns(&self, ticks: u64) -> i64 {
        let ns: i128 = match self.ts_resolution {
            TsResolution::Decimal(e) if e <= 9 => ticks as i128 * 10i128.pow(9 - e as u32),
            TsResolution::Decimal(e) => ticks as i128 / 10i128.pow((e as u32 - 9).min(30)),
            TsResolution::Binary(e) => ((ticks as i128) * 1_000_000_000) >> e.min(64),
        };
        (ns + self.ts_offset_s as i128 * 1_000_000_000) as i64
    }
}
