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

use keepsight_diagnose::report::{Finding, Severity as DSeverity};
use keepsight_engine::Frame;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

pub use keepsight_engine::expert::{for_each_item, Group, Item, Severity, Summary};

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
}

impl ExpertTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Count the expert items of one (displayed) frame.
    pub fn on_frame(&mut self, frame: &Frame<'_>) {
        for_each_item(frame, &mut |it| self.add(it, frame.number));
    }

    pub fn add(&mut self, it: Item<'_>, frame: u32) {
        let key = (it.severity, Cow::Borrowed(it.protocol), it.summary.text());
        if let Some(&i) = self.index.get(&key) {
            self.rows[i].frequency += 1;
            return;
        }
        self.rows.push(Row {
            severity: it.severity,
            frequency: 1,
            group: Cow::Borrowed(it.group.name()),
            protocol: Cow::Borrowed(it.protocol),
            summary: key.2.clone(),
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
            .map(|(i, r)| ((r.severity, r.protocol.clone(), r.summary.clone()), i))
            .collect();
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
}
