//! The UDP subtree.

use super::tree::{bytes_word, Item, Secs, Show, Tree};
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
    let at = (bytes.as_ptr() as usize).wrapping_sub(f.data().as_ptr() as usize);
    // A datagram reassembled from IP fragments is a second data source the nodes do not
    // carry: its UDP layer is left out of PDML/EK.
    if f.reassembled.is_some() {
        t.give_up("udp");
    }
    t.item(
        0,
        Item::proto("udp", at, 8),
        format_args!("User Datagram Protocol, Src Port: {sport}, Dst Port: {dport}"),
    );
    t.item(
        1,
        Item::num("udp.srcport", at, 2, sport.into()),
        format_args!("Source Port: {sport}"),
    );
    t.item(
        1,
        Item::num("udp.dstport", at + 2, 2, dport.into()),
        format_args!("Destination Port: {dport}"),
    );
    t.hidden(
        1,
        Item::num("udp.port", at, 2, sport.into()),
        format_args!("Source or Destination Port: {sport}"),
    );
    t.hidden(
        1,
        Item::num("udp.port", at + 2, 2, dport.into()),
        format_args!("Source or Destination Port: {dport}"),
    );
    t.item(
        1,
        Item::num("udp.length", at + 4, 2, h.length().into()),
        format_args!("Length: {}", h.length()),
    );
    if f.udp_checksum_illegal() {
        // tshark's expert item here is not recorded field by field yet.
        t.give_up("udp");
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
        t.item(
            1,
            Item::field(
                "udp.checksum",
                at + 6,
                2,
                Show::Args(format_args!("0x{:04x}", h.checksum())),
            ),
            format_args!("Checksum: 0x{:04x} [unverified]", h.checksum()),
        );
        t.item(
            1,
            Item::num("udp.checksum.status", at + 6, 0, 2),
            format_args!("[Checksum Status: Unverified]"),
        );
    }
    t.item(
        1,
        Item::num("udp.stream", at + 8, 0, stream.into()),
        format_args!("[Stream index: {stream}]"),
    );
    t.item(1, Item::label(at, 0), format_args!("[Timestamps]"));
    t.item(
        2,
        Item::field(
            "udp.time_relative",
            at,
            0,
            Show::Args(format_args!("{}", Secs(f.ts_ns - first))),
        ),
        format_args!(
            "[Time since first frame: {} seconds]",
            Secs(f.ts_ns - first)
        ),
    );
    t.item(
        2,
        Item::field(
            "udp.time_delta",
            at,
            0,
            Show::Args(format_args!("{}", Secs(f.ts_ns - prev))),
        ),
        format_args!(
            "[Time since previous frame: {} seconds]",
            Secs(f.ts_ns - prev)
        ),
    );
    let payload = (h.length() as usize).saturating_sub(8);
    let shown = bytes
        .get(8..)
        .map_or(&[][..], |b| &b[..payload.min(b.len())]);
    let show = if t.recording() {
        super::link::colon_bytes(shown)
    } else {
        String::new()
    };
    t.item(
        1,
        Item::field("udp.payload", at + 8, shown.len(), Show::Str(&show)),
        format_args!("UDP payload ({payload} {})", bytes_word(payload)),
    );
}
