//! `-z expert`: tshark 4.0.17's expert-info table for the TCP items, and keepsight's own
//! diagnosis findings as a group of their own.
//!
//! tshark's rules (reference §3.1, checked on 4.0.17): sections Errors, Warns, Notes, Chats in
//! that order, empty ones omitted; within a section one row per distinct (protocol, summary),
//! in order of first occurrence, with its count.
//!
//! Which items a frame raises, and in which order, is `keepsight_engine::expert`'s (the
//! `_ws.expert.*` filter fields read the same list). The differential test compares the TCP
//! rows only.

use keepsight_diagnose::{Diagnoser, Finding, Options, Severity as DSeverity};
use keepsight_engine::Frame;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

pub use keepsight_engine::expert::{for_each_item, Group, Item, Severity, Summary};

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The section the row is printed in.
    pub severity: Severity,
    /// How many items of this kind the displayed frames raised.
    pub frequency: u64,
    /// tshark's group name (`Sequence`, `Malformed`, ...).
    pub group: Cow<'static, str>,
    /// The protocol column (`TCP`, `HTTP`, `Frame`).
    pub protocol: Cow<'static, str>,
    /// The item's text; rows are distinct per severity, protocol and text.
    pub summary: Cow<'static, str>,
    /// First frame that raised it.
    pub first_frame: u32,
}

/// Accumulates the table; memory grows with the number of distinct rows only.
#[derive(Default)]
pub struct ExpertTable {
    rows: Vec<Row>,
    index: HashMap<RowKey, usize>,
}

/// What makes two items one row of `-z expert`: tshark counts items with the same severity,
/// protocol and text together.
#[derive(PartialEq, Eq, Hash)]
struct RowKey {
    severity: Severity,
    protocol: Cow<'static, str>,
    summary: Cow<'static, str>,
}

impl ExpertTable {
    /// An empty table, before the first frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Count the expert items of one (displayed) frame.
    pub fn on_frame(&mut self, frame: &Frame<'_>) {
        for_each_item(frame, &mut |it| self.add(it, frame.number));
    }

    /// Counts one item raised in `frame`, for items that do not come from
    /// [`ExpertTable::on_frame`] (keepsight's own, added by callers).
    pub fn add(&mut self, it: Item<'_>, frame: u32) {
        self.add_count(it, frame, 1);
    }

    /// `count` occurrences of one item at once, the first of them in `frame`: the same as
    /// `count` calls of [`ExpertTable::add`].
    pub fn add_count(&mut self, it: Item<'_>, frame: u32, count: u64) {
        let key = RowKey {
            severity: it.severity,
            protocol: Cow::Borrowed(it.protocol),
            summary: it.summary.text(),
        };
        if let Some(&i) = self.index.get(&key) {
            self.rows[i].frequency += count;
            return;
        }
        self.rows.push(Row {
            severity: it.severity,
            frequency: count,
            group: Cow::Borrowed(it.group.name()),
            protocol: Cow::Borrowed(it.protocol),
            summary: key.summary.clone(),
            first_frame: frame,
        });
        self.index.insert(key, self.rows.len() - 1);
    }

    /// Puts the rows back in order of the frame that first raised them, for items added after
    /// the pass (HTTP chat items, known only once the HTTP analysis is done). Stable, so items
    /// of one frame keep the order they were added in.
    pub fn order_by_first_frame(&mut self) {
        self.rows.sort_by_key(|r| r.first_frame);
        self.index = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let key = RowKey {
                    severity: r.severity,
                    protocol: r.protocol.clone(),
                    summary: r.summary.clone(),
                };
                (key, i)
            })
            .collect();
    }

    /// Rows in first-occurrence order (all severities).
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }
}

/// The HTTP chat items (one per HTTP message, on the frame the message ends in), counted per
/// distinct text while the pass goes: memory grows with the distinct texts, not with the
/// messages. The table's order needs, per text, the first frame that raised it and, among
/// texts first raised in the same frame (pipelined messages, so the same connection), their
/// order in that connection: `first` keeps both.
#[derive(Default)]
pub struct HttpChats {
    rows: HashMap<String, Chat>,
    line: String,
    seen: u64,
}

struct Chat {
    count: u64,
    first: FirstSeen,
}

/// Where a chat text was first raised. Ordered by frame, then by arrival: messages of one
/// connection arrive in their order, so arrival orders pipelined messages within a frame.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct FirstSeen {
    frame: u32,
    arrival: u64,
}

impl HttpChats {
    /// No message counted yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one HTTP message whose frame is displayed. Messages of one connection must come
    /// in their order (as [`keepsight_http::Analyzer::drain_messages`] gives them); messages
    /// that never ended (frame 0) raise nothing, as in tshark.
    pub fn add(&mut self, m: &keepsight_http::Message) {
        if m.frame == 0 {
            return;
        }
        self.seen += 1;
        let at = FirstSeen {
            frame: m.frame,
            arrival: self.seen,
        };
        self.line.clear();
        keepsight_http::expert_line(m, &mut self.line);
        match self.rows.get_mut(self.line.as_str()) {
            Some(c) => {
                c.count += 1;
                c.first = c.first.min(at);
            }
            None => {
                self.rows.insert(
                    self.line.clone(),
                    Chat {
                        count: 1,
                        first: at,
                    },
                );
            }
        }
    }

