//! Expert information of one frame: the items tshark 4.0.17's frame and TCP dissectors raise
//! on it, in the order they raise them. Both `-z expert` (`keepsight expert`) and the
//! `_ws.expert.*` display-filter fields read this one list, so they cannot disagree.
//!
//! Which items a TCP frame raises follows the TCP dissector: the acknowledgment-number check,
//! connection items from the flags (SYN / SYN+ACK with the server port, FIN and which side
//! closed first, RST), D-SACK from the options, then the analysis flags in tshark's print order.
//! Frame-level items come first: a frame length below the captured length (Error/Malformed), a
//! time stamp whose fraction is outside 0..1 s (as tshark reads it), a DLT_USER link type nobody
//! decodes.
//!
//! What is not here: items of dissectors keepsight does not have (ICMPv6, ARP, application
//! protocols; HTTP's chat items are added by the HTTP analysis, which sees whole messages), and
//! TCP items behind preferences that are off by default (bad checksum).

use crate::Frame;
use keepsight_tcp::{flag, ConnectionEvent};
use keepsight_wire::TcpOption;
use std::borrow::Cow;
use std::fmt;

/// tshark's expert severities, lowest first (so `>=` means "at least as severe").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A user's own annotation, e.g. a pcapng packet comment.
    Comment,
    /// Ordinary protocol events worth seeing in a timeline (connection setup, FIN).
    Chat,
    /// Unusual but legitimate behaviour (keep-alives, duplicate ACKs, retransmissions).
    Note,
    /// Something probably went wrong (lost segments, zero window, resets).
    Warn,
    /// The data itself is broken (malformed frames, impossible time stamps).
    Error,
}

impl Severity {
    /// Parses the level names `-z expert` and `--min` accept.
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "error" => Severity::Error,
            "warn" | "warning" => Severity::Warn,
            "note" => Severity::Note,
            "chat" => Severity::Chat,
            "comment" => Severity::Comment,
            _ => return None,
        })
    }

    /// The section title `-z expert` prints.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "Errors",
            Severity::Warn => "Warns",
            Severity::Note => "Notes",
            Severity::Chat => "Chats",
            Severity::Comment => "Comments",
        }
    }

    /// The value of `_ws.expert.severity` (Wireshark's `PI_*` constant).
    pub fn value(self) -> u32 {
        match self {
            Severity::Comment => 0x0010_0000,
            Severity::Chat => 0x0020_0000,
            Severity::Note => 0x0040_0000,
            Severity::Warn => 0x0060_0000,
            Severity::Error => 0x0080_0000,
        }
    }
}

/// tshark's expert groups that keepsight's items use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// Checksum problems (unused by default: tshark does not verify TCP checksums).
    Checksum,
    /// TCP sequence analysis: retransmissions, lost segments, keep-alives, window events.
    Sequence,
    /// Bytes no dissector decodes (DLT_USER link types).
    Undecoded,
    /// Frames whose headers or lengths are impossible.
    Malformed,
    /// Protocol events that are not errors: SYN, FIN, RST and who sent them.
    Protocol,
    /// Comments the capture carries.
    Comment,
}

impl Group {
    /// The name tshark prints in `-z expert`'s Group column.
    pub fn name(self) -> &'static str {
        match self {
            Group::Checksum => "Checksum",
            Group::Sequence => "Sequence",
            Group::Undecoded => "Undecoded",
            Group::Malformed => "Malformed",
            Group::Protocol => "Protocol",
            Group::Comment => "Comment",
        }
    }

    /// The value of `_ws.expert.group` (Wireshark's `PI_*` constant).
    pub fn value(self) -> u32 {
        match self {
            Group::Checksum => 0x0100_0000,
            Group::Sequence => 0x0200_0000,
            Group::Undecoded => 0x0500_0000,
            Group::Malformed => 0x0700_0000,
            Group::Protocol => 0x0900_0000,
            Group::Comment => 0x0b00_0000,
        }
    }
}

/// An item's text. Most are fixed; the few that carry a number are formatted only when a
/// reader asks for the text, so filtering on severity or group costs no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary<'a> {
    /// A fixed text, the same for every frame that raises it.
    Text(&'static str),
    /// Text borrowed from the capture or an analysis: a pcapng packet comment, the first line
    /// of an HTTP message (tshark's HTTP chat item, escaped as tshark escapes it).
    Borrowed(&'a str),
    /// A SYN towards this server port.
    SynServerPort(u16),
    /// A SYN+ACK from this server port.
    SynAckServerPort(u16),
    /// The n-th duplicate of an earlier ACK.
    DuplicateAck(u32),
    /// A time stamp fraction (ns) outside 0..10⁹, as the file wrote it.
    InvalidFraction(i32),
    /// The DLT_USER link type (147–162) of a frame nobody decodes.
    UserLinkType(u32),
}

impl Summary<'_> {
    /// The text as `-z expert` prints it; allocates only for items that carry a number.
    pub fn text(self) -> Cow<'static, str> {
        match self {
            Summary::Text(t) => Cow::Borrowed(t),
            Summary::Borrowed(c) => Cow::Owned(c.to_owned()),
            other => Cow::Owned(other.to_string()),
        }
    }
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Summary::Text(t) | Summary::Borrowed(t) => f.write_str(t),
            Summary::SynServerPort(p) => {
                write!(f, "Connection establish request (SYN): server port {p}")
            }
            Summary::SynAckServerPort(p) => write!(
                f,
                "Connection establish acknowledge (SYN+ACK): server port {p}"
            ),
            Summary::DuplicateAck(n) => write!(f, "Duplicate ACK (#{n})"),
            Summary::InvalidFraction(ns) => write!(
                f,
                "Arrival Time: Fractional second {ns:09} is invalid, the valid range is 0-1000000000"
            ),
            Summary::UserLinkType(dlt) => write!(
                f,
                "User encapsulation not handled: DLT={dlt}, check your Preferences->Protocols->DLT_USER"
            ),
        }
    }
}

