//! The link layers: Ethernet II with its 802.1Q/802.1ad tags, Linux cooked capture v1 and v2,
//! BSD/OpenBSD loopback and raw IP.

use super::layer::Layer;
use super::tree::{Bits, Item, Show, Tree};
use keepsight_engine::wire::Link;
use keepsight_engine::Frame;
use keepsight_fields::{ids, value_text, Packet, Value};
use std::fmt;
use std::fmt::Write as _;

/// A MAC address as tshark names it: `Broadcast`, multicast groups and the vendor prefixes
/// that the corpus meets (from Wireshark's `wka` and `manuf` tables), then the address in
/// parentheses. An address whose vendor keepsight does not know prints bare, as tshark prints
/// a locally administered one; a globally administered address from a vendor outside this
/// table would be named by tshark and is not here (documented in the test).
pub(crate) struct Mac(pub [u8; 6]);

impl Mac {
    /// Appends `aa:bb:...` for bytes `from..` to a stack buffer; returns the new length.
    fn hex(&self, from: usize, buf: &mut [u8; 64], mut n: usize) -> usize {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, b) in self.0[from..].iter().enumerate() {
            if i > 0 {
                buf[n] = b':';
                n += 1;
            }
            buf[n] = HEX[(b >> 4) as usize];
            buf[n + 1] = HEX[(b & 0xf) as usize];
            n += 2;
        }
        n
    }

    /// The name part, e.g. `RealtekU_20:00:10`, written into `buf`; returns its length.
    fn name(&self, buf: &mut [u8; 64]) -> usize {
        let m = self.0;
        let prefix = |buf: &mut [u8; 64], p: &str| {
            buf[..p.len()].copy_from_slice(p.as_bytes());
            p.len()
        };
        if m == [0xff; 6] {
            return prefix(buf, "Broadcast");
        }
        if m[..2] == [0x33, 0x33] {
            // `33-33-00-00-00-00/16 IPv6mcast`: tshark leaves out the zero bytes that lead
            // the group part.
            let n = prefix(buf, "IPv6mcast_");
            let first = (2..5).find(|&i| m[i] != 0).unwrap_or(5);
            return self.hex(first, buf, n);
        }
        if m[..5] == [0x00, 0x00, 0x5e, 0x00, 0x01] {
            let n = prefix(buf, "IETF-VRRP-VRID_");
            return self.hex(5, buf, n);
        }
        let vendor = match [m[0], m[1], m[2]] {
            [0x52, 0x54, 0x00] => "RealtekU_",
            [0x00, 0x11, 0x22] => "CIMSYS_",
            [0x00, 0x00, 0x00] => "00:00:00_",
            _ => return self.hex(0, buf, 0),
        };
        let n = prefix(buf, vendor);
        self.hex(3, buf, n)
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 64];
        let mut n = self.name(&mut buf);
        buf[n] = b' ';
        buf[n + 1] = b'(';
        n = self.hex(0, &mut buf, n + 2);
        buf[n] = b')';
        f.write_str(std::str::from_utf8(&buf[..=n]).unwrap_or_default())
    }
}

/// `Type: IPv4 (0x0800)`.
struct EtherType(u16);

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match value_text(ids::ETH_TYPE, self.0 as u64) {
            Some(name) => write!(f, "{name} (0x{:04x})", self.0),
            None => write!(f, "Unknown (0x{:04x})", self.0),
        }
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

pub(super) fn render(f: &Frame<'_>, t: &mut Tree<'_>, expanded: impl Fn(Layer) -> bool) {
    let d = &f.dissection;
    let data = f.data();
    match d.link {
        Link::Ethernet if data.len() >= 14 => {
            t.open = expanded(Layer::Eth);
            ethernet(f, t, data);
            vlans(
                f,
                t,
                data,
                expanded(Layer::Vlan),
                expanded(Layer::Ieee8021ad),
            );
        }
        Link::Sll if data.len() >= 16 => {
            t.open = expanded(Layer::Sll);
            sll(t, data);
        }
        Link::Sll2 if data.len() >= 20 => {
            t.open = expanded(Layer::Sll);
            sll2(t, data);
        }
        Link::Null if data.len() >= 4 => {
            t.open = expanded(Layer::Null);
            null(f, t, data);
        }
        // LINKTYPE_IPV4/IPV6 go straight to IP; LINKTYPE_RAW shows its own (empty) layer.
        Link::Raw if f.record.link_type == 101 => {
            t.open = expanded(Layer::Raw);
            t.item(
                0,
                Item::proto("raw", 0, data.len()),
                format_args!("Raw packet data"),
            );
        }
        _ => {}
    }
}

