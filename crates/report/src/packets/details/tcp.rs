//! The TCP subtree: header, flags with their expert items, options, [Timestamps] and
//! [SEQ/ACK analysis] with the analysis flags.

use super::link::colon_bytes;
use super::tree::{bytes_word, expert_at, field_at, set, Bits, Item, Kind, Show, Tree};
use keepsight_engine::flags_str;
use keepsight_engine::tcp::{flag, ConnectionEvent};
use keepsight_engine::wire::TcpOption;
use keepsight_engine::Frame;
use keepsight_fields::{ids, Packet};

/// tshark's words for `tcp.completeness`.
fn completeness(c: u8) -> &'static str {
    match c {
        1 => "Incomplete, SYN_SENT",
        3 => "Incomplete, CLIENT_ESTABLISHED",
        7 => "Incomplete, ESTABLISHED",
        15 => "Incomplete, DATA",
        31 | 47 | 63 => "Complete, WITH_DATA",
        23 | 39 | 55 => "Complete, NO_DATA",
        _ => "Incomplete",
    }
}

/// The flag names in the `Flags:` summary, lowest bit first as tshark lists them.
const FLAG_NAMES: [(u16, &str); 9] = [
    (0x001, "FIN"),
    (0x002, "SYN"),
    (0x004, "RST"),
    (0x008, "PSH"),
    (0x010, "ACK"),
    (0x020, "URG"),
    (0x040, "ECE"),
    (0x080, "CWR"),
    (0x100, "AE"),
];

/// The `Flags:` title's value: `0x018 (PSH, ACK)`.
struct FlagsTitle(u16);

impl std::fmt::Display for FlagsTitle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{:03x} (", self.0)?;
        let mut first = true;
        for (bit, name) in FLAG_NAMES {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str(", ")?;
                }
                first = false;
                f.write_str(name)?;
            }
        }
        if first {
            f.write_str("<None>")?;
        }
        f.write_str(")")
    }
}