/// One expert item raised by one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item<'a> {
    /// How serious it is; `-z expert` sections and `--min` filter on it.
    pub severity: Severity,
    /// What kind of event it is (`_ws.expert.group`).
    pub group: Group,
    /// The protocol column of `-z expert` ("TCP", "Frame").
    pub protocol: &'static str,
    /// What happened, in tshark's words.
    pub summary: Summary<'a>,
}

fn seq(severity: Severity, summary: Summary<'_>) -> Item<'_> {
    Item {
        severity,
        group: Group::Sequence,
        protocol: "TCP",
        summary,
    }
}

/// Calls `sink` for each expert item of `frame`, in tshark's order. Allocates nothing.
pub fn for_each_item<'a>(frame: &Frame<'a>, sink: &mut dyn FnMut(Item<'a>)) {
    use Severity::*;
    let rec = &frame.record;
    for comment in rec.comments() {
        sink(Item {
            severity: Comment,
            group: Group::Comment,
            protocol: "Frame",
            summary: Summary::Borrowed(comment),
        });
    }
    if (rec.orig_len as usize) < rec.data.len() {
        sink(Item {
            severity: Error,
            group: Group::Malformed,
            protocol: "Frame",
            summary: Summary::Text("Frame length is less than captured length"),
        });
    }
    if let Some(ns) = rec.invalid_frac_ns {
        sink(Item {
            severity: Note,
            group: Group::Sequence,
            protocol: "Frame",
            summary: Summary::InvalidFraction(ns),
        });
    }
    // LINKTYPE_USER0..15: tshark hands them to a dissector table that is empty by default.
    if (147..=162).contains(&rec.link_type) {
        sink(Item {
            severity: Warn,
            group: Group::Undecoded,
            protocol: "DLT_USER",
            summary: Summary::UserLinkType(rec.link_type),
        });
    }
    if frame.udp_checksum_illegal() {
        sink(Item {
            severity: Error,
            group: Group::Checksum,
            protocol: "UDP",
            summary: Summary::Text("Illegal checksum value (0)"),
        });
    }
    tcp_items(frame, sink);
    // The Ethernet dissector looks at its trailer after the layers above it are done.
    if frame.eth_trailer().is_some_and(|t| t.padding_bad) {
        sink(Item {
            severity: Note,
            group: Group::Protocol,
            protocol: "Ethertype",
            summary: Summary::Text(
                "Didn't find padding of zeros, and an undecoded trailer exists. There may be padding of non-zeros.",
            ),
        });
    }
}

fn tcp_items<'a>(frame: &Frame<'a>, sink: &mut dyn FnMut(Item<'a>)) {
    use Severity::*;
    let Some(tcp) = frame.tcp.as_ref() else {
        return;
    };
    let Some(h) = frame.tcp_header() else {
        return;
    };
    let flags = h.flags();
    let conn = tcp.connection;
    // The header's acknowledgment field is dissected before the flags.
    if !flags.ack() && h.ack() != 0 {
        sink(Item {
            severity: Note,
            group: Group::Protocol,
            protocol: "TCP",
            summary: Summary::Text(
                "The acknowledgment number field is nonzero while the ACK flag is not set",
            ),
        });
    }
    if conn.has(ConnectionEvent::SYN) {
        sink(seq(Chat, Summary::SynServerPort(h.dst_port())));
    }
    if conn.has(ConnectionEvent::SYNACK) {
        sink(seq(Chat, Summary::SynAckServerPort(h.src_port())));
    }
    if conn.has(ConnectionEvent::FIN) {
        sink(seq(Chat, Summary::Text("Connection finish (FIN)")));
    }
    if conn.has(ConnectionEvent::FIN_ACTIVE) {
        sink(seq(
            Note,
            Summary::Text("This frame initiates the connection closing"),
        ));
    }
    if conn.has(ConnectionEvent::FIN_PASSIVE) {
        sink(seq(
            Note,
            Summary::Text("This frame undergoes the connection closing"),
        ));
    }
    if conn.has(ConnectionEvent::RST) {
        sink(seq(Warn, Summary::Text("Connection reset (RST)")));
    }
    if flags.ack() && is_dsack(h.ack(), h.options()) {
        sink(seq(Warn, Summary::Text("D-SACK Sequence")));
    }
    let a = tcp.flags;
    const RETRANSMISSION: &str = "This frame is a (suspected) retransmission";
    const TABLE: [(u32, Severity, &str); 11] = [
        (
            flag::REUSED_PORTS,
            Note,
            "A new tcp session is started with the same ports as an earlier session in this trace",
        ),
        (flag::RETRANSMISSION, Note, RETRANSMISSION),
        (
            flag::FAST_RETRANSMISSION,
            Note,
            "This frame is a (suspected) fast retransmission",
        ),
        (
            flag::SPURIOUS_RETRANSMISSION,
            Note,
            "This frame is a (suspected) spurious retransmission",
        ),
        (
            flag::OUT_OF_ORDER,
            Warn,
            "This frame is a (suspected) out-of-order segment",
        ),
        (
            flag::LOST_PACKET,
            Warn,
            "Previous segment(s) not captured (common at capture start)",
        ),
        (
            flag::ACK_LOST_PACKET,
            Warn,
            "ACKed segment that wasn't captured (common at capture start)",
        ),
        (flag::WINDOW_UPDATE, Chat, "TCP window update"),
        (
            flag::WINDOW_FULL,
            Warn,
            "TCP window specified by the receiver is now completely full",
        ),
        (flag::KEEP_ALIVE, Note, "TCP keep-alive segment"),
        (
            flag::KEEP_ALIVE_ACK,
            Note,
            "ACK to a TCP keep-alive segment",
        ),
    ];
    for (bit, sev, text) in TABLE {
        if a.has(bit) {
            sink(seq(sev, Summary::Text(text)));
            // tshark marks fast and spurious retransmissions as retransmissions too, each
            // with its own expert item (checked: bulk-loss-rx 84 + 7 spurious + 1 fast = 92).
            if bit == flag::FAST_RETRANSMISSION || bit == flag::SPURIOUS_RETRANSMISSION {
                sink(seq(Note, Summary::Text(RETRANSMISSION)));
            }
        }
    }
    if a.has(flag::DUPLICATE_ACK) && tcp.dupack_num > 0 {
        sink(seq(Note, Summary::DuplicateAck(tcp.dupack_num)));
    }
    if a.has(flag::ZERO_WINDOW_PROBE) {
        sink(seq(Note, Summary::Text("TCP Zero Window Probe")));
    }
    if a.has(flag::ZERO_WINDOW) {
        sink(seq(Warn, Summary::Text("TCP Zero Window segment")));
    }
    if a.has(flag::ZERO_WINDOW_PROBE_ACK) {
        sink(seq(Note, Summary::Text("ACK to a TCP Zero Window Probe")));
    }
}

/// RFC 2883: the first SACK block reports a duplicate when it lies below the cumulative ACK,
/// or inside the second block.
fn is_dsack<'a>(ack: u32, options: impl Iterator<Item = TcpOption<'a>>) -> bool {
    let lt = |a: u32, b: u32| (a.wrapping_sub(b) as i32) < 0;
    let le = |a: u32, b: u32| (a.wrapping_sub(b) as i32) <= 0;
    for o in options {
        if let TcpOption::Sack(blocks) = o {
            let edge = |i: usize| {
                blocks
                    .get(i * 4..i * 4 + 4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            };
            let (Some(l1), Some(r1)) = (edge(0), edge(1)) else {
                return false;
            };
            if lt(l1, ack) {
                return true;
            }
            if let (Some(l2), Some(r2)) = (edge(2), edge(3)) {
                return le(l2, l1) && le(r1, r2);
            }
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsack_rules() {
        let blk = |v: &[u32]| v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
        let b = blk(&[100, 200]);
        assert!(is_dsack(300, [TcpOption::Sack(&b)].into_iter()));
        assert!(!is_dsack(50, [TcpOption::Sack(&b)].into_iter()));
        let b2 = blk(&[500, 600, 400, 700]);
        assert!(is_dsack(300, [TcpOption::Sack(&b2)].into_iter()));
        let b3 = blk(&[500, 600, 800, 900]);
        assert!(!is_dsack(300, [TcpOption::Sack(&b3)].into_iter()));
        assert!(!is_dsack(300, [TcpOption::Sack(&[1, 2])].into_iter()));
    }

    #[test]
    fn summaries_read_as_tshark_prints_them() {
        assert_eq!(
            Summary::SynServerPort(80).text(),
            "Connection establish request (SYN): server port 80"
        );
        assert_eq!(Summary::DuplicateAck(3).text(), "Duplicate ACK (#3)");
        assert!(matches!(Summary::Text("x").text(), Cow::Borrowed("x")));
        assert_eq!(Severity::Warn.value(), 6_291_456);
        assert_eq!(Group::Malformed.value(), 117_440_512);
    }
}