/// The vendor names of the OUIs the corpus meets (Wireshark's `manuf`), for the hidden
/// `eth.*.oui_resolved` fields of PDML and EK; another vendor's OUI gets no such field (as
/// tshark gives none to an address it has no name for).
fn oui_vendor(oui: [u8; 3]) -> Option<&'static str> {
    match oui {
        [0x52, 0x54, 0x00] => Some("Realtek (UpTech? also reported)"),
        [0x00, 0x11, 0x22] => Some("CIMSYS Inc"),
        [0x00, 0x00, 0x5e] => Some("ICANN, IANA Department"),
        _ => None,
    }
}

impl Mac {
    /// `aa:bb:cc:dd:ee:ff`.
    fn colon_hex(&self) -> String {
        let mut buf = [0u8; 64];
        let n = self.hex(0, &mut buf, 0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// The resolved name alone (`Broadcast`, `RealtekU_20:02:10`, or the address).
    fn resolved(&self) -> String {
        let mut buf = [0u8; 64];
        let n = self.name(&mut buf);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// An address's hidden companions as tshark adds them after the address itself: the resolved
/// name, the OUI and the OUI's vendor.
fn mac_hidden(t: &mut Tree<'_>, name: [&'static str; 3], label: &str, pos: usize, m: [u8; 6]) {
    if !t.recording() {
        return;
    }
    let mac = Mac(m);
    let resolved = mac.resolved();
    t.hidden(
        2,
        Item::field(name[0], pos, 6, Show::Str(&resolved)),
        format_args!("{label} (resolved): {resolved}"),
    );
    let oui = [m[0], m[1], m[2]];
    let oui_num = u64::from(m[0]) << 16 | u64::from(m[1]) << 8 | u64::from(m[2]);
    let oui_hex = Mac([m[0], m[1], m[2], 0, 0, 0]).colon_hex();
    let oui_hex = &oui_hex[..8];
    match oui_vendor(oui) {
        Some(vendor) => {
            // tshark formats `aa:bb:cc (Vendor)` into 32 bytes: a longer vendor loses its end,
            // closing parenthesis and all.
            let mut value = format!("{oui_hex} ({vendor})");
            let cut = (0..=value.len().min(31))
                .rev()
                .find(|&i| value.is_char_boundary(i))
                .unwrap_or(0);
            value.truncate(cut);
            t.hidden(
                2,
                Item::num(name[1], pos, 3, oui_num),
                format_args!("{label} OUI: {value}"),
            );
            t.hidden(
                2,
                Item::field(name[2], pos, 6, Show::Str(vendor)),
                format_args!("{label} OUI (resolved): {vendor}"),
            );
        }
        None => t.hidden(
            2,
            Item::num(name[1], pos, 3, oui_num),
            format_args!("{label} OUI: {oui_hex}"),
        ),
    }
}

fn mac_lines(t: &mut Tree<'_>, role: &str, pos: usize, m: [u8; 6]) {
    let mac = Mac(m);
    let hex = if t.recording() {
        mac.colon_hex()
    } else {
        String::new()
    };
    let dst = role == "Destination";
    let (own, own_hidden, lg, ig) = if dst {
        (
            "eth.dst",
            ["eth.dst_resolved", "eth.dst.oui", "eth.dst.oui_resolved"],
            "eth.dst.lg",
            "eth.dst.ig",
        )
    } else {
        (
            "eth.src",
            ["eth.src_resolved", "eth.src.oui", "eth.src.oui_resolved"],
            "eth.src.lg",
            "eth.src.ig",
        )
    };
    t.item(
        1,
        Item::field(own, pos, 6, Show::Str(&hex)),
        format_args!("{role}: {mac}"),
    );
    mac_hidden(t, own_hidden, role, pos, m);
    t.item(
        2,
        Item::field("eth.addr", pos, 6, Show::Str(&hex)),
        format_args!("Address: {mac}"),
    );
    mac_hidden(
        t,
        ["eth.addr_resolved", "eth.addr.oui", "eth.addr.oui_resolved"],
        "Address",
        pos,
        m,
    );
    let lg_text = if m[0] & 2 != 0 {
        ".... ..1. .... .... .... .... = LG bit: Locally administered address (this is NOT the factory default)"
    } else {
        ".... ..0. .... .... .... .... = LG bit: Globally unique address (factory default)"
    };
    let lg_bit = m[0] & 2 != 0;
    t.item_text(
        2,
        Item::flag(lg, pos, 3, lg_bit).bits(lg_bit.into()),
        lg_text,
    );
    t.hidden(
        2,
        Item::flag("eth.lg", pos, 3, lg_bit).bits(lg_bit.into()),
        format_args!("{lg_text}"),
    );
    let ig_text = if m[0] & 1 != 0 {
        ".... ...1 .... .... .... .... = IG bit: Group address (multicast/broadcast)"
    } else {
        ".... ...0 .... .... .... .... = IG bit: Individual address (unicast)"
    };
    let ig_bit = m[0] & 1 != 0;
    t.item_text(
        2,
        Item::flag(ig, pos, 3, ig_bit).bits(ig_bit.into()),
        ig_text,
    );
    t.hidden(
        2,
        Item::flag("eth.ig", pos, 3, ig_bit).bits(ig_bit.into()),
        format_args!("{ig_text}"),
    );
}

fn ethernet(f: &Frame<'_>, t: &mut Tree<'_>, data: &[u8]) {
    let dst: [u8; 6] = data[0..6].try_into().unwrap_or_default();
    let src: [u8; 6] = data[6..12].try_into().unwrap_or_default();
    t.item(
        0,
        Item::proto("eth", 0, 14),
        format_args!("Ethernet II, Src: {}, Dst: {}", Mac(src), Mac(dst)),
    );
    mac_lines(t, "Destination", 0, dst);
    mac_lines(t, "Source", 6, src);
    let etype = be16(data, 12);
    t.item(
        1,
        Item::field("eth.type", 12, 2, Show::Args(format_args!("0x{etype:04x}"))),
        format_args!("Type: {}", EtherType(etype)),
    );
    // Padding and trailer belong to the Ethernet layer when no tag carries them.
    if f.dissection.vlan_count == 0 {
        trailer(f, t, 1);
    }
}

fn trailer(f: &Frame<'_>, t: &mut Tree<'_>, depth: usize) {
    // Padding, trailer and FCS end the frame, in that order.
    let mut tail = 0usize;
    for id in [ids::ETH_PADDING, ids::ETH_TRAILER, ids::VLAN_TRAILER] {
        f.visit(id, &mut |v| {
            if let Value::Bytes(b) = v {
                tail += b.len();
            }
        });
    }
    f.visit(ids::ETH_FCS, &mut |v| {
        if let Value::UInt(_) = v {
            tail += 4;
        }
    });
    let mut pos = f.data().len().saturating_sub(tail);
    for (id, name, label) in [
        (ids::ETH_PADDING, "eth.padding", "Padding"),
        (ids::ETH_TRAILER, "eth.trailer", "Trailer"),
        (ids::VLAN_TRAILER, "vlan.trailer", "Trailer"),
    ] {
        let out = &mut *t;
        f.visit(id, &mut |v| {
            if let Value::Bytes(b) = v {
                let show = colon_bytes(b);
                out.item(
                    depth,
                    Item::field(name, pos, b.len(), Show::Str(&show)),
                    format_args!("{label}: {}", Hex(b)),
                );
                pos += b.len();
            }
        });
    }
    f.visit(ids::ETH_FCS, &mut |v| {
        if let Value::UInt(fcs) = v {
            t.item(
                depth,
                Item::field("eth.fcs", pos, 4, Show::Args(format_args!("0x{fcs:08x}"))),
                format_args!("Frame check sequence: 0x{fcs:08x} [unverified]"),
            );
            t.item(
                depth,
                Item::num("eth.fcs.status", pos, 0, 2),
                format_args!("[FCS Status: Unverified]"),
            );
        }
    });
}

/// Bytes as PDML shows them: hex pairs joined by colons (only built while recording).
pub(crate) fn colon_bytes(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Bytes as contiguous hex, cut after 36 bytes with an ellipsis as tshark's tree does.
pub(crate) struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 36;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 2 * SHOWN];
        let shown = &self.0[..self.0.len().min(SHOWN)];
        for (i, b) in shown.iter().enumerate() {
            buf[2 * i] = HEX[(b >> 4) as usize];
            buf[2 * i + 1] = HEX[(b & 0xf) as usize];
        }
        f.write_str(std::str::from_utf8(&buf[..2 * shown.len()]).unwrap_or_default())?;
        if self.0.len() > SHOWN {
            f.write_str("…")?;
        }
        Ok(())
    }
}

fn vlans(f: &Frame<'_>, t: &mut Tree<'_>, data: &[u8], open_q: bool, open_ad: bool) {
    let d = &f.dissection;
    let n = (d.vlan_count as usize).min(2);
    for i in 0..n {
        let off = d.vlan_offsets[i] as usize;
        let Some(tag) = data.get(off..off + 4) else {
            return;
        };
        let service = d.vlan_tpids[i] == 0x88a8;
        t.open = if service { open_ad } else { open_q };
        let tci = be16(tag, 0);
        let (pcp, dei, id) = (tci >> 13, (tci >> 12) & 1, tci & 0x0fff);
        let etype = be16(tag, 2);
        let bits = |mask: u64| Bits {
            width: 16,
            mask,
            value: tci as u64,
        };
        if service {
            t.item(
                0,
                Item::proto("ieee8021ad", off, 4),
                format_args!("IEEE 802.1ad, ID: {id}"),
            );
            t.item(
                1,
                Item::num("ieee8021ad.priority", off, 1, pcp.into()).bits(pcp.into()),
                format_args!("{} = Priority: {pcp}", bits(0xe000)),
            );
            t.item(
                1,
                Item::num("ieee8021ad.dei", off, 1, dei.into()).bits(dei.into()),
                format_args!("{} = DEI: {dei}", bits(0x1000)),
            );
            t.item(
                1,
                Item::num("ieee8021ad.id", off, 2, id.into()).bits(id.into()),
                format_args!("{} = ID: {id}", bits(0x0fff)),
            );
            t.item(
                1,
                Item::field(
                    "ieee8021ah.etype",
                    off + 2,
                    2,
                    Show::Args(format_args!("0x{etype:04x}")),
                ),
                format_args!("Type: {}", EtherType(etype)),
            );
        } else {
            t.item(
                0,
                Item::proto("vlan", off, 4),
                format_args!("802.1Q Virtual LAN, PRI: {pcp}, DEI: {dei}, ID: {id}"),
            );
            const PRIORITY: [&str; 8] = [
                "Best Effort (default)",
                "Background",
                "Excellent Effort",
                "Critical Applications",
                "Video, < 100ms latency and jitter",
                "Voice, < 10ms latency and jitter",
                "Internetwork Control",
                "Network Control",
            ];
            t.item(
                1,
                Item::num("vlan.priority", off, 2, pcp.into()).bits(pcp.into()),
                format_args!(
                    "{} = Priority: {} ({pcp})",
                    bits(0xe000),
                    PRIORITY[pcp as usize]
                ),
            );
            t.item(
                1,
                Item::flag("vlan.dei", off, 2, dei == 1).bits(dei.into()),
                format_args!(
                    "{} = DEI: {}",
                    bits(0x1000),
                    if dei == 1 { "Eligible" } else { "Ineligible" }
                ),
            );
            t.item(
                1,
                Item::num("vlan.id", off, 2, id.into()).bits(id.into()),
                format_args!("{} = ID: {id}", bits(0x0fff)),
            );
            t.item(
                1,
                Item::field(
                    "vlan.etype",
                    off + 2,
                    2,
                    Show::Args(format_args!("0x{etype:04x}")),
                ),
                format_args!("Type: {}", EtherType(etype)),
            );
        }
        if i + 1 == n {
            // Padding and trailer after a tag are not recorded under the tag's names yet.
            if f.dissection.vlan_count > 0 && t.recording() {
                let mut tail = false;
                for id in [
                    ids::ETH_PADDING,
                    ids::ETH_TRAILER,
                    ids::VLAN_TRAILER,
                    ids::ETH_FCS,
                ] {
                    f.visit(id, &mut |_| tail = true);
                }
                if tail {
                    t.give_up(if service { "ieee8021ad" } else { "vlan" });
                }
            }
            trailer(f, t, 1);
        }
    }
}

const PACKET_TYPES: [&str; 5] = [
    "Unicast to us",
    "Broadcast",
    "Multicast",
    "Unicast to another host",
    "Sent by us",
];

fn packet_type(p: u16) -> &'static str {
    PACKET_TYPES.get(p as usize).copied().unwrap_or("Unknown")
}