    /// Adds the counted items to `table` (then [`ExpertTable::order_by_first_frame`] puts
    /// them in place).
    pub fn into_table(self, table: &mut ExpertTable) {
        let mut rows: Vec<(String, Chat)> = self.rows.into_iter().collect();
        rows.sort_unstable_by_key(|(_, c)| c.first);
        for (text, c) in rows {
            table.add_count(
                Item {
                    severity: Severity::Chat,
                    group: Group::Sequence,
                    protocol: "HTTP",
                    summary: Summary::Borrowed(&text),
                },
                c.first.frame,
                c.count,
            );
        }
    }
}

/// `keepsight expert`'s pass: tshark's table over the displayed frames, the HTTP chat items of
/// the displayed frames, and keepsight's findings over every frame (they are about whole
/// connections, so a display filter does not narrow what the diagnosis sees).
pub struct ExpertPass {
    table: ExpertTable,
    diagnoser: Option<Diagnoser>,
    http: keepsight_http::Analyzer,
    chats: HttpChats,
    /// With a display filter: which frames it let through (one bit a frame), because HTTP chat
    /// items belong to the frame a message ends in, known once the message is over.
    displayed: Option<Vec<u64>>,
    frames: u32,
}

impl ExpertPass {
    /// `findings`: add keepsight's findings (not with `--tshark`); `filtered`: a display filter
    /// decides which frames count (pass its verdict to [`ExpertPass::on_frame`]).
    pub fn new(findings: bool, filtered: bool) -> Self {
        ExpertPass {
            table: ExpertTable::new(),
            diagnoser: findings.then(|| Diagnoser::new(Options::default()).lists_notable()),
            // Finished messages are drained from the analyzer as the pass goes and only their
            // texts' counts kept, so memory follows distinct texts and live connections.
            http: keepsight_http::Analyzer::new(keepsight_http::Options {
                keep_all_messages: true,
            }),
            chats: HttpChats::new(),
            displayed: filtered.then(Vec::new),
            frames: 0,
        }
    }

    /// Every frame in file order; `displayed`: whether the display filter lets it through.
    #[inline] // once per packet, into the caller's read loop
    pub fn on_frame(&mut self, frame: &Frame<'_>, displayed: bool) {
        if let Some(seg) = frame.segment() {
            if let Some(d) = self.diagnoser.as_mut() {
                d.on_segment(&seg);
            }
            self.http.segment(&seg);
        }
        if displayed {
            self.table.on_frame(frame);
            if let Some(bits) = self.displayed.as_mut() {
                let (word, bit) = ((frame.number / 64) as usize, frame.number % 64);
                if bits.len() <= word {
                    bits.resize(word + 1, 0);
                }
                bits[word] |= 1 << bit;
            }
        }
        self.frames += 1;
        // Every 8,192 frames: a walk over the live connections, rare enough to cost nothing.
        if self.frames.is_multiple_of(8192) {
            let (chats, displayed) = (&mut self.chats, &self.displayed);
            self.http.drain_messages(&mut |m| {
                if is_displayed(displayed, m.frame) {
                    chats.add(m);
                }
            });
        }
    }

    /// The table in tshark's order, and the findings unless `findings` was false.
    /// `last_ns`: the capture's last frame time, where still-open streams end.
    pub fn finish(self, last_ns: i64) -> Expert {
        let ExpertPass {
            mut table,
            diagnoser,
            http,
            mut chats,
            displayed,
            ..
        } = self;
        let report = http.finish();
        for m in report.connections.iter().flat_map(|c| &c.messages) {
            if is_displayed(&displayed, m.frame) {
                chats.add(m);
            }
        }
        chats.into_table(&mut table);
        table.order_by_first_frame();
        Expert {
            table,
            findings: diagnoser.map(|d| {
                let listing = keepsight_diagnose::Listing::Notable { also: &|_| false };
                d.finish_listing(last_ns, listing).findings
            }),
        }
    }
}

fn is_displayed(displayed: &Option<Vec<u64>>, frame: u32) -> bool {
    displayed.as_ref().is_none_or(|bits| {
        bits.get((frame / 64) as usize)
            .is_some_and(|w| w & (1 << (frame % 64)) != 0)
    })
}

/// The finished expert view.
pub struct Expert {
    /// tshark's `-z expert` table over the displayed frames, HTTP chat items included.
    pub table: ExpertTable,
    /// keepsight's findings (`None` with `--tshark`).
    pub findings: Option<Vec<Finding>>,
}

