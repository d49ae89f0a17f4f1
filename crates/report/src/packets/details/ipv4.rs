//! The IPv4 subtree.

use super::tree::{set, Bits, Item, Show, Tree};
use keepsight_engine::wire::Network;
use keepsight_engine::Frame;
use keepsight_fields::{ids, value_text};

/// An IPv4 address in dotted decimal, written in one piece.
struct Ipv4Addr([u8; 4]);

impl From<[u8; 4]> for Ipv4Addr {
    fn from(a: [u8; 4]) -> Self {
        Ipv4Addr(a)
    }
}

impl std::fmt::Display for Ipv4Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut buf = [0u8; 15];
        let mut n = 0;
        for (i, &b) in self.0.iter().enumerate() {
            if i > 0 {
                buf[n] = b'.';
                n += 1;
            }
            if b >= 100 {
                buf[n] = b'0' + b / 100;
                n += 1;
            }
            if b >= 10 {
                buf[n] = b'0' + (b / 10) % 10;
                n += 1;
            }
            buf[n] = b'0' + b % 10;
            n += 1;
        }
        f.write_str(std::str::from_utf8(&buf[..n]).unwrap_or_default())
    }
}

/// DSCP code points: tshark's short name (in the field's summary) and long name.
pub(crate) fn dscp(v: u8) -> (&'static str, &'static str) {
    match v {
        0 => ("CS0", "Default"),
        8 => ("CS1", "Class Selector 1"),
        10 => ("AF11", "Assured Forwarding 11"),
        12 => ("AF12", "Assured Forwarding 12"),
        14 => ("AF13", "Assured Forwarding 13"),
        16 => ("CS2", "Class Selector 2"),
        18 => ("AF21", "Assured Forwarding 21"),
        20 => ("AF22", "Assured Forwarding 22"),
        22 => ("AF23", "Assured Forwarding 23"),
        24 => ("CS3", "Class Selector 3"),
        26 => ("AF31", "Assured Forwarding 31"),
        28 => ("AF32", "Assured Forwarding 32"),
        30 => ("AF33", "Assured Forwarding 33"),
        32 => ("CS4", "Class Selector 4"),
        34 => ("AF41", "Assured Forwarding 41"),
        36 => ("AF42", "Assured Forwarding 42"),
        38 => ("AF43", "Assured Forwarding 43"),
        40 => ("CS5", "Class Selector 5"),
        44 => ("VA", "Voice Admit"),
        46 => ("EF", "Expedited Forwarding"),
        48 => ("CS6", "Class Selector 6"),
        56 => ("CS7", "Class Selector 7"),
        _ => ("Unknown", "Unknown"),
    }
}

/// ECN code points: short and long names.
pub(crate) fn ecn(v: u8) -> (&'static str, &'static str) {
    match v & 3 {
        0 => ("Not-ECT", "Not ECN-Capable Transport"),
        1 => ("ECT(1)", "ECN-Capable Transport codepoint '01'"),
        2 => ("ECT(0)", "ECN-Capable Transport codepoint '10'"),
        _ => ("CE", "Congestion Experienced"),
    }
}

/// `Protocol: TCP (6)`.
pub(crate) fn proto_name(p: u8) -> &'static str {
    value_text(ids::IP_PROTO, p as u64).unwrap_or("Unknown")
}

