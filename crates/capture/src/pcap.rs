//! Classic libpcap files: a 24-byte file header, then 16-byte record headers each followed by
//! the captured bytes. Magic tells the byte order and the time stamp resolution.

use crate::error::{CaptureError, ErrorKind};
use crate::input::Input;
use crate::record::{Format, Interface, Record, TsResolution};

/// The largest record tshark accepts for ordinary link types (WTAP_MAX_PACKET_SIZE_STANDARD).
pub(crate) const MAX_RECORD: u32 = 262_144;

pub(crate) struct PcapState {
    big_endian: bool,
    nanos: bool,
    interface: Interface,
    /// The file header as read, handed out once (before the first record) when kept.
    header: [u8; 24],
    header_pending: bool,
    pub(crate) keep_container: bool,
}

impl PcapState {
    /// Reads the file header; `Ok(None)` when the magic is not a pcap magic.
    pub(crate) fn read_header(input: &mut Input) -> Result<Option<PcapState>, CaptureError> {
        let head = match input.peek(24) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(None),
            Err(e) => {
                // Distinguish "too short to be a pcap" from "not a pcap" by the magic alone.
                let magic = match input.peek(4) {
                    Ok(Some(m)) => [m[0], m[1], m[2], m[3]],
                    _ => return Err(e.at(0, 0, "a 24-byte pcap file header")),
                };
                if magic_kind(magic).is_some() {
                    return Err(e.at(0, 0, "a 24-byte pcap file header"));
                }
                return Ok(None);
            }
        };
        let magic = [head[0], head[1], head[2], head[3]];
        let Some((big_endian, nanos)) = magic_kind(magic) else {
            if magic == [0x34, 0xcd, 0xb2, 0xa1] || magic == [0xa1, 0xb2, 0xcd, 0x34] {
                return Err(CaptureError::new(
                    ErrorKind::Unsupported("Alexey Kuznetzov's modified pcap format".into()),
                    0,
                    0,
                    "a standard pcap magic",
                ));
            }
            return Ok(None);
        };
        let u32_at = |i: usize| {
            let b = [head[i], head[i + 1], head[i + 2], head[i + 3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let snap_len = u32_at(16);
        // The upper bits of the link-type word carry FCS information (pcap-linktype spec).
        let link_type = u32_at(20) & 0x03ff_ffff;
        crate::linktype::check(link_type, 0, 0)?;
        let mut header = [0u8; 24];
        header.copy_from_slice(head);
        input.consume(24);
        Ok(Some(PcapState {
            header,
            header_pending: true,
            keep_container: false,
            big_endian,
            nanos,
            interface: Interface {
                link_type,
                snap_len,
                ts_resolution: TsResolution::Decimal(if nanos { 9 } else { 6 }),
                ts_offset_s: 0,
                name: None,
            },
        }))
    }

    pub(crate) fn format(&self) -> Format {
        Format::Pcap {
            nanos: self.nanos,
            big_endian: self.big_endian,
        }
    }

    pub(crate) fn interface(&self) -> &Interface {
        &self.interface
    }

    /// The container bytes not yet handed out with a record (the header, in a file with none).
    pub(crate) fn pending_container(&self) -> &[u8] {
        if self.keep_container && self.header_pending {
            &self.header
        } else {
            &[]
        }
    }

    #[inline]
    pub(crate) fn next<'a>(
        &'a mut self,
        input: &'a mut Input,
        frame: u64,
    ) -> Result<Option<Record<'a>>, CaptureError> {
        let offset = input.position();
        let hdr = match input.peek(16) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(None),
            Err(e) => return Err(e.at(offset, frame, "a 16-byte record header")),
        };
        let be = self.big_endian;
        let u = |i: usize| {
            let b = [hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]];
            if be {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (sec, frac, caplen, origlen) = (u(0), u(4), u(8), u(12));
        if caplen > MAX_RECORD {
            return Err(CaptureError::new(
                ErrorKind::Corrupt(format!(
                    "record claims {caplen} captured bytes, more than the maximum of {MAX_RECORD}"
                )),
                offset,
                frame,
                "a record length no larger than 262144",
            ));
        }
        // tshark (wiretap) stores the fraction in a C int: microseconds are multiplied by 1000
        // in 32-bit unsigned arithmetic and the result reinterpreted as signed, so a broken
        // writer's oversized fraction can wrap (5000000 µs reads as 0.705032704 s, which is
        // then in range) or turn negative. Doing the same keeps every time tshark prints.
        let frac_ns = if self.nanos {
            frac as i32
        } else {
            frac.wrapping_mul(1000) as i32
        };
        let ts_ns = sec as i64 * 1_000_000_000 + frac_ns as i64;
        let invalid_frac_ns = (!(0..1_000_000_000).contains(&frac_ns)).then_some(frac_ns);
        let link_type = self.interface.link_type;
        let digits = if self.nanos { 9 } else { 6 };
        let raw = match input.take(16 + caplen as usize) {
            Ok(Some(d)) => d,
            Ok(None) => return Ok(None),
            Err(e) => {
                let mut err = e.at(
                    offset,
                    frame,
                    "the packet data announced by the record header",
                );
                // Count packet bytes only, not the 16-byte record header before them.
                if let ErrorKind::Truncated {
                    available, needed, ..
                } = &mut err.kind
                {
                    *available = available.saturating_sub(16);
                    *needed = needed.saturating_sub(16);
                }
                return Err(err);
            }
        };
        let container: &[u8] = if self.keep_container && self.header_pending {
            self.header_pending = false;
            &self.header
        } else {
            &[]
        };
        Ok(Some(Record {
            raw,
            container,
            ts_ns: Some(ts_ns),
            ts_digits: digits,
            // Kept as written even when smaller than the captured length, as tshark does.
            orig_len: origlen,
            invalid_frac_ns,
            options: &[],
            options_big_endian: false,
            data: &raw[16..],
            link_type,
            interface_id: 0,
            interface_name: None,
            section: 0,
            file_offset: offset,
        }))
    }
}

fn magic_kind(m: [u8; 4]) -> Option<(bool, bool)> {
    match m {
        [0xd4, 0xc3, 0xb2, 0xa1] => Some((false, false)),
        [0xa1, 0xb2, 0xc3, 0xd4] => Some((true, false)),
        [0x4d, 0x3c, 0xb2, 0xa1] => Some((false, true)),
        [0xa1, 0xb2, 0x3c, 0x4d] => Some((true, true)),
        _ => None,
    }
}