pub(super) fn render(f: &Frame<'_>, view: &dyn Packet, t: &mut Tree<'_>) {
    let (Some(info), Some(h)) = (f.tcp.as_ref(), f.tcp_header()) else {
        return;
    };
    let len = f.tcp_len().unwrap_or(0);
    let flags = h.flags();
    let (sport, dport) = (h.src_port(), h.dst_port());
    let hl = h.header_len();
    // Where the header starts in the frame: a segment inside a reassembled datagram is in
    // another data source, which the recorded tree does not carry.
    let at = if f.reassembled.is_some() {
        t.give_up("tcp");
        0
    } else {
        (h.bytes().as_ptr() as usize).wrapping_sub(f.data().as_ptr() as usize)
    };
    let proto = Item::proto("tcp", at, hl);
    if flags.ack() {
        t.item(
            0,
            proto,
            format_args!(
                "Transmission Control Protocol, Src Port: {sport}, Dst Port: {dport}, Seq: {}, Ack: {}, Len: {len}",
                info.seq, info.ack
            ),
        );
    } else {
        t.item(
            0,
            proto,
            format_args!(
                "Transmission Control Protocol, Src Port: {sport}, Dst Port: {dport}, Seq: {}, Len: {len}",
                info.seq
            ),
        );
    }
    if !t.open {
        return;
    }
    t.item(
        1,
        Item::num("tcp.srcport", at, 2, sport.into()),
        format_args!("Source Port: {sport}"),
    );
    t.item(
        1,
        Item::num("tcp.dstport", at + 2, 2, dport.into()),
        format_args!("Destination Port: {dport}"),
    );
    t.hidden(
        1,
        Item::num("tcp.port", at, 2, sport.into()),
        format_args!("Source or Destination Port: {sport}"),
    );
    t.hidden(
        1,
        Item::num("tcp.port", at + 2, 2, dport.into()),
        format_args!("Source or Destination Port: {dport}"),
    );
    t.item(
        1,
        Item::num("tcp.stream", at, 0, info.stream.into()),
        format_args!("[Stream index: {}]", info.stream),
    );
    t.item(
        1,
        Item::num("tcp.completeness", at, 0, info.completeness.into()),
        format_args!(
            "[Conversation completeness: {} ({})]",
            completeness(info.completeness),
            info.completeness
        ),
    );
    t.item(
        1,
        Item::num("tcp.len", at, 0, len.into()),
        format_args!("[TCP Segment Len: {len}]"),
    );
    t.item(
        1,
        Item::num("tcp.seq", at + 4, 4, info.seq.into()),
        format_args!(
            "Sequence Number: {}    (relative sequence number)",
            info.seq
        ),
    );
    t.item(
        1,
        Item::num("tcp.seq_raw", at + 4, 4, h.seq().into()),
        format_args!("Sequence Number (raw): {}", h.seq()),
    );
    t.item(
        1,
        Item::num("tcp.nxtseq", at, 0, info.nxtseq.into()),
        format_args!(
            "[Next Sequence Number: {}    (relative sequence number)]",
            info.nxtseq
        ),
    );
    if flags.ack() {
        t.item(
            1,
            Item::num("tcp.ack", at + 8, 4, info.ack.into()),
            format_args!(
                "Acknowledgment Number: {}    (relative ack number)",
                info.ack
            ),
        );
    } else {
        t.item(
            1,
            Item::num("tcp.ack", at + 8, 4, h.ack().into()),
            format_args!("Acknowledgment Number: {}", h.ack()),
        );
    }
    if !flags.ack() && h.ack() != 0 {
        expert_at(
            t,
            2,
            at + 8,
            "tcp.ack.nonzero",
            "Note",
            "Protocol",
            format_args!(
                "The acknowledgment number field is nonzero while the ACK flag is not set"
            ),
        );
    }
    t.item(
        1,
        Item::num("tcp.ack_raw", at + 8, 4, h.ack().into()),
        format_args!("Acknowledgment number (raw): {}", h.ack()),
    );
    t.item(
        1,
        Item::num("tcp.hdr_len", at + 12, 1, hl as u64),
        format_args!(
            "{} = Header Length: {hl} bytes ({})",
            Bits {
                width: 8,
                mask: 0xf0,
                value: (hl as u64 / 4) << 4
            },
            hl / 4
        ),
    );
    flags_tree(view, t, at, flags.0, sport, dport, info.connection);
    t.item(
        1,
        Item::num("tcp.window_size_value", at + 14, 2, h.window().into()),
        format_args!("Window: {}", h.window()),
    );
    t.item(
        1,
        Item::num("tcp.window_size", at + 14, 2, info.window_size.into()),
        format_args!("[Calculated window size: {}]", info.window_size),
    );
    if let Some(m) = info.window_scalefactor {
        let mut text = itoa::Buffer::new();
        let factor = Item::field(
            "tcp.window_size_scalefactor",
            at + 14,
            2,
            Show::Str(text.format(m)),
        );
        match m {
            -1 => t.item(
                1,
                factor,
                format_args!("[Window size scaling factor: -1 (unknown)]"),
            ),
            -2 => t.item(
                1,
                factor,
                format_args!("[Window size scaling factor: -2 (no window scaling used)]"),
            ),
            m => t.item(1, factor, format_args!("[Window size scaling factor: {m}]")),
        }
    }
    t.item(
        1,
        Item::field(
            "tcp.checksum",
            at + 16,
            2,
            Show::Args(format_args!("0x{:04x}", h.checksum())),
        ),
        format_args!("Checksum: 0x{:04x} [unverified]", h.checksum()),
    );
    t.item(
        1,
        Item::num("tcp.checksum.status", at + 16, 0, 2),
        format_args!("[Checksum Status: Unverified]"),
    );
    t.item(
        1,
        Item::num("tcp.urgent_pointer", at + 18, 2, h.urgent_pointer().into()),
        format_args!("Urgent Pointer: {}", h.urgent_pointer()),
    );
    options(t, &h, at, flags.ack(), f);
    if view.has(ids::TCP_TIME_RELATIVE) {
        t.item(1, Item::label(at, 0), format_args!("[Timestamps]"));
        field_at(
            t,
            2,
            view,
            ids::TCP_TIME_RELATIVE,
            at,
            "[Time since first frame in this TCP stream: ",
            " seconds]",
        );
        field_at(
            t,
            2,
            view,
            ids::TCP_TIME_DELTA,
            at,
            "[Time since previous frame in this TCP stream: ",
            " seconds]",
        );
    }
    if info.has_analysis {
        analysis(f, view, t, at);
    }
    if len > 0 {
        let payload = f.tcp_payload();
        let show = if t.recording() {
            colon_bytes(payload)
        } else {
            String::new()
        };
        t.item(
            1,
            Item::field("tcp.payload", at + hl, payload.len(), Show::Str(&show)),
            format_args!("TCP payload ({len} {})", bytes_word(len as usize)),
        );
    }
}

