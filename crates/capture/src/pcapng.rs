//! pcapng: a sequence of blocks (type, total length, body, total length again). Sections
//! (SHB) fix the byte order and reset the interface list; interfaces (IDB) fix link type, snap
//! length and time stamp resolution; packets come in EPB, SPB and the obsolete OPB. Every other
//! block type is skipped, as tshark does.

use crate::error::{CaptureError, ErrorKind};
use crate::input::Input;
use crate::record::{Interface, Record, TsResolution};

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const OPB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
const CUSTOM: u32 = 0x0000_0BAD;
const CUSTOM_NOCOPY: u32 = 0x4000_0BAD;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// Blocks larger than this are treated as damage rather than allocated (tshark uses 16 MiB too).
const MAX_BLOCK: u32 = 16 * 1024 * 1024;

/// Interface names remembered across sections (a hostile file may declare millions).
const MAX_NAMED_INTERFACES: usize = 4096;

pub(crate) struct PcapNgState {
    big_endian: bool,
    interfaces: Vec<Interface>,
    seen_section: bool,
    /// Section headers read so far.
    sections: u32,
    /// The name of every interface declared in the file, in order, across sections: tshark
    /// 4.0 names a frame's interface by its id in this list, whichever section it is in.
    interface_names: Vec<Option<String>>,
    /// Non-packet blocks read since the last packet, as stored (only when kept).
    container: Vec<u8>,
    pub(crate) keep_container: bool,
}

#[derive(Clone, Copy)]
struct Endian(bool);

impl Endian {
    #[inline]
    fn u32(self, b: &[u8], i: usize) -> u32 {
        let a = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if self.0 {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }
    #[inline]
    fn u16(self, b: &[u8], i: usize) -> u16 {
        let a = [b[i], b[i + 1]];
        if self.0 {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    }
}

fn corrupt(msg: String, offset: u64, frame: u64, expected: &'static str) -> CaptureError {
    CaptureError::new(ErrorKind::Corrupt(msg), offset, frame, expected)
}

impl PcapNgState {
    pub(crate) fn new() -> Self {
        PcapNgState {
            big_endian: false,
            interfaces: Vec::new(),
            seen_section: false,
            sections: 0,
            interface_names: Vec::new(),
            container: Vec::new(),
            keep_container: false,
        }
    }

    /// The non-packet blocks read after the last packet returned (at the end of the file).
    pub(crate) fn pending_container(&self) -> &[u8] {
        &self.container
    }

    fn interface_name(&self, id: u32) -> Option<&str> {
        self.interface_names.get(id as usize)?.as_deref()
    }

    pub(crate) fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    pub(crate) fn next<'a>(
        &'a mut self,
        input: &'a mut Input,
        frame: u64,
    ) -> Result<Option<Record<'a>>, CaptureError> {
        self.container.clear();
        loop {
            let offset = input.position();
            let head = match input.peek(12) {
                Ok(Some(h)) => h,
                Ok(None) => return Ok(None),
                Err(e) => return Err(e.at(offset, frame, "a pcapng block header")),
            };
            let raw_type = [head[0], head[1], head[2], head[3]];
            if u32::from_le_bytes(raw_type) == SHB {
                // The section header's own byte order comes from its byte-order magic.
                let bom = [head[8], head[9], head[10], head[11]];
                self.big_endian = match (u32::from_le_bytes(bom), u32::from_be_bytes(bom)) {
                    (BYTE_ORDER_MAGIC, _) => false,
                    (_, BYTE_ORDER_MAGIC) => true,
                    _ => {
                        return Err(corrupt(
                            format!(
                                "section header byte-order magic is {:02x} {:02x} {:02x} {:02x}",
                                bom[0], bom[1], bom[2], bom[3]
                            ),
                            offset,
                            frame,
                            "1a2b3c4d in either byte order",
                        ))
                    }
                };
            } else if !self.seen_section {
                return Err(corrupt(
                    "pcapng file does not start with a section header block".into(),
                    offset,
                    frame,
                    "a section header block (0a0d0d0a)",
                ));
            }
            let e = Endian(self.big_endian);
            let block_type = e.u32(head, 0);
            let total = e.u32(head, 4);
            if total < 12 || !total.is_multiple_of(4) || total > MAX_BLOCK {
                return Err(corrupt(
                    format!("block of type 0x{block_type:08x} has total length {total}"),
                    offset,
                    frame,
                    "a block length that is a multiple of 4, at least 12 and at most 16 MiB",
                ));
            }
            if !matches!(block_type, EPB | OPB | SPB | CUSTOM | CUSTOM_NOCOPY) {
                let block = match input.take(total as usize) {
                    Ok(Some(b)) => b,
                    Ok(None) => return Ok(None),
                    Err(err) => return Err(err.at(offset, frame, "the rest of the pcapng block")),
                };
                let body = block_body(block, e, block_type, offset, frame)?;
                if self.keep_container {
                    self.container.extend_from_slice(block);
                }
                match block_type {
                    SHB => {
                        self.seen_section = true;
                        self.sections += 1;
                        self.interfaces.clear();
                    }
                    IDB => {
                        let iface = parse_idb(body, e).map_err(|m| {
                            corrupt(m, offset, frame, "an interface description block")
                        })?;
                        if self.interface_names.len() < MAX_NAMED_INTERFACES {
                            self.interface_names.push(iface.name.clone());
                        }
                        self.interfaces.push(iface);
                    }
                    // Statistics, name resolution, decryption secrets, custom blocks: not packets.
                    _ => {}
                }
                continue;
            }
            let block = match input.take(total as usize) {
                Ok(Some(b)) => b,
                Ok(None) => return Ok(None),
                Err(err) => return Err(err.at(offset, frame, "the rest of the pcapng block")),
            };
            let body = block_body(block, e, block_type, offset, frame)?;
            let this: &'a Self = self;
            return this
                .packet(block_type, body, e, offset, frame)
                .map(|record| {
                    Some(Record {
                        raw: block,
                        container: &this.container,
                        ..record
                    })
                });
        }
    }

