//! The UDP subtree.

use super::tree::{bytes_word, Secs, Tree};
use keepsight_engine::Frame;
use std::collections::HashMap;

/// Per UDP stream: the time of its first and of its latest frame, for [Timestamps].
#[derive(Default, Clone, Debug)]
pub(crate) struct UdpTimes(HashMap<u32, (i64, i64)>);

pub(super) fn render(f: &Frame<'_>, t: &mut Tree<'_>, times: &mut UdpTimes) {
    let (Some(bytes), Some(stream)) = (f.udp_bytes(), f.udp_stream) else {
        return;
    };
    let Some(h) = keepsight_engine::wire::UdpHeader::new(bytes) else {
        return;
    };
    let (sport, dport) = (h.src_port(), h.dst_port());
    let entry = times.0.entry(stream).or_insert((f.ts_ns, f.ts_ns));
    let (first, prev) = *entry;
    entry.1 = f.ts_ns;
    t.line(
        0,
        format_args!("User Datagram Protocol, Src Port: {sport}, Dst Port: {dport}"),
    );
    t.line(1, format_args!("Source Port: {sport}"));
    t.line(1, format_args!("Destination Port: {dport}"));
    t.line(1, format_args!("Length: {}", h.length()));
    if f.udp_checksum_illegal() {
        // RFC 8200 §8.1: UDP over IPv6 must carry a checksum.
        t.text(1, "Checksum: 0x0000 [zero-value illegal]");
        super::tree::expert(
            t,
            2,
            "Error",
            "Checksum",
            format_args!("Illegal checksum value (0)"),
        );
        t.text(2, "[Checksum Status: Illegal]");
    } else {
        t.line(
            1,
            format_args!("Checksum: 0x{:04x} [unverified]", h.checksum()),
        );
        t.text(1, "[Checksum Status: Unverified]");
    }
    t.line(1, format_args!("[Stream index: {stream}]"));
    t.line(1, format_args!("[Timestamps]"));
    t.line(
        2,
        format_args!(
            "[Time since first frame: {} seconds]",
            Secs(f.ts_ns - first)
        ),
    );
    t.line(
        2,
        format_args!(
            "[Time since previous frame: {} seconds]",
            Secs(f.ts_ns - prev)
        ),
    );
    let payload = (h.length() as usize).saturating_sub(8);
    t.line(
        1,
        format_args!("UDP payload ({payload} {})", bytes_word(payload)),
    );
}