/// One line per flag bit: its mask in the 12 flag bits, its field and its name.
const FLAG_BITS: [(u16, &str, &str); 9] = [
    (0x0e00, "tcp.flags.res", "Reserved"),
    (0x0100, "tcp.flags.ae", "Accurate ECN"),
    (0x0080, "tcp.flags.cwr", "Congestion Window Reduced"),
    (0x0040, "tcp.flags.ece", "ECN-Echo"),
    (0x0020, "tcp.flags.urg", "Urgent"),
    (0x0010, "tcp.flags.ack", "Acknowledgment"),
    (0x0008, "tcp.flags.push", "Push"),
    (0x0004, "tcp.flags.reset", "Reset"),
    (0x0002, "tcp.flags.syn", "Syn"),
];

fn flags_tree(
    view: &dyn Packet,
    t: &mut Tree<'_>,
    at: usize,
    bits: u16,
    sport: u16,
    dport: u16,
    conn: ConnectionEvent,
) {
    let bits = bits & 0x0fff;
    t.item(
        1,
        Item::field(
            "tcp.flags",
            at + 12,
            2,
            Show::Args(format_args!("0x{bits:04x}")),
        )
        .bits(bits.into()),
        format_args!("Flags: {}", FlagsTitle(bits)),
    );
    for (mask, name, label) in FLAG_BITS
        .into_iter()
        .chain([(0x0001, "tcp.flags.fin", "Fin")])
    {
        // The reserved and AE bits are in the header's 13th byte, the others in its 14th.
        let pos = if mask >= 0x0100 { at + 12 } else { at + 13 };
        let value = (bits & mask) >> mask.trailing_zeros();
        let line = Bits {
            width: 12,
            mask: mask.into(),
            value: bits.into(),
        };
        t.item(
            2,
            Item::flag(name, pos, 1, value != 0).bits(value.into()),
            format_args!("{line} = {label}: {}", set(value != 0)),
        );
        let expert_here = |t: &mut Tree<'_>, event, name, sev, msg: std::fmt::Arguments<'_>| {
            if conn.has(event) {
                expert_at(t, 3, at + 13, name, sev, "Sequence", msg);
            }
        };
        match mask {
            0x0004 => expert_here(
                t,
                ConnectionEvent::RST,
                "tcp.connection.rst",
                "Warning",
                format_args!("Connection reset (RST)"),
            ),
            0x0002 => {
                expert_here(
                    t,
                    ConnectionEvent::SYN,
                    "tcp.connection.syn",
                    "Chat",
                    format_args!("Connection establish request (SYN): server port {dport}"),
                );
                expert_here(
                    t,
                    ConnectionEvent::SYNACK,
                    "tcp.connection.synack",
                    "Chat",
                    format_args!("Connection establish acknowledge (SYN+ACK): server port {sport}"),
                );
            }
            0x0001 => expert_here(
                t,
                ConnectionEvent::FIN,
                "tcp.connection.fin",
                "Chat",
                format_args!("Connection finish (FIN)"),
            ),
            _ => {}
        }
    }
    let mut buf = [0u8; 36];
    let text = if view.has(ids::TCP_FLAGS_STR) {
        flags_str(bits, &mut buf)
    } else {
        ""
    };
    if !text.is_empty() {
        t.item(
            2,
            Item::field("tcp.flags.str", at + 12, 2, Show::Str(text)),
            format_args!("[TCP Flags: {text}]"),
        );
    }
    if conn.has(ConnectionEvent::FIN_ACTIVE) {
        expert_at(
            t,
            3,
            at + 12,
            "tcp.connection.fin_active",
            "Note",
            "Sequence",
            format_args!("This frame initiates the connection closing"),
        );
    }
    if conn.has(ConnectionEvent::FIN_PASSIVE) {
        expert_at(
            t,
            3,
            at + 12,
            "tcp.connection.fin_passive",
            "Note",
            "Sequence",
            format_args!("This frame undergoes the connection closing"),
        );
    }
}

