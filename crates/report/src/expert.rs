//! `-z expert`: tshark 4.0.17's expert-info table for the TCP items, and keepsight's own
//! diagnosis findings as a group of their own.
//!
//! tshark's rules (reference §3.1, checked on 4.0.17): sections Errors, Warns, Notes, Chats in
//! that order, empty ones omitted; within a section one row per distinct (protocol, summary),
//! in order of first occurrence, with its count.
//!
//! Which items a TCP frame raises, and in which order, follows the TCP dissector: connection
//! items from the flags first (SYN / SYN+ACK with the server port, FIN and whether this side
//! closed first, RST), then D-SACK from the options, then the analysis flags in tshark's print
//! order. What is *not* here: items of dissectors keepsight does not have (ICMPv6, ARP, HTTP,
//! "Malformed Packet" of application dissectors...) and TCP items that need preferences which
//! are off by default (bad checksum). The differential test compares the TCP rows only.

use keepsight_diagnose::report::{Finding, Severity as DSeverity};
use keepsight_engine::tcp::{flag, ConnectionEvent};
use keepsight_engine::wire::TcpOption;
use keepsight_engine::Frame;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

/// tshark's expert severities, lowest first (so `>=` means "at least as severe").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Comment,
    Chat,
    Note,
    Warn,
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

    /// The section title tshark prints.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "Errors",
            Severity::Warn => "Warns",
            Severity::Note => "Notes",
            Severity::Chat => "Chats",
            Severity::Comment => "Comments",
        }
    }
}

/// One expert item raised by one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub severity: Severity,
    pub group: &'static str,
    pub protocol: &'static str,
    pub summary: Cow<'static, str>,
}

fn seq_item(severity: Severity, summary: impl Into<Cow<'static, str>>) -> Item {
    Item {
        severity,
        group: "Sequence",
        protocol: "TCP",
        summary: summary.into(),
    }
}

