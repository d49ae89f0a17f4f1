//! The IPv6 subtree with the extension headers keepsight walks (hop-by-hop and destination
//! options, fragment).

use super::ipv4::{dscp, ecn, proto_name};
use super::link::Hex;
use super::tree::{Bits, Item, Show, Tree};
use keepsight_engine::wire::Network;
use keepsight_engine::Frame;
use std::net::Ipv6Addr;

pub(super) fn render(f: &Frame<'_>, t: &mut Tree<'_>) {
    let Network::Ipv6 {
        offset, header_len, ..
    } = f.dissection.network
    else {
        return;
    };
    let Some(h) = f.dissection.ipv6(f.data()) else {
        return;
    };
    let b = h.bytes();
    let at = offset as usize;
    let (src, dst) = (Ipv6Addr::from(h.src()), Ipv6Addr::from(h.dst()));
    t.item(
        0,
        Item::proto("ipv6", at, header_len as usize),
        format_args!("Internet Protocol Version 6, Src: {src}, Dst: {dst}"),
    );
    let word = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64;
    let version = Bits {
        width: 8,
        mask: 0xf0,
        value: word >> 24,
    };
    t.item(
        1,
        Item::num("ipv6.version", at, 1, (b[0] >> 4).into()),
        format_args!("{version} = Version: {}", b[0] >> 4),
    );
    t.hidden(
        1,
        Item::num("ip.version", at, 1, (b[0] >> 4).into()).bits((b[0] >> 4).into()),
        format_args!(
            "{version} = Version: {} [This field makes the filter match on \"ip.version == 6\" possible]",
            b[0] >> 4
        ),
    );
    let tc = h.traffic_class();
    let (d, e) = (dscp(tc >> 2), ecn(tc));
    t.item(
        1,
        Item::field("ipv6.tclass", at, 4, Show::Args(format_args!("0x{tc:08x}"))).bits(tc.into()),
        format_args!(
            "{} = Traffic Class: 0x{tc:02x} (DSCP: {}, ECN: {})",
            Bits {
                width: 32,
                mask: 0x0ff0_0000,
                value: word
            },
            d.0,
            e.0
        ),
    );
    t.item(
        2,
        Item::num("ipv6.tclass.dscp", at, 4, (tc >> 2).into()).bits((tc >> 2).into()),
        format_args!(
            "{} = Differentiated Services Codepoint: {} ({})",
            Bits {
                width: 32,
                mask: 0x0fc0_0000,
                value: word
            },
            d.1,
            tc >> 2
        ),
    );
    t.item(
        2,
        Item::num("ipv6.tclass.ecn", at, 4, (tc & 3).into()).bits((tc & 3).into()),
        format_args!(
            "{} = Explicit Congestion Notification: {} ({})",
            Bits {
                width: 32,
                mask: 0x0030_0000,
                value: word
            },
            e.1,
            tc & 3
        ),
    );
    let flow = h.flow_label();
    t.item(
        1,
        Item::field(
            "ipv6.flow",
            at + 1,
            3,
            Show::Args(format_args!("0x{flow:06x}")),
        )
        .bits(flow.into()),
        format_args!(
            "{} = Flow Label: 0x{flow:05x}",
            Bits {
                width: 24,
                mask: 0x0f_ffff,
                value: word & 0xff_ffff
            },
        ),
    );
    t.item(
        1,
        Item::num("ipv6.plen", at + 4, 2, h.payload_len().into()),
        format_args!("Payload Length: {}", h.payload_len()),
    );
    t.item(
        1,
        Item::num("ipv6.nxt", at + 6, 1, h.next_header().into()),
        format_args!(
            "Next Header: {} ({})",
            proto_name(h.next_header()),
            h.next_header()
        ),
    );
    t.item(
        1,
        Item::num("ipv6.hlim", at + 7, 1, h.hop_limit().into()),
        format_args!("Hop Limit: {}", h.hop_limit()),
    );
    for (pos, addr, which, host) in [
        (at + 8, src, "Source", "ipv6.src_host"),
        (at + 24, dst, "Destination", "ipv6.dst_host"),
    ] {
        let name = if pos == at + 8 {
            "ipv6.src"
        } else {
            "ipv6.dst"
        };
        let show = Show::Args(format_args!("{addr}"));
        t.item(
            1,
            Item::field(name, pos, 16, show),
            format_args!("{which} Address: {addr}"),
        );
        t.hidden(
            1,
            Item::field("ipv6.addr", pos, 16, Show::Args(format_args!("{addr}"))),
            format_args!("Source or Destination Address: {addr}"),
        );
        t.hidden(
            1,
            Item::field(host, pos, 16, Show::Args(format_args!("{addr}"))),
            format_args!("{which} Host: {addr}"),
        );
        t.hidden(
            1,
            Item::field("ipv6.host", pos, 16, Show::Args(format_args!("{addr}"))),
            format_args!("Source or Destination Host: {addr}"),
        );
    }
    let data = f.data();
    let (start, end) = (offset as usize + 40, offset as usize + header_len as usize);
    let Some(mut ext) = data.get(start..end.min(data.len())) else {
        return;
    };
    let mut next = h.next_header();
    if !ext.is_empty() {
        // Extension headers are not recorded field by field yet.
        t.give_up("ipv6");
    }
    extensions(t, &mut ext, &mut next);
    super::ipv4::fragments(f, t, "IPv6");
}