fn hatype(h: u16) -> &'static str {
    match h {
        1 => "Ethernet",
        772 => "Loopback",
        _ => "Unknown",
    }
}

fn sll_address(t: &mut Tree<'_>, at: usize, halen: usize, addr: &[u8]) {
    if halen == 6 {
        let m: [u8; 6] = addr[..6].try_into().unwrap_or_default();
        let (src, unused) = if t.recording() {
            (Mac(m).colon_hex(), colon_bytes(&addr[6..8]))
        } else {
            (String::new(), String::new())
        };
        t.item(
            1,
            Item::field("sll.src.eth", at, 6, Show::Str(&src)),
            format_args!("Source: {}", Mac(m)),
        );
        t.item(
            1,
            Item::field("sll.unused", at + 6, 2, Show::Str(&unused)),
            format_args!("Unused: {}", Hex(&addr[6..8])),
        );
    }
}

fn sll(t: &mut Tree<'_>, data: &[u8]) {
    let (ptype, ha, halen) = (be16(data, 0), be16(data, 2), be16(data, 4));
    let etype = be16(data, 14);
    t.item(
        0,
        Item::proto("sll", 0, 16),
        format_args!("Linux cooked capture v1"),
    );
    t.item(
        1,
        Item::num("sll.pkttype", 0, 2, ptype.into()),
        format_args!("Packet type: {} ({ptype})", packet_type(ptype)),
    );
    t.item(
        1,
        Item::num("sll.hatype", 2, 2, ha.into()),
        format_args!("Link-layer address type: {} ({ha})", hatype(ha)),
    );
    t.item(
        1,
        Item::num("sll.halen", 4, 2, halen.into()),
        format_args!("Link-layer address length: {halen}"),
    );
    sll_address(t, 6, halen as usize, &data[6..14]);
    t.item(
        1,
        Item::field(
            "sll.etype",
            14,
            2,
            Show::Args(format_args!("0x{etype:04x}")),
        ),
        format_args!("Protocol: {}", EtherType(etype)),
    );
}