/// The TCP expert items tshark 4.0.17 adds for this frame, in the order it adds them.
pub fn tcp_items(frame: &Frame<'_>, out: &mut Vec<Item>) {
    use Severity::*;
    let Some(tcp) = frame.tcp.as_ref() else {
        return;
    };
    let Some(h) = frame.dissection.tcp(frame.data()) else {
        return;
    };
    let flags = h.flags().0;
    let conn = tcp.connection;
    // The header's acknowledgment field is dissected before the flags.
    if flags & 0x10 == 0 && h.ack() != 0 {
        out.push(Item {
            severity: Note,
            group: "Protocol",
            protocol: "TCP",
            summary: "The acknowledgment number field is nonzero while the ACK flag is not set"
                .into(),
        });
    }
    if conn.has(ConnectionEvent::SYN) {
        out.push(seq_item(
            Chat,
            format!(
                "Connection establish request (SYN): server port {}",
                h.dst_port()
            ),
        ));
    }
    if conn.has(ConnectionEvent::SYNACK) {
        out.push(seq_item(
            Chat,
            format!(
                "Connection establish acknowledge (SYN+ACK): server port {}",
                h.src_port()
            ),
        ));
    }
    if conn.has(ConnectionEvent::FIN) {
        out.push(seq_item(Chat, "Connection finish (FIN)"));
    }
    if conn.has(ConnectionEvent::FIN_ACTIVE) {
        out.push(seq_item(
            Note,
            "This frame initiates the connection closing",
        ));
    }
    if conn.has(ConnectionEvent::FIN_PASSIVE) {
        out.push(seq_item(
            Note,
            "This frame undergoes the connection closing",
        ));
    }
    if conn.has(ConnectionEvent::RST) {
        out.push(seq_item(Warn, "Connection reset (RST)"));
    }
    if flags & 0x10 != 0 && is_dsack(h.ack(), h.options()) {
        out.push(seq_item(Warn, "D-SACK Sequence"));
    }
    let a = tcp.flags;
    let table: [(u32, Severity, &'static str); 11] = [
        (
            flag::REUSED_PORTS,
            Note,
            "A new tcp session is started with the same ports as an earlier session in this trace",
        ),
        (
            flag::RETRANSMISSION,
            Note,
            "This frame is a (suspected) retransmission",
        ),
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
    for (bit, sev, text) in table {
        if a.has(bit) {
            out.push(seq_item(sev, text));
            // tshark marks fast and spurious retransmissions as retransmissions too, each
            // with its own expert item (checked: bulk-loss-rx 84 + 7 spurious + 1 fast = 92).
            if bit == flag::FAST_RETRANSMISSION || bit == flag::SPURIOUS_RETRANSMISSION {
                out.push(seq_item(Note, "This frame is a (suspected) retransmission"));
            }
        }
    }
    if a.has(flag::DUPLICATE_ACK) && tcp.dupack_num > 0 {
        out.push(seq_item(
            Note,
            format!("Duplicate ACK (#{})", tcp.dupack_num),
        ));
    }
    if a.has(flag::ZERO_WINDOW_PROBE) {
        out.push(seq_item(Note, "TCP Zero Window Probe"));
    }
    if a.has(flag::ZERO_WINDOW) {
        out.push(seq_item(Warn, "TCP Zero Window segment"));
    }
    if a.has(flag::ZERO_WINDOW_PROBE_ACK) {
        out.push(seq_item(Note, "ACK to a TCP Zero Window Probe"));
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

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub severity: Severity,
    pub frequency: u64,
    pub group: Cow<'static, str>,
    pub protocol: Cow<'static, str>,
    pub summary: Cow<'static, str>,
    /// First frame that raised it.
    pub first_frame: u32,
}

/// Accumulates the table; memory grows with the number of distinct rows only.
#[derive(Default)]
pub struct ExpertTable {
    rows: Vec<Row>,
    index: HashMap<(Severity, Cow<'static, str>, Cow<'static, str>), usize>,
    scratch: Vec<Item>,
}

impl ExpertTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Count the TCP items of one (displayed) frame.
    pub fn on_frame(&mut self, frame: &Frame<'_>) {
        let mut items = std::mem::take(&mut self.scratch);
        items.clear();
        tcp_items(frame, &mut items);
        for it in items.drain(..) {
            self.add(it, frame.number);
        }
        self.scratch = items;
    }

    pub fn add(&mut self, it: Item, frame: u32) {
        let key = (it.severity, Cow::Borrowed(it.protocol), it.summary);
        if let Some(&i) = self.index.get(&key) {
            self.rows[i].frequency += 1;
            return;
        }
        self.rows.push(Row {
            severity: it.severity,
            frequency: 1,
            group: Cow::Borrowed(it.group),
            protocol: Cow::Borrowed(it.protocol),
            summary: key.2.clone(),
            first_frame: frame,
        });
        self.index.insert(key, self.rows.len() - 1);
    }

    /// Rows in first-occurrence order (all severities).
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }
}

fn section(out: &mut String, title: &str, rows: &[&Row]) {
    let total: u64 = rows.iter().map(|r| r.frequency).sum();
    let _ = write!(out, "\n{title} ({total})\n=============\n");
    out.push_str("   Frequency      Group           Protocol  Summary\n");
    for r in rows {
        let _ = writeln!(
            out,
            "{:12} {:>10} {:>18}  {}",
            r.frequency, r.group, r.protocol, r.summary
        );
    }
}

/// tshark's layout: one section per severity from Errors down to `min`.
pub fn render_text(rows: &[Row], min: Severity) -> String {
    let mut out = String::new();
    for sev in [
        Severity::Error,
        Severity::Warn,
        Severity::Note,
        Severity::Chat,
        Severity::Comment,
    ] {
        if sev < min {
            continue;
        }
        let these: Vec<&Row> = rows.iter().filter(|r| r.severity == sev).collect();
        if !these.is_empty() {
            section(&mut out, sev.label(), &these);
        }
    }
    out
}

/// The severity a diagnosis finding gets in the expert view.
pub fn finding_severity(f: &Finding) -> Severity {
    match f.severity {
        DSeverity::Critical | DSeverity::Error => Severity::Error,
        DSeverity::Warning => Severity::Warn,
        DSeverity::Info => Severity::Note,
    }
}

/// keepsight's findings as one more section, one row per finding (no count: each
/// finding is about one moment): severity, kind, stream, the message's first line and the
/// first frames that show it.
pub fn render_findings(findings: &[Finding], min: Severity) -> String {
    let shown: Vec<&Finding> = findings
        .iter()
        .filter(|f| finding_severity(f) >= min)
        .collect();
    let mut out = String::new();
    if shown.is_empty() {
        return out;
    }
    let _ = write!(
        out,
        "\nkeepsight findings ({})\n=============\n",
        shown.len()
    );
    // Kinds are longer than tshark's group names, so this section has its own column widths.
    let _ = writeln!(
        out,
        "{:>12} {:<32} {:>14}  Summary",
        "Severity", "Kind", "Stream"
    );
    for f in shown {
        let stream = f
            .stream
            .map(|s| format!("tcp.stream {s}"))
            .unwrap_or_else(|| "-".into());
        let msg = f.message.lines().next().unwrap_or("");
        let frames: Vec<String> = f.frames.iter().take(3).map(|n| n.to_string()).collect();
        let _ = writeln!(
            out,
            "{:>12} {:<32} {:>14}  {} [frames {}]",
            f.severity.as_str(),
            f.kind.as_str(),
            stream,
            msg,
            frames.join(",")
        );
    }
    out
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
    fn table_dedups_by_text_and_keeps_first_order() {
        let mut t = ExpertTable::new();
        t.add(seq_item(Severity::Note, "b"), 1);
        t.add(seq_item(Severity::Note, "a"), 2);
        t.add(seq_item(Severity::Note, "b"), 3);
        t.add(seq_item(Severity::Warn, "b"), 4);
        let r = t.rows();
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].summary.as_ref(), r[0].frequency), ("b", 2));
        let text = render_text(r, Severity::Warn);
        assert!(text.starts_with("\nWarns (1)\n"));
        assert!(!text.contains("Notes"));
    }
}