fn option_name(o: &TcpOption<'_>) -> &'static str {
    match o {
        TcpOption::Nop => "No-Operation (NOP)",
        TcpOption::Mss(_) => "Maximum segment size",
        TcpOption::WindowScale(_) => "Window scale",
        TcpOption::SackPermitted => "SACK permitted",
        TcpOption::Sack(_) => "SACK",
        TcpOption::Timestamps { .. } => "Timestamps",
        TcpOption::Other { .. } => "Unknown",
    }
}

/// The `Options:` title's value: `(12 bytes), No-Operation (NOP), ..., Timestamps`.
struct OptionsTitle<'h>(&'h keepsight_engine::wire::TcpHeader<'h>);

impl std::fmt::Display for OptionsTitle<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({} bytes)", self.0.option_bytes().len())?;
        for o in self.0.options() {
            f.write_str(", ")?;
            f.write_str(option_name(&o))?;
        }
        Ok(())
    }
}

/// A SACK option's title: its blocks as relative edges.
struct SackTitle<'b> {
    blocks: &'b [u8],
    base_ack: u32,
}

impl SackTitle<'_> {
    fn edge(&self, i: usize) -> u32 {
        let b = &self.blocks[i * 4..i * 4 + 4];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]).wrapping_sub(self.base_ack)
    }
}

impl std::fmt::Display for SackTitle<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TCP Option - SACK")?;
        for i in 0..self.blocks.len() / 8 {
            write!(f, " {}-{}", self.edge(2 * i), self.edge(2 * i + 1))?;
        }
        Ok(())
    }
}

