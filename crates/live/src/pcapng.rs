//! The few pcapng blocks live packets are written as: one section header, an interface
//! description per interface (nanosecond time stamps) and an enhanced packet block per packet.
//! The engine reads them as it reads any pcapng (`keepsight watch`, `keepsight packets -i`), and
//! a watch's evidence files are the same bytes.

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const EPB: u32 = 6;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_TSRESOL: u16 = 9;

fn pad4(n: usize) -> usize {
    n.next_multiple_of(4)
}

fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + pad4(value.len()) - value.len(), 0);
}

/// Closes a block begun at `start` with a placeholder length: writes the total length at both
/// ends.
fn close_block(out: &mut Vec<u8>, start: usize) {
    let total = (out.len() - start + 4) as u32;
    out.extend_from_slice(&total.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&total.to_le_bytes());
}

/// A little-endian section header of unknown length.
pub fn section_header(out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&SHB.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(-1i64).to_le_bytes());
    close_block(out, start);
}

/// An interface with nanosecond time stamps.
pub fn interface(out: &mut Vec<u8>, link_type: u32, snap_len: u32, name: &str) {
    let start = out.len();
    out.extend_from_slice(&IDB.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(link_type as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&snap_len.to_le_bytes());
    if !name.is_empty() && name.len() < 256 {
        option(out, OPT_IF_NAME, name.as_bytes());
    }
    option(out, OPT_IF_TSRESOL, &[9]);
    option(out, 0, &[]);
    close_block(out, start);
}

/// One packet on interface `interface` (its index in the order the interfaces were written).
pub fn packet(out: &mut Vec<u8>, interface: u32, ts_ns: i64, orig_len: u32, data: &[u8]) {
    let start = out.len();
    let ticks = ts_ns.max(0) as u64;
    out.extend_from_slice(&EPB.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&interface.to_le_bytes());
    out.extend_from_slice(&((ticks >> 32) as u32).to_le_bytes());
    out.extend_from_slice(&(ticks as u32).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&orig_len.max(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    out.resize(out.len() + pad4(data.len()) - data.len(), 0);
    close_block(out, start);
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepsight_capture::CaptureReader;

    /// The capture reader (the one every command uses) reads back what was written.
    #[test]
    fn blocks_read_back_as_written() {
        let mut out = Vec::new();
        section_header(&mut out);
        interface(&mut out, 1, 65535, "veth0");
        interface(&mut out, 113, 262144, "any");
        packet(&mut out, 1, 1_700_000_000_123_456_789, 60, &[0xab; 42]);
        packet(&mut out, 0, 1_700_000_001_000_000_001, 3, &[1, 2, 3]);
        let mut r = CaptureReader::from_bytes(out).unwrap();
        let a = r.next_record().unwrap().unwrap();
        assert_eq!(
            (
                a.ts_ns,
                a.link_type,
                a.orig_len,
                a.data.len(),
                a.interface_id,
                a.ts_digits
            ),
            (Some(1_700_000_000_123_456_789), 113, 60, 42, 1, 9)
        );
        assert_eq!(a.interface_name, Some("any"));
        let b = r.next_record().unwrap().unwrap();
        assert_eq!(
            (b.ts_ns, b.link_type, b.data),
            (Some(1_700_000_001_000_000_001), 1, &[1, 2, 3][..])
        );
        assert!(r.next_record().unwrap().is_none());
    }
}
