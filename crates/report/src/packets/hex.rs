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
        titled_dump(title, bytes, out);
    }
}

/// One of several sources: `TITLE (N bytes):`, then its dump.
pub(crate) fn titled_dump(title: &str, bytes: &[u8], out: &mut String) {
    out.push_str(title);
    out.push_str(" (");
    out.push_str(itoa::Buffer::new().format(bytes.len()));
    out.push_str(" bytes):\n");
    dump(bytes, out);
}

/// One source: `OFFSET  hh hh … hh   ascii`, the offset as wide as the largest one needs
/// (at least 4 hex digits), unprintable bytes shown as `.`.
pub(crate) fn dump(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let last = bytes.len().saturating_sub(1) as u32;
    let digits = (8 - (last.leading_zeros() / 4) as usize).max(4);
    // Each line is built in a stack buffer and appended once: offset, two spaces, 16 × "hh ",
    // two spaces, 16 characters, newline.
    let mut line = [b' '; 8 + 2 + 48 + 2 + 16 + 1];
    for (n, chunk) in bytes.chunks(16).enumerate() {
        let offset = n * 16;
        for (i, d) in (0..digits).rev().enumerate() {
            line[i] = HEX[(offset >> (d * 4)) & 0xf];
        }
        let hex = digits + 2;
        line[digits..hex].fill(b' ');
        line[hex..hex + 48].fill(b' ');
        for (i, &b) in chunk.iter().enumerate() {
            line[hex + 3 * i] = HEX[(b >> 4) as usize];
            line[hex + 3 * i + 1] = HEX[(b & 0xf) as usize];
        }
        let ascii = hex + 48 + 2;
        line[hex + 48..ascii].fill(b' ');
        for (i, &b) in chunk.iter().enumerate() {
            line[ascii + i] = if (0x20..0x7f).contains(&b) { b } else { b'.' };
        }
        let end = ascii + chunk.len();
        line[end] = b'\n';
        // SAFETY: `line` holds only ASCII (hex digits, spaces, printable ASCII, '.', '\n'), so
        // appending it keeps `out` valid UTF-8.
        unsafe { out.as_mut_vec() }.extend_from_slice(&line[..=end]);
    }
}