fn options(
    t: &mut Tree<'_>,
    h: &keepsight_engine::wire::TcpHeader<'_>,
    at: usize,
    ack_flag: bool,
    f: &Frame<'_>,
) {
    let raw = h.option_bytes();
    let ack = h.ack();
    if raw.is_empty() {
        return;
    }
    let recording = t.recording();
    let hex = |b: &[u8]| {
        if recording {
            colon_bytes(b)
        } else {
            String::new()
        }
    };
    let mut pos = at + 20;
    t.item(
        1,
        Item::field("tcp.options", pos, raw.len(), Show::Str(&hex(raw))),
        format_args!("Options: {}", OptionsTitle(h)),
    );
    let base_ack = f.tcp.as_ref().map_or(0, |i| ack.wrapping_sub(i.ack));
    let kind = |t: &mut Tree<'_>, pos: usize, k: u8, text: &str| {
        t.item(
            3,
            Item::num("tcp.option_kind", pos, 1, k.into()),
            format_args!("Kind: {text} ({k})"),
        );
    };
    let length = |t: &mut Tree<'_>, pos: usize, l: usize| {
        t.item(
            3,
            Item::num("tcp.option_len", pos + 1, 1, l as u64),
            format_args!("Length: {l}"),
        );
    };
    fn option<'s>(name: &'static str, pos: usize, size: usize, show: &'s str) -> Item<'s> {
        Item::field(name, pos, size, Show::Str(show)).kind(Kind::NamedBytes)
    }
    for o in h.options() {
        let size = match o {
            TcpOption::Nop => 1,
            TcpOption::Mss(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Timestamps { .. } => 10,
            TcpOption::Sack(blocks) => blocks.len() + 2,
            TcpOption::Other { .. } => {
                // Options keepsight does not name are not recorded field by field.
                t.give_up("tcp");
                0
            }
        };
        let bytes = raw
            .get(pos - at - 20..pos - at - 20 + size)
            .unwrap_or_default();
        let show = hex(bytes);
        match o {
            TcpOption::Nop => {
                t.item_text(
                    2,
                    option("tcp.options.nop", pos, 1, &show),
                    "TCP Option - No-Operation (NOP)",
                );
                kind(t, pos, 1, "No-Operation");
            }
            TcpOption::Mss(mss) => {
                t.item(
                    2,
                    option("tcp.options.mss", pos, 4, &show),
                    format_args!("TCP Option - Maximum segment size: {mss} bytes"),
                );
                kind(t, pos, 2, "Maximum Segment Size");
                length(t, pos, 4);
                t.item(
                    3,
                    Item::num("tcp.options.mss_val", pos + 2, 2, mss.into()),
                    format_args!("MSS Value: {mss}"),
                );
            }
            TcpOption::WindowScale(shift) => {
                let mult = 1u64 << shift.min(14);
                t.item(
                    2,
                    option("tcp.options.wscale", pos, 3, &show),
                    format_args!("TCP Option - Window scale: {shift} (multiply by {mult})"),
                );
                kind(t, pos, 3, "Window Scale");
                length(t, pos, 3);
                t.item(
                    3,
                    Item::num("tcp.options.wscale.shift", pos + 2, 1, shift.into()),
                    format_args!("Shift count: {shift}"),
                );
                t.item(
                    3,
                    Item::num("tcp.options.wscale.multiplier", pos + 2, 1, mult),
                    format_args!("[Multiplier: {mult}]"),
                );
            }
            TcpOption::SackPermitted => {
                t.item_text(
                    2,
                    option("tcp.options.sack_perm", pos, 2, &show),
                    "TCP Option - SACK permitted",
                );
                kind(t, pos, 4, "SACK Permitted");
                length(t, pos, 2);
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                t.item(
                    2,
                    option("tcp.options.timestamp", pos, 10, &show),
                    format_args!("TCP Option - Timestamps: TSval {tsval}, TSecr {tsecr}"),
                );
                kind(t, pos, 8, "Time Stamp Option");
                length(t, pos, 10);
                t.item(
                    3,
                    Item::num("tcp.options.timestamp.tsval", pos + 2, 4, tsval.into()),
                    format_args!("Timestamp value: {tsval}"),
                );
                t.item(
                    3,
                    Item::num("tcp.options.timestamp.tsecr", pos + 6, 4, tsecr.into()),
                    format_args!("Timestamp echo reply: {tsecr}"),
                );
            }
            TcpOption::Sack(blocks) => {
                let title = SackTitle { blocks, base_ack };
                let n = blocks.len() / 8;
                t.item(
                    2,
                    option("tcp.options.sack", pos, size, &show),
                    format_args!("{title}"),
                );
                kind(t, pos, 5, "SACK");
                length(t, pos, size);
                for i in 0..n {
                    let (le, re) = (title.edge(2 * i), title.edge(2 * i + 1));
                    t.item(
                        3,
                        Item::num("tcp.options.sack_le", pos + 2 + 8 * i, 4, le.into()),
                        format_args!("left edge = {le} (relative)"),
                    );
                    t.item(
                        3,
                        Item::num("tcp.options.sack_re", pos + 6 + 8 * i, 4, re.into()),
                        format_args!("right edge = {re} (relative)"),
                    );
                }
                t.item(
                    3,
                    Item::num("tcp.options.sack.count", pos, 0, n as u64),
                    format_args!("[TCP SACK Count: {n}]"),
                );
                if ack_flag && n > 0 && is_dsack(ack, blocks) {
                    let (le, re) = (title.edge(0), title.edge(1));
                    t.item(
                        3,
                        Item::num("tcp.options.sack.dsack_le", pos + 2, 4, le.into()),
                        format_args!("[D-SACK Left Edge = {le} (relative)]"),
                    );
                    t.item(
                        3,
                        Item::num("tcp.options.sack.dsack_re", pos + 6, 4, re.into()),
                        format_args!("[D-SACK Right Edge = {re} (relative)]"),
                    );
                    t.item(3, Item::label(pos + 2, 8), format_args!("D-SACK Sequence"));
                    expert_at(
                        t,
                        4,
                        pos + 2,
                        "tcp.options.sack.dsack",
                        "Warning",
                        "Sequence",
                        format_args!("D-SACK Sequence"),
                    );
                }
            }
            TcpOption::Other { .. } => {}
        }
        pos += size;
    }
}