pub(super) fn render(f: &Frame<'_>, t: &mut Tree<'_>) {
    if !matches!(f.dissection.network, Network::Ipv4 { .. }) {
        return;
    }
    let Some(h) = f.dissection.ipv4(f.data()) else {
        return;
    };
    let b = h.bytes();
    // Where the header starts in the frame, for the positions PDML gives.
    let at = (b.as_ptr() as usize).wrapping_sub(f.data().as_ptr() as usize);
    let (src, dst) = (Ipv4Addr::from(h.src()), Ipv4Addr::from(h.dst()));
    t.item(
        0,
        Item::proto("ip", at, h.header_len()),
        format_args!("Internet Protocol Version 4, Src: {src}, Dst: {dst}"),
    );
    let fixed = !t.recording();
    if b[0] == 0x45 && fixed {
        // The usual header, without options: fixed lines.
        t.text(1, "0100 .... = Version: 4");
        t.text(1, ".... 0101 = Header Length: 20 bytes (5)");
    } else {
        version_lines(t, at, b[0], h.header_len());
    }
    let ds = h.dscp_ecn();
    if ds == 0 && fixed {
        t.text(
            1,
            "Differentiated Services Field: 0x00 (DSCP: CS0, ECN: Not-ECT)",
        );
        t.text(
            2,
            "0000 00.. = Differentiated Services Codepoint: Default (0)",
        );
        t.text(
            2,
            ".... ..00 = Explicit Congestion Notification: Not ECN-Capable Transport (0)",
        );
    } else {
        ds_lines(t, at + 1, ds);
    }
    if fixed {
        t.num(1, "Total Length: ", h.total_len().into(), "");
    } else {
        t.item(
            1,
            Item::num("ip.len", at + 2, 2, h.total_len().into()),
            format_args!("Total Length: {}", h.total_len()),
        );
    }
    t.item(
        1,
        Item::field(
            "ip.id",
            at + 4,
            2,
            Show::Args(format_args!("0x{:04x}", h.ident())),
        ),
        format_args!("Identification: 0x{:04x} ({})", h.ident(), h.ident()),
    );
    let fo = u16::from_be_bytes([b[6], b[7]]);
    if fo == 0x4000 && fixed {
        // Don't fragment, offset 0: the commonest case, fixed lines.
        t.text(1, "010. .... = Flags: 0x2, Don't fragment");
        t.text(2, "0... .... = Reserved bit: Not set");
        t.text(2, ".1.. .... = Don't fragment: Set");
        t.text(2, "..0. .... = More fragments: Not set");
        t.text(1, "...0 0000 0000 0000 = Fragment Offset: 0");
    } else {
        flag_lines(t, at + 6, b[6], fo as u64);
    }
    if fixed {
        t.num(1, "Time to Live: ", h.ttl().into(), "");
    } else {
        t.item(
            1,
            Item::num("ip.ttl", at + 8, 1, h.ttl().into()),
            format_args!("Time to Live: {}", h.ttl()),
        );
    }
    t.item(
        1,
        Item::num("ip.proto", at + 9, 1, h.protocol().into()),
        format_args!("Protocol: {} ({})", proto_name(h.protocol()), h.protocol()),
    );
    t.item(
        1,
        Item::field(
            "ip.checksum",
            at + 10,
            2,
            Show::Args(format_args!("0x{:04x}", h.checksum())),
        ),
        format_args!(
            "Header Checksum: 0x{:04x} [validation disabled]",
            h.checksum()
        ),
    );
    t.item(
        1,
        Item::num("ip.checksum.status", at + 10, 0, 2),
        format_args!("[Header checksum status: Unverified]"),
    );
    address(t, at + 12, &src, ["ip.src", "ip.src_host"], "Source");
    address(t, at + 16, &dst, ["ip.dst", "ip.dst_host"], "Destination");
    fragments(f, t, "IPv4");
}

/// An address line and the hidden fields tshark adds after it (`ip.addr`, `ip.*_host`,
/// `ip.host`).
fn address(t: &mut Tree<'_>, pos: usize, a: &Ipv4Addr, names: [&'static str; 2], role: &str) {
    let text = if t.recording() {
        a.to_string()
    } else {
        String::new()
    };
    t.item(
        1,
        Item::field(names[0], pos, 4, Show::Str(&text)),
        format_args!("{role} Address: {a}"),
    );
    t.hidden(
        1,
        Item::field("ip.addr", pos, 4, Show::Str(&text)),
        format_args!("Source or Destination Address: {a}"),
    );
    t.hidden(
        1,
        Item::field(names[1], pos, 4, Show::Str(&text)),
        format_args!("{role} Host: {a}"),
    );
    t.hidden(
        1,
        Item::field("ip.host", pos, 4, Show::Str(&text)),
        format_args!("Source or Destination Host: {a}"),
    );
}

/// The reassembly summary on the frame that completes a datagram. Pieces that overlap are
/// listed differently by tshark; keepsight prints the summary only when none do.
pub(crate) fn fragments(f: &Frame<'_>, t: &mut Tree<'_>, version: &str) {
    let Some(r) = f.reassembled else {
        return;
    };
    if t.recording() {
        // The fragments' fields point into the reassembled datagram, a second data source
        // the nodes do not carry yet: the layer is left out of PDML/EK for this frame.
        t.give_up(if version == "IPv4" { "ip" } else { "ipv6" });
        return;
    }
    if r.overlaps > 0 || !t.open {
        return;
    }
    use std::fmt::Write as _;
    let total = r.data.len();
    let _ = write!(
        t.out,
        "    [{} {version} Fragments ({total} bytes): ",
        r.frames.len()
    );
    for (i, (frame, (_, len))) in r.frames.iter().zip(r.spans).enumerate() {
        if i > 0 {
            t.out.push_str(", ");
        }
        let _ = write!(t.out, "#{frame}({len})");
    }
    t.out.push_str("]\n");
    for (frame, &(off, len)) in r.frames.iter().zip(r.spans) {
        t.line(
            2,
            format_args!(
                "[Frame: {frame}, payload: {off}-{} ({len} {})]",
                (off + len).saturating_sub(1),
                super::tree::bytes_word(len as usize)
            ),
        );
    }
    t.line(2, format_args!("[Fragment count: {}]", r.count));
    t.line(2, format_args!("[Reassembled {version} length: {total}]"));
    t.line(
        2,
        format_args!("[Reassembled {version} data: {}]", super::link::Hex(r.data)),
    );
}