    fn packet<'a>(
        &'a self,
        block_type: u32,
        body: &'a [u8],
        e: Endian,
        offset: u64,
        frame: u64,
    ) -> Result<Record<'a>, CaptureError> {
        if matches!(block_type, CUSTOM | CUSTOM_NOCOPY) {
            // tshark 4.0 lists custom blocks as frames of their own; so do we, to keep frame
            // numbers identical. The record holds the block's data after the enterprise number.
            let data = body.get(4..).unwrap_or(&[]);
            return Ok(Record {
                ts_ns: None,
                ts_digits: 6,
                orig_len: data.len() as u32,
                data,
                link_type: crate::linktype::PCAPNG_CUSTOM_BLOCK,
                interface_id: 0,
                file_offset: offset,
                invalid_frac_ns: None,
                options: &[],
                options_big_endian: false,
                raw: &[],
                container: &[],
                interface_name: None,
                section: self.sections,
            });
        }
        if block_type == SPB {
            let Some(iface) = self.interfaces.first() else {
                return Err(corrupt(
                    "simple packet block before any interface description".into(),
                    offset,
                    frame,
                    "an interface description block first",
                ));
            };
            if body.len() < 4 {
                return Err(corrupt(
                    "simple packet block too short".into(),
                    offset,
                    frame,
                    "a 4-byte original length",
                ));
            }
            let origlen = e.u32(body, 0);
            let room = body.len() - 4;
            let mut caplen = (origlen as usize).min(room);
            if iface.snap_len != 0 {
                caplen = caplen.min(iface.snap_len as usize);
            }
            return Ok(Record {
                ts_ns: None,
                ts_digits: iface.ts_digits(),
                orig_len: origlen.max(caplen as u32),
                data: &body[4..4 + caplen],
                link_type: iface.link_type,
                interface_id: 0,
                file_offset: offset,
                invalid_frac_ns: None,
                options: &[],
                options_big_endian: false,
                raw: &[],
                container: &[],
                interface_name: self.interface_name(0),
                section: self.sections,
            });
        }
        if body.len() < 20 {
            return Err(corrupt(
                format!("packet block body is {} bytes", body.len()),
                offset,
                frame,
                "at least 20 bytes of packet block fields",
            ));
        }
        let (iface_id, ts_hi, ts_lo, caplen, origlen) = if block_type == EPB {
            (
                e.u32(body, 0),
                e.u32(body, 4),
                e.u32(body, 8),
                e.u32(body, 12),
                e.u32(body, 16),
            )
        } else {
            (
                e.u16(body, 0) as u32,
                e.u32(body, 4),
                e.u32(body, 8),
                e.u32(body, 12),
                e.u32(body, 16),
            )
        };
        let Some(iface) = self.interfaces.get(iface_id as usize) else {
            return Err(corrupt(
                format!(
                    "packet refers to interface {iface_id}, but only {} are declared",
                    self.interfaces.len()
                ),
                offset,
                frame,
                "a declared interface id",
            ));
        };
        if caplen as usize > body.len() - 20 {
            return Err(corrupt(
                format!(
                    "packet claims {caplen} captured bytes in a block with room for {}",
                    body.len() - 20
                ),
                offset,
                frame,
                "captured length within the block",
            ));
        }
        let ticks = ((ts_hi as u64) << 32) | ts_lo as u64;
        Ok(Record {
            ts_ns: Some(iface.to_ns(ticks)),
            ts_digits: iface.ts_digits(),
            orig_len: origlen,
            data: &body[20..20 + caplen as usize],
            link_type: iface.link_type,
            interface_id: iface_id,
            file_offset: offset,
            invalid_frac_ns: None,
            options: body
                .get(20 + (caplen as usize).next_multiple_of(4)..)
                .unwrap_or(&[]),
            options_big_endian: e.0,
            interface_name: self.interface_name(iface_id),
            section: self.sections,
            raw: &[],
            container: &[],
        })
    }
}