impl Expert {
    /// tshark's sections down to `min`, then keepsight's findings.
    pub fn render_text(&self, min: Severity) -> String {
        let mut out = render_text(self.table.rows(), min);
        if let Some(f) = &self.findings {
            out.push_str(&render_findings(f, min));
        }
        out
    }

    /// `{"expert": [rows...], "findings": [...]}` down to `min` (objects with their keys
    /// sorted, as serde_json's `Value` keeps them).
    pub fn to_json(&self, min: Severity) -> serde_json::Value {
        let rows: Vec<&Row> = self
            .table
            .rows()
            .iter()
            .filter(|r| r.severity >= min)
            .collect();
        let shown: Vec<&Finding> = self
            .findings
            .iter()
            .flatten()
            .filter(|f| finding_severity(f) >= min)
            .collect();
        serde_json::json!({ "expert": rows, "findings": shown })
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
            f.kind().as_str(),
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
    fn table_dedups_by_text_and_keeps_first_order() {
        let mut t = ExpertTable::new();
        let item = |severity, text| Item {
            severity,
            group: Group::Sequence,
            protocol: "TCP",
            summary: Summary::Text(text),
        };
        t.add(item(Severity::Note, "b"), 1);
        t.add(item(Severity::Note, "a"), 2);
        t.add(item(Severity::Note, "b"), 3);
        t.add(item(Severity::Warn, "b"), 4);
        let r = t.rows();
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].summary.as_ref(), r[0].frequency), ("b", 2));
        let text = render_text(r, Severity::Warn);
        assert!(text.starts_with("\nWarns (1)\n"));
        assert!(!text.contains("Notes"));
    }

    fn request(frame: u32, uri: &str) -> keepsight_http::Message {
        keepsight_http::Message {
            kind: keepsight_http::Kind::Request,
            stream: 0,
            number: 1,
            first_frame: frame,
            header_frame: frame,
            frame,
            first_ts_ns: 0,
            ts_ns: 0,
            version: 1,
            method: Some("GET".into()),
            uri: Some(uri.into()),
            code: None,
            phrase: None,
            host: None,
            connection: None,
            keep_alive: None,
            content_length: None,
            transfer_encoding: None,
            content_type: None,
            framing: keepsight_http::Framing::NoBody,
            body_bytes: 0,
            request_in: None,
            response_in: None,
            time_ns: None,
            verdicts: Vec::new(),
        }
    }

    /// Counting HTTP chats per text as they come gives what adding each message in frame order
    /// gives (the order `keepsight expert` had when it kept every message until the end).
    #[test]
    fn http_chats_equal_adding_each_message_in_frame_order() {
        // Arrival order is per connection, not per frame: /b's connection ends later but
        // raised /b first (frame 3); /c and /d are pipelined in frame 9, in that order.
        let arrivals = [
            request(5, "/a"),
            request(9, "/c"),
            request(9, "/d"),
            request(12, "/a"),
            request(3, "/b"),
            request(7, "/a"),
            request(0, "/never-ended"),
        ];
        let mut chats = HttpChats::new();
        let mut counted = ExpertTable::new();
        counted.add(
            Item {
                severity: Severity::Note,
                group: Group::Sequence,
                protocol: "TCP",
                summary: Summary::Text("tcp"),
            },
            5,
        );
        let mut each = ExpertTable::new();
        each.add(
            Item {
                severity: Severity::Note,
                group: Group::Sequence,
                protocol: "TCP",
                summary: Summary::Text("tcp"),
            },
            5,
        );
        for m in &arrivals {
            chats.add(m);
        }
        chats.into_table(&mut counted);
        let mut by_frame: Vec<_> = arrivals.iter().filter(|m| m.frame != 0).collect();
        by_frame.sort_by_key(|m| m.frame);
        for m in by_frame {
            let mut line = String::new();
            keepsight_http::expert_line(m, &mut line);
            each.add(
                Item {
                    severity: Severity::Chat,
                    group: Group::Sequence,
                    protocol: "HTTP",
                    summary: Summary::Borrowed(&line),
                },
                m.frame,
            );
        }
        counted.order_by_first_frame();
        each.order_by_first_frame();
        let view = |t: &ExpertTable| -> Vec<(String, u64, u32)> {
            t.rows()
                .iter()
                .map(|r| (r.summary.to_string(), r.frequency, r.first_frame))
                .collect()
        };
        assert_eq!(view(&counted), view(&each));
        assert_eq!(
            view(&counted)
                .iter()
                .map(|r| (r.0.as_str(), r.1))
                .collect::<Vec<_>>(),
            [
                ("GET /b HTTP/1.1\\r\\n", 1),
                // Counted during the pass, so before the HTTP row of the same frame.
                ("tcp", 1),
                ("GET /a HTTP/1.1\\r\\n", 3),
                ("GET /c HTTP/1.1\\r\\n", 1),
                ("GET /d HTTP/1.1\\r\\n", 1),
            ]
        );
    }
}