/// RFC 2883, as tshark applies it: the first block lies below the cumulative ACK, or inside
/// the second block.
fn is_dsack(ack: u32, blocks: &[u8]) -> bool {
    let at = |i: usize| {
        let b = &blocks[i * 4..i * 4 + 4];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    };
    let lt = |a: u32, b: u32| (a.wrapping_sub(b) as i32) < 0;
    let le = |a: u32, b: u32| (a.wrapping_sub(b) as i32) <= 0;
    let (l1, r1) = (at(0), at(1));
    if lt(l1, ack) {
        return true;
    }
    blocks.len() >= 16 && le(at(2), l1) && le(r1, at(3))
}

fn analysis(f: &Frame<'_>, view: &dyn Packet, t: &mut Tree<'_>, at: usize) {
    let Some(info) = f.tcp.as_ref() else {
        return;
    };
    let empty = |name: &'static str| Item::field(name, at, 0, Show::Str("")).kind(Kind::Empty);
    t.item(1, empty("tcp.analysis"), format_args!("[SEQ/ACK analysis]"));
    let generated = |t: &mut Tree<'_>, depth: usize, id, prefix: &str, suffix: &str| {
        field_at(t, depth, view, id, at, prefix, suffix)
    };
    generated(
        t,
        2,
        ids::TCP_ANALYSIS_ACKS_FRAME,
        "[This is an ACK to the segment in frame: ",
        "]",
    );
    generated(
        t,
        2,
        ids::TCP_ANALYSIS_ACK_RTT,
        "[The RTT to ACK the segment was: ",
        " seconds]",
    );
    generated(t, 2, ids::TCP_ANALYSIS_INITIAL_RTT, "[iRTT: ", " seconds]");
    generated(
        t,
        2,
        ids::TCP_ANALYSIS_BYTES_IN_FLIGHT,
        "[Bytes in flight: ",
        "]",
    );
    generated(
        t,
        2,
        ids::TCP_ANALYSIS_PUSH_BYTES_SENT,
        "[Bytes sent since last PSH flag: ",
        "]",
    );
    let a = info.flags;
    if a.is_empty() {
        return;
    }
    t.item(
        2,
        empty("tcp.analysis.flags"),
        format_args!("[TCP Analysis Flags]"),
    );
    let note = |t: &mut Tree<'_>, name: &'static str, sev: &str, msg: &str| {
        expert_at(t, 3, at, name, sev, "Sequence", format_args!("{msg}"))
    };
    const RETRANSMISSION: &str = "This frame is a (suspected) retransmission";
    let rto = |t: &mut Tree<'_>| {
        generated(
            t,
            3,
            ids::TCP_ANALYSIS_RTO,
            "[The RTO for this segment was: ",
            " seconds]",
        );
        generated(
            t,
            3,
            ids::TCP_ANALYSIS_RTO_FRAME,
            "[RTO based on delta from frame: ",
            "]",
        );
    };
    if a.has(flag::REUSED_PORTS) {
        note(
            t,
            "tcp.analysis.reused_ports",
            "Note",
            "A new tcp session is started with the same ports as an earlier session in this trace",
        );
    }
    if a.has(flag::RETRANSMISSION) {
        note(t, "tcp.analysis.retransmission", "Note", RETRANSMISSION);
        rto(t);
    }
    if a.has(flag::FAST_RETRANSMISSION) {
        note(
            t,
            "tcp.analysis.fast_retransmission",
            "Note",
            "This frame is a (suspected) fast retransmission",
        );
        note(t, "tcp.analysis.retransmission", "Note", RETRANSMISSION);
    }
    if a.has(flag::SPURIOUS_RETRANSMISSION) {
        note(
            t,
            "tcp.analysis.spurious_retransmission",
            "Note",
            "This frame is a (suspected) spurious retransmission",
        );
        note(t, "tcp.analysis.retransmission", "Note", RETRANSMISSION);
    }
    let rest: [(u32, &str, &str, &str); 7] = [
        (
            flag::OUT_OF_ORDER,
            "tcp.analysis.out_of_order",
            "Warning",
            "This frame is a (suspected) out-of-order segment",
        ),
        (
            flag::LOST_PACKET,
            "tcp.analysis.lost_segment",
            "Warning",
            "Previous segment(s) not captured (common at capture start)",
        ),
        (
            flag::ACK_LOST_PACKET,
            "tcp.analysis.ack_lost_segment",
            "Warning",
            "ACKed segment that wasn't captured (common at capture start)",
        ),
        (
            flag::WINDOW_UPDATE,
            "tcp.analysis.window_update",
            "Chat",
            "TCP window update",
        ),
        (
            flag::WINDOW_FULL,
            "tcp.analysis.window_full",
            "Warning",
            "TCP window specified by the receiver is now completely full",
        ),
        (
            flag::KEEP_ALIVE,
            "tcp.analysis.keep_alive",
            "Note",
            "TCP keep-alive segment",
        ),
        (
            flag::KEEP_ALIVE_ACK,
            "tcp.analysis.keep_alive_ack",
            "Note",
            "ACK to a TCP keep-alive segment",
        ),
    ];
    for (bit, name, sev, msg) in rest {
        if a.has(bit) {
            // `rest` holds only &'static names; the closure wants them as such.
            note(t, name, sev, msg);
        }
    }
    if a.has(flag::DUPLICATE_ACK) && info.dupack_num > 0 {
        t.item(
            3,
            empty("tcp.analysis.duplicate_ack"),
            format_args!("[This is a TCP duplicate ack]"),
        );
        t.item(
            2,
            Item::num(
                "tcp.analysis.duplicate_ack_num",
                at,
                0,
                info.dupack_num.into(),
            ),
            format_args!("[Duplicate ACK #: {}]", info.dupack_num),
        );
        generated(
            t,
            2,
            ids::TCP_ANALYSIS_DUPLICATE_ACK_FRAME,
            "[Duplicate to the ACK in frame: ",
            "]",
        );
        expert_at(
            t,
            3,
            at,
            "tcp.analysis.duplicate_ack",
            "Note",
            "Sequence",
            format_args!("Duplicate ACK (#{})", info.dupack_num),
        );
    }
    if a.has(flag::ZERO_WINDOW_PROBE) {
        note(
            t,
            "tcp.analysis.zero_window_probe",
            "Note",
            "TCP Zero Window Probe",
        );
    }
    if a.has(flag::ZERO_WINDOW) {
        note(
            t,
            "tcp.analysis.zero_window",
            "Warning",
            "TCP Zero Window segment",
        );
    }
    if a.has(flag::ZERO_WINDOW_PROBE_ACK) {
        note(
            t,
            "tcp.analysis.zero_window_probe_ack",
            "Note",
            "ACK to a TCP Zero Window Probe",
        );
    }
}