/// The body of a block after checking that its trailing length matches the leading one.
fn block_body(
    block: &[u8],
    e: Endian,
    block_type: u32,
    offset: u64,
    frame: u64,
) -> Result<&[u8], CaptureError> {
    let total = block.len();
    let trailer = e.u32(block, total - 4);
    if trailer as usize != total {
        return Err(corrupt(
            format!("block of type 0x{block_type:08x} starts with length {total} but ends with {trailer}"),
            offset,
            frame,
            "matching leading and trailing block lengths",
        ));
    }
    Ok(&block[8..total - 4])
}

fn parse_idb(body: &[u8], e: Endian) -> Result<Interface, String> {
    if body.len() < 8 {
        return Err(format!(
            "interface description body is {} bytes, need at least 8",
            body.len()
        ));
    }
    let mut iface = Interface {
        link_type: e.u16(body, 0) as u32,
        snap_len: e.u32(body, 4),
        ts_resolution: TsResolution::Decimal(6),
        ts_offset_s: 0,
        name: None,
    };
    let mut opts = &body[8..];
    while opts.len() >= 4 {
        let code = e.u16(opts, 0);
        let len = e.u16(opts, 2) as usize;
        if code == 0 {
            break;
        }
        let padded = len.div_ceil(4) * 4;
        if 4 + len > opts.len() {
            return Err(format!(
                "option {code} claims {len} bytes, {} left",
                opts.len() - 4
            ));
        }
        let value = &opts[4..4 + len];
        match code {
            2 => iface.name = Some(String::from_utf8_lossy(value).into_owned()),
            9 if len == 1 => {
                let v = value[0];
                iface.ts_resolution = if v & 0x80 != 0 {
                    TsResolution::Binary(v & 0x7f)
                } else {
                    TsResolution::Decimal(v)
                };
            }
            14 if len == 8 => {
                let raw = [
                    value[0], value[1], value[2], value[3], value[4], value[5], value[6], value[7],
                ];
                iface.ts_offset_s = if e.0 {
                    i64::from_be_bytes(raw)
                } else {
                    i64::from_le_bytes(raw)
                };
            }
            _ => {}
        }
        opts = &opts[(4 + padded).min(opts.len())..];
    }
    Ok(iface)
}