fn version_lines(t: &mut Tree<'_>, at: usize, b0: u8, header_len: usize) {
    let vhl = b0 as u64;
    t.item(
        1,
        Item::num("ip.version", at, 1, (b0 >> 4).into()),
        format_args!(
            "{} = Version: {}",
            Bits {
                width: 8,
                mask: 0xf0,
                value: vhl
            },
            b0 >> 4
        ),
    );
    t.item(
        1,
        Item::num("ip.hdr_len", at, 1, header_len as u64),
        format_args!(
            "{} = Header Length: {header_len} bytes ({})",
            Bits {
                width: 8,
                mask: 0x0f,
                value: vhl
            },
            b0 & 0xf
        ),
    );
}

fn ds_lines(t: &mut Tree<'_>, at: usize, ds: u8) {
    let (d, e) = (dscp(ds >> 2), ecn(ds));
    t.item(
        1,
        Item::field("ip.dsfield", at, 1, Show::Args(format_args!("0x{ds:02x}"))),
        format_args!(
            "Differentiated Services Field: 0x{ds:02x} (DSCP: {}, ECN: {})",
            d.0, e.0
        ),
    );
    t.item(
        2,
        Item::num("ip.dsfield.dscp", at, 1, (ds >> 2).into()).bits((ds >> 2).into()),
        format_args!(
            "{} = Differentiated Services Codepoint: {} ({})",
            Bits {
                width: 8,
                mask: 0xfc,
                value: ds as u64
            },
            d.1,
            ds >> 2
        ),
    );
    t.item(
        2,
        Item::num("ip.dsfield.ecn", at, 1, (ds & 3).into()).bits((ds & 3).into()),
        format_args!(
            "{} = Explicit Congestion Notification: {} ({})",
            Bits {
                width: 8,
                mask: 0x03,
                value: ds as u64
            },
            e.1,
            ds & 3
        ),
    );
}

fn flag_lines(t: &mut Tree<'_>, at: usize, byte6: u8, fo: u64) {
    let fl = byte6 as u64;
    let flags = byte6 >> 5;
    let names = match flags & 3 {
        2 => ", Don't fragment",
        1 => ", More fragments",
        3 => ", Don't fragment, More fragments",
        _ => "",
    };
    let reserved = if flags & 4 != 0 { ", Reserved" } else { "" };
    t.item(
        1,
        Item::field("ip.flags", at, 1, Show::Args(format_args!("0x{flags:02x}")))
            .bits(flags.into()),
        format_args!(
            "{} = Flags: 0x{flags:x}{reserved}{names}",
            Bits {
                width: 8,
                mask: 0xe0,
                value: fl
            }
        ),
    );
    t.item(
        2,
        Item::flag("ip.flags.rb", at, 1, flags & 4 != 0).bits((flags & 4 != 0).into()),
        format_args!(
            "{} = Reserved bit: {}",
            Bits {
                width: 8,
                mask: 0x80,
                value: fl
            },
            set(flags & 4 != 0)
        ),
    );
    t.item(
        2,
        Item::flag("ip.flags.df", at, 1, flags & 2 != 0).bits((flags & 2 != 0).into()),
        format_args!(
            "{} = Don't fragment: {}",
            Bits {
                width: 8,
                mask: 0x40,
                value: fl
            },
            set(flags & 2 != 0)
        ),
    );
    t.item(
        2,
        Item::flag("ip.flags.mf", at, 1, flags & 1 != 0).bits((flags & 1 != 0).into()),
        format_args!(
            "{} = More fragments: {}",
            Bits {
                width: 8,
                mask: 0x20,
                value: fl
            },
            set(flags & 1 != 0)
        ),
    );
    t.item(
        1,
        Item::num("ip.frag_offset", at, 2, fo & 0x1fff).bits(fo & 0x1fff),
        format_args!(
            "{} = Fragment Offset: {}",
            Bits {
                width: 16,
                mask: 0x1fff,
                value: fo
            },
            (fo & 0x1fff) * 8
        ),
    );
}