fn extensions(t: &mut Tree<'_>, ext: &mut &[u8], next: &mut u8) {
    while ext.len() >= 8 {
        let nh = ext[0];
        let e: &[u8] = ext;
        match *next {
            0 | 60 => {
                let len = (ext[1] as usize + 1) * 8;
                let Some(hdr) = e.get(..len) else {
                    return;
                };
                t.line(
                    1,
                    format_args!(
                        "{}",
                        if *next == 0 {
                            "IPv6 Hop-by-Hop Option"
                        } else {
                            "Destination Options for IPv6"
                        }
                    ),
                );
                t.line(2, format_args!("Next Header: {} ({nh})", proto_name(nh)));
                t.line(2, format_args!("Length: {}", e[1]));
                t.line(2, format_args!("[Length: {len} bytes]"));
                options(t, &hdr[2..]);
                *ext = &e[len..];
            }
            44 => {
                let fo = u16::from_be_bytes([e[2], e[3]]) as u64;
                t.line(1, format_args!("Fragment Header for IPv6"));
                t.line(2, format_args!("Next header: {} ({nh})", proto_name(nh)));
                t.line(2, format_args!("Reserved octet: 0x{:02x}", e[1]));
                t.line(
                    2,
                    format_args!(
                        "{} = Offset: {} ({} bytes)",
                        Bits {
                            width: 16,
                            mask: 0xfff8,
                            value: fo
                        },
                        fo >> 3,
                        (fo >> 3) * 8
                    ),
                );
                t.line(
                    2,
                    format_args!(
                        "{} = Reserved bits: {}",
                        Bits {
                            width: 16,
                            mask: 0x0006,
                            value: fo
                        },
                        (fo >> 1) & 3
                    ),
                );
                t.line(
                    2,
                    format_args!(
                        "{} = More Fragments: {}",
                        Bits {
                            width: 16,
                            mask: 0x0001,
                            value: fo
                        },
                        if fo & 1 == 1 { "Yes" } else { "No" }
                    ),
                );
                t.line(
                    2,
                    format_args!(
                        "Identification: 0x{:08x}",
                        u32::from_be_bytes([e[4], e[5], e[6], e[7]])
                    ),
                );
                *ext = &e[8..];
            }
            _ => return,
        }
        *next = nh;
    }
}

/// The TLV options of a hop-by-hop or destination options header.
fn options(t: &mut Tree<'_>, mut opts: &[u8]) {
    while let Some(&kind) = opts.first() {
        let (name, len) = match kind {
            0 => ("Pad1", 0),
            1 => ("PadN", *opts.get(1).unwrap_or(&0) as usize),
            5 => ("Router Alert", *opts.get(1).unwrap_or(&0) as usize),
            _ => return,
        };
        let k = kind as u64;
        t.line(2, format_args!("{name}"));
        t.line(3, format_args!("Type: {name} (0x{kind:02x})"));
        t.line(
            4,
            format_args!(
                "{} = Action: Skip and continue ({})",
                Bits {
                    width: 8,
                    mask: 0xc0,
                    value: k
                },
                kind >> 6
            ),
        );
        t.line(
            4,
            format_args!(
                "{} = May Change: {}",
                Bits {
                    width: 8,
                    mask: 0x20,
                    value: k
                },
                if kind & 0x20 != 0 { "Yes" } else { "No" }
            ),
        );
        t.line(
            4,
            format_args!(
                "{} = Low-Order Bits: 0x{:02x}",
                Bits {
                    width: 8,
                    mask: 0x1f,
                    value: k
                },
                kind & 0x1f
            ),
        );
        if kind == 0 {
            opts = &opts[1..];
            continue;
        }
        let Some(value) = opts.get(2..2 + len) else {
            return;
        };
        t.line(3, format_args!("Length: {len}"));
        match kind {
            5 if len == 2 => {
                let v = u16::from_be_bytes([value[0], value[1]]);
                let what = match v {
                    0 => "MLD",
                    1 => "RSVP",
                    2 => "Active Networks",
                    _ => "Unknown",
                };
                t.line(3, format_args!("Router Alert: {what} ({v})"));
            }
            _ if value.is_empty() => t.line(3, format_args!("{name}: <none>")),
            _ => t.line(3, format_args!("{name}: {}", Hex(value))),
        }
        opts = &opts[2 + len..];
    }
}
