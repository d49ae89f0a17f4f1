//! tshark's `-x`: each data source of a frame as offset, hex and ASCII columns, 16 bytes a
//! line, exactly as tshark 4.0.17 prints it (`print_hex_data`).

use keepsight_engine::Frame;

/// Appends `frame`'s hex dump to `out`: the captured bytes, and when the frame completes a
/// fragmented IP datagram the reassembled payload as a second source. With more than one
/// source, tshark titles each ("Frame (90 bytes):").
pub fn hex_dump(frame: &Frame<'_>, out: &mut String) {
    let data = frame.record.data;
    let Some(reassembled) = frame.reassembled else {
        dump(data, out);
        return;
    };
    let version = if frame.dissection.ipv6(data).is_some() {
        "IPv6"
    } else {
        "IPv4"
    };
    for (title, bytes) in [
        ("Frame", data),
        (
            if version == "IPv6" {
                "Reassembled IPv6"
            } else {
                "Reassembled IPv4"
            },
            reassembled.data,
        ),
    ] {
        out.push_str(title);
        out.push_str(&format!(" ({} bytes):\n", bytes.len()));
        dump(bytes, out);
    }
}

/// One source: `OFFSET  hh hh … hh   ascii`, the offset as wide as the largest one needs
/// (at least 4 hex digits), unprintable bytes shown as `.`.
pub(crate) fn dump(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let last = bytes.len().saturating_sub(1) as u32;
    let digits = (8 - (last.leading_zeros() / 4) as usize).max(4);
    for (line, chunk) in bytes.chunks(16).enumerate() {
        let offset = line * 16;
        for d in (0..digits).rev() {
            out.push(HEX[(offset >> (d * 4)) & 0xf] as char);
        }
        out.push_str("  ");
        for b in chunk {
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
            out.push(' ');
        }
        for _ in chunk.len()..16 {
            out.push_str("   ");
        }
        out.push_str("  ");
        for &b in chunk {
            out.push(if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            });
        }
        out.push('\n');
    }
}