fn sll2(t: &mut Tree<'_>, data: &[u8]) {
    let ifindex = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
    let ha = be16(data, 8);
    let (ptype, halen) = (data[10] as u16, data[11]);
    let etype = be16(data, 0);
    t.item(
        0,
        Item::proto("sll", 0, 20),
        format_args!("Linux cooked capture v2"),
    );
    t.item(
        1,
        Item::field("sll.etype", 0, 2, Show::Args(format_args!("0x{etype:04x}"))),
        format_args!("Protocol: {}", EtherType(etype)),
    );
    t.item(
        1,
        Item::num("sll.ifindex", 4, 4, ifindex.into()),
        format_args!("Interface index: {ifindex}"),
    );
    t.item(
        1,
        Item::num("sll.hatype", 8, 2, ha.into()),
        format_args!("Link-layer address type: {} ({ha})", hatype(ha)),
    );
    t.item(
        1,
        Item::num("sll.pkttype", 10, 1, ptype.into()),
        format_args!("Packet type: {} ({ptype})", packet_type(ptype)),
    );
    t.item(
        1,
        Item::num("sll.halen", 11, 1, halen.into()),
        format_args!("Link-layer address length: {halen}"),
    );
    sll_address(t, 12, halen as usize, &data[12..20]);
}

fn null(f: &Frame<'_>, t: &mut Tree<'_>, _data: &[u8]) {
    t.item(0, Item::proto("null", 0, 4), format_args!("Null/Loopback"));
    f.visit(ids::NULL_FAMILY, &mut |v| {
        if let Value::UInt(fam) = v {
            let name = match fam {
                2 => "IP",
                24 | 28 | 30 => "IPv6",
                _ => "Unknown",
            };
            t.item(
                1,
                Item::num("null.family", 0, 4, fam),
                format_args!("Family: {name} ({fam})"),
            );
        }
    });
}
