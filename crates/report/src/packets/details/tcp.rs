//! The TCP subtree: header, flags with their expert items, options, [Timestamps] and
//! [SEQ/ACK analysis] with the analysis flags.

use super::tree::{bytes_word, expert, field, Bits, Tree};
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

pub(super) fn render(f: &Frame<'_>, view: &dyn Packet, t: &mut Tree<'_>) {
    let (Some(info), Some(h)) = (f.tcp.as_ref(), f.tcp_header()) else {
        return;
    };
    let len = f.tcp_len().unwrap_or(0);
    let flags = h.flags();
    let (sport, dport) = (h.src_port(), h.dst_port());
    if flags.ack() {
        t.line(
            0,
            format_args!(
                "Transmission Control Protocol, Src Port: {sport}, Dst Port: {dport}, Seq: {}, Ack: {}, Len: {len}",
                info.seq, info.ack
            ),
        );
    } else {
        t.line(
            0,
            format_args!(
                "Transmission Control Protocol, Src Port: {sport}, Dst Port: {dport}, Seq: {}, Len: {len}",
                info.seq
            ),
        );
    }
    if !t.open {
        return;
    }
    t.num(1, "Source Port: ", sport.into(), "");
    t.num(1, "Destination Port: ", dport.into(), "");
    t.num(1, "[Stream index: ", info.stream.into(), "]");
    t.line(
        1,
        format_args!(
            "[Conversation completeness: {} ({})]",
            completeness(info.completeness),
            info.completeness
        ),
    );
    t.num(1, "[TCP Segment Len: ", len.into(), "]");
    t.num(
        1,
        "Sequence Number: ",
        info.seq.into(),
        "    (relative sequence number)",
    );
    t.num(1, "Sequence Number (raw): ", h.seq().into(), "");
    t.num(
        1,
        "[Next Sequence Number: ",
        info.nxtseq.into(),
        "    (relative sequence number)]",
    );
    if flags.ack() {
        t.num(
            1,
            "Acknowledgment Number: ",
            info.ack.into(),
            "    (relative ack number)",
        );
    } else {
        t.line(1, format_args!("Acknowledgment Number: {}", h.ack()));
    }
    if !flags.ack() && h.ack() != 0 {
        expert(
            t,
            2,
            "Note",
            "Protocol",
            format_args!(
                "The acknowledgment number field is nonzero while the ACK flag is not set"
            ),
        );
    }
    t.num(1, "Acknowledgment number (raw): ", h.ack().into(), "");
    let hl = h.header_len();
    match hl {
        20 => t.text(1, "0101 .... = Header Length: 20 bytes (5)"),
        32 => t.text(1, "1000 .... = Header Length: 32 bytes (8)"),
        _ => t.line(
            1,
            format_args!(
                "{} = Header Length: {hl} bytes ({})",
                Bits {
                    width: 8,
                    mask: 0xf0,
                    value: (hl as u64 / 4) << 4
                },
                hl / 4
            ),
        ),
    }
    flags_tree(f, view, t, flags.0, sport, dport, info.connection);
    t.num(1, "Window: ", h.window().into(), "");
    t.num(1, "[Calculated window size: ", info.window_size.into(), "]");
    match info.window_scalefactor {
        Some(-1) => t.line(
            1,
            format_args!("[Window size scaling factor: -1 (unknown)]"),
        ),
        Some(-2) => t.line(
            1,
            format_args!("[Window size scaling factor: -2 (no window scaling used)]"),
        ),
        Some(m) => t.num(1, "[Window size scaling factor: ", m as u64, "]"),
        None => {}
    }
    t.line(
        1,
        format_args!("Checksum: 0x{:04x} [unverified]", h.checksum()),
    );
    t.line(1, format_args!("[Checksum Status: Unverified]"));
    t.num(1, "Urgent Pointer: ", h.urgent_pointer().into(), "");
    options(t, &h, flags.ack(), f);
    if view.has(ids::TCP_TIME_RELATIVE) {
        t.line(1, format_args!("[Timestamps]"));
        field(
            t,
            2,
            view,
            ids::TCP_TIME_RELATIVE,
            "[Time since first frame in this TCP stream: ",
            " seconds]",
        );
        field(
            t,
            2,
            view,
            ids::TCP_TIME_DELTA,
            "[Time since previous frame in this TCP stream: ",
            " seconds]",
        );
    }
    if info.has_analysis {
        analysis(f, view, t);
    }
    if len > 0 {
        t.line(
            1,
            format_args!("TCP payload ({len} {})", bytes_word(len as usize)),
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn flags_tree(
    _f: &Frame<'_>,
    view: &dyn Packet,
    t: &mut Tree<'_>,
    bits: u16,
    sport: u16,
    dport: u16,
    conn: ConnectionEvent,
) {
    let bits = bits & 0x0fff;
    t.out_flags_title(bits);
    // Each flag's line is one of two fixed texts.
    const LINES: [(u16, &str, &str); 8] = [
        (
            0x0e00,
            "000. .... .... = Reserved: Not set",
            "Reserved: Set",
        ),
        (
            0x0100,
            "...0 .... .... = Accurate ECN: Not set",
            "...1 .... .... = Accurate ECN: Set",
        ),
        (
            0x0080,
            ".... 0... .... = Congestion Window Reduced: Not set",
            ".... 1... .... = Congestion Window Reduced: Set",
        ),
        (
            0x0040,
            ".... .0.. .... = ECN-Echo: Not set",
            ".... .1.. .... = ECN-Echo: Set",
        ),
        (
            0x0020,
            ".... ..0. .... = Urgent: Not set",
            ".... ..1. .... = Urgent: Set",
        ),
        (
            0x0010,
            ".... ...0 .... = Acknowledgment: Not set",
            ".... ...1 .... = Acknowledgment: Set",
        ),
        (
            0x0008,
            ".... .... 0... = Push: Not set",
            ".... .... 1... = Push: Set",
        ),
        (
            0x0004,
            ".... .... .0.. = Reset: Not set",
            ".... .... .1.. = Reset: Set",
        ),
    ];
    for (mask, clear, set_text) in LINES {
        if bits & mask == 0 {
            t.text(2, clear);
        } else if mask == 0x0e00 {
            let v = bits as u64;
            t.line(
                2,
                format_args!(
                    "{} = Reserved: Set",
                    Bits {
                        width: 12,
                        mask: 0xe00,
                        value: v
                    }
                ),
            );
        } else {
            t.text(2, set_text);
        }
    }
    if conn.has(ConnectionEvent::RST) {
        expert(
            t,
            3,
            "Warning",
            "Sequence",
            format_args!("Connection reset (RST)"),
        );
    }
    t.text(
        2,
        if bits & 0x002 != 0 {
            ".... .... ..1. = Syn: Set"
        } else {
            ".... .... ..0. = Syn: Not set"
        },
    );
    if conn.has(ConnectionEvent::SYN) {
        expert(
            t,
            3,
            "Chat",
            "Sequence",
            format_args!("Connection establish request (SYN): server port {dport}"),
        );
    }
    if conn.has(ConnectionEvent::SYNACK) {
        expert(
            t,
            3,
            "Chat",
            "Sequence",
            format_args!("Connection establish acknowledge (SYN+ACK): server port {sport}"),
        );
    }
    t.text(
        2,
        if bits & 0x001 != 0 {
            ".... .... ...1 = Fin: Set"
        } else {
            ".... .... ...0 = Fin: Not set"
        },
    );
    if conn.has(ConnectionEvent::FIN) {
        expert(
            t,
            3,
            "Chat",
            "Sequence",
            format_args!("Connection finish (FIN)"),
        );
    }
    field(t, 2, view, ids::TCP_FLAGS_STR, "[TCP Flags: ", "]");
    if conn.has(ConnectionEvent::FIN_ACTIVE) {
        expert(
            t,
            3,
            "Note",
            "Sequence",
            format_args!("This frame initiates the connection closing"),
        );
    }
    if conn.has(ConnectionEvent::FIN_PASSIVE) {
        expert(
            t,
            3,
            "Note",
            "Sequence",
            format_args!("This frame undergoes the connection closing"),
        );
    }
}

impl Tree<'_> {
    fn out_flags_title(&mut self, bits: u16) {
        if !self.open {
            return;
        }
        use std::fmt::Write as _;
        let _ = write!(self.out, "    Flags: 0x{bits:03x} (");
        let mut first = true;
        for (bit, name) in FLAG_NAMES {
            if bits & bit != 0 {
                if !first {
                    self.out.push_str(", ");
                }
                first = false;
                self.out.push_str(name);
            }
        }
        if first {
            self.out.push_str("<None>");
        }
        self.out.push_str(")\n");
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

fn options(
    t: &mut Tree<'_>,
    h: &keepsight_engine::wire::TcpHeader<'_>,
    ack_flag: bool,
    f: &Frame<'_>,
) {
    let raw = h.option_bytes();
    let ack = h.ack();
    if raw.is_empty() {
        return;
    }
    if !t.open {
        return;
    }
    use std::fmt::Write as _;
    let _ = write!(t.out, "    Options: ({} bytes)", raw.len());
    let opts = h.options();
    for o in opts {
        t.out.push_str(", ");
        t.out.push_str(option_name(&o));
    }
    t.out.push('\n');
    let base_ack = f.tcp.as_ref().map_or(0, |i| ack.wrapping_sub(i.ack));
    for o in opts {
        match o {
            TcpOption::Nop => {
                t.text(2, "TCP Option - No-Operation (NOP)");
                t.text(3, "Kind: No-Operation (1)");
            }
            TcpOption::Mss(mss) => {
                t.line(
                    2,
                    format_args!("TCP Option - Maximum segment size: {mss} bytes"),
                );
                t.line(3, format_args!("Kind: Maximum Segment Size (2)"));
                t.line(3, format_args!("Length: 4"));
                t.line(3, format_args!("MSS Value: {mss}"));
            }
            TcpOption::WindowScale(shift) => {
                let mult = 1u64 << shift.min(14);
                t.line(
                    2,
                    format_args!("TCP Option - Window scale: {shift} (multiply by {mult})"),
                );
                t.line(3, format_args!("Kind: Window Scale (3)"));
                t.line(3, format_args!("Length: 3"));
                t.line(3, format_args!("Shift count: {shift}"));
                t.line(3, format_args!("[Multiplier: {mult}]"));
            }
            TcpOption::SackPermitted => {
                t.line(2, format_args!("TCP Option - SACK permitted"));
                t.line(3, format_args!("Kind: SACK Permitted (4)"));
                t.line(3, format_args!("Length: 2"));
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                t.line(
                    2,
                    format_args!("TCP Option - Timestamps: TSval {tsval}, TSecr {tsecr}"),
                );
                t.text(3, "Kind: Time Stamp Option (8)");
                t.text(3, "Length: 10");
                t.num(3, "Timestamp value: ", tsval.into(), "");
                t.num(3, "Timestamp echo reply: ", tsecr.into(), "");
            }
            TcpOption::Sack(blocks) => {
                let edge = |i: usize| {
                    let b = &blocks[i * 4..i * 4 + 4];
                    u32::from_be_bytes([b[0], b[1], b[2], b[3]]).wrapping_sub(base_ack)
                };
                let n = blocks.len() / 8;
                if t.open {
                    t.out.push_str("        TCP Option - SACK");
                    for i in 0..n {
                        let _ = write!(t.out, " {}-{}", edge(2 * i), edge(2 * i + 1));
                    }
                    t.out.push('\n');
                }
                t.line(3, format_args!("Kind: SACK (5)"));
                t.line(3, format_args!("Length: {}", blocks.len() + 2));
                for i in 0..n {
                    t.line(3, format_args!("left edge = {} (relative)", edge(2 * i)));
                    t.line(
                        3,
                        format_args!("right edge = {} (relative)", edge(2 * i + 1)),
                    );
                }
                t.line(3, format_args!("[TCP SACK Count: {n}]"));
                if ack_flag && n > 0 && is_dsack(ack, blocks) {
                    t.line(
                        3,
                        format_args!("[D-SACK Left Edge = {} (relative)]", edge(0)),
                    );
                    t.line(
                        3,
                        format_args!("[D-SACK Right Edge = {} (relative)]", edge(1)),
                    );
                    t.line(3, format_args!("D-SACK Sequence"));
                    expert(t, 4, "Warning", "Sequence", format_args!("D-SACK Sequence"));
                }
            }
            TcpOption::Other { .. } => {}
        }
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

fn analysis(f: &Frame<'_>, view: &dyn Packet, t: &mut Tree<'_>) {
    let Some(info) = f.tcp.as_ref() else {
        return;
    };
    t.line(1, format_args!("[SEQ/ACK analysis]"));
    field(
        t,
        2,
        view,
        ids::TCP_ANALYSIS_ACKS_FRAME,
        "[This is an ACK to the segment in frame: ",
        "]",
    );
    field(
        t,
        2,
        view,
        ids::TCP_ANALYSIS_ACK_RTT,
        "[The RTT to ACK the segment was: ",
        " seconds]",
    );
    field(
        t,
        2,
        view,
        ids::TCP_ANALYSIS_INITIAL_RTT,
        "[iRTT: ",
        " seconds]",
    );
    field(
        t,
        2,
        view,
        ids::TCP_ANALYSIS_BYTES_IN_FLIGHT,
        "[Bytes in flight: ",
        "]",
    );
    field(
        t,
        2,
        view,
        ids::TCP_ANALYSIS_PUSH_BYTES_SENT,
        "[Bytes sent since last PSH flag: ",
        "]",
    );
    let a = info.flags;
    if a.is_empty() {
        return;
    }
    t.line(2, format_args!("[TCP Analysis Flags]"));
    let note = |t: &mut Tree<'_>, sev: &str, msg: &str| {
        expert(t, 3, sev, "Sequence", format_args!("{msg}"))
    };
    const RETRANSMISSION: &str = "This frame is a (suspected) retransmission";
    let rto = |t: &mut Tree<'_>| {
        field(
            t,
            3,
            view,
            ids::TCP_ANALYSIS_RTO,
            "[The RTO for this segment was: ",
            " seconds]",
        );
        field(
            t,
            3,
            view,
            ids::TCP_ANALYSIS_RTO_FRAME,
            "[RTO based on delta from frame: ",
            "]",
        );
    };
    if a.has(flag::REUSED_PORTS) {
        note(
            t,
            "Note",
            "A new tcp session is started with the same ports as an earlier session in this trace",
        );
    }
    if a.has(flag::RETRANSMISSION) {
        note(t, "Note", RETRANSMISSION);
        rto(t);
    }
    if a.has(flag::FAST_RETRANSMISSION) {
        note(t, "Note", "This frame is a (suspected) fast retransmission");
        note(t, "Note", RETRANSMISSION);
    }
    if a.has(flag::SPURIOUS_RETRANSMISSION) {
        note(
            t,
            "Note",
            "This frame is a (suspected) spurious retransmission",
        );
        note(t, "Note", RETRANSMISSION);
    }
    let rest: [(u32, &str, &str); 7] = [
        (
            flag::OUT_OF_ORDER,
            "Warning",
            "This frame is a (suspected) out-of-order segment",
        ),
        (
            flag::LOST_PACKET,
            "Warning",
            "Previous segment(s) not captured (common at capture start)",
        ),
        (
            flag::ACK_LOST_PACKET,
            "Warning",
            "ACKed segment that wasn't captured (common at capture start)",
        ),
        (flag::WINDOW_UPDATE, "Chat", "TCP window update"),
        (
            flag::WINDOW_FULL,
            "Warning",
            "TCP window specified by the receiver is now completely full",
        ),
        (flag::KEEP_ALIVE, "Note", "TCP keep-alive segment"),
        (
            flag::KEEP_ALIVE_ACK,
            "Note",
            "ACK to a TCP keep-alive segment",
        ),
    ];
    for (bit, sev, msg) in rest {
        if a.has(bit) {
            note(t, sev, msg);
        }
    }
    if a.has(flag::DUPLICATE_ACK) && info.dupack_num > 0 {
        t.line(3, format_args!("[This is a TCP duplicate ack]"));
        t.line(2, format_args!("[Duplicate ACK #: {}]", info.dupack_num));
        field(
            t,
            2,
            view,
            ids::TCP_ANALYSIS_DUPLICATE_ACK_FRAME,
            "[Duplicate to the ACK in frame: ",
            "]",
        );
        expert(
            t,
            3,
            "Note",
            "Sequence",
            format_args!("Duplicate ACK (#{})", info.dupack_num),
        );
    }
    if a.has(flag::ZERO_WINDOW_PROBE) {
        note(t, "Note", "TCP Zero Window Probe");
    }
    if a.has(flag::ZERO_WINDOW) {
        note(t, "Warning", "TCP Zero Window segment");
    }
    if a.has(flag::ZERO_WINDOW_PROBE_ACK) {
        note(t, "Note", "ACK to a TCP Zero Window Probe");
    }
}
