//! The text rendering of a [`Report`] (`keepsight http`); the JSON one is [`crate::json`].

use crate::model::{Close, Connection, Kind, Report};
use crate::report::{close_text, estimate_text, secs, verdict_text};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Problem connections first: reuse races, faulty messages, resets, mid-exchange closes.
fn severity(c: &Connection) -> u8 {
    match c.close {
        Close::ReuseRace { .. } => 0,
        _ if c.faulty_count > 0 => 1,
        Close::Reset { .. }
        | Close::ServerClosedMidExchange { .. }
        | Close::ClientGaveUp { .. } => 2,
        Close::ServerIdleTimeout { .. } | Close::ServerRequestLimit { .. } => 3,
        _ => 4,
    }
}

/// The text report of `keepsight http`: totals, how connections ended, the servers' estimated
/// keep-alive settings, then up to `max` connections (problem connections first, listed in
/// stream order) with why each ended and its faulty messages (every message with `all`), then
/// the finding counts. `file` names the capture in the first line.
pub fn render_text(r: &Report, file: &str, all: bool, max: usize) -> String {
    let mut s = String::new();
    let reqs: u64 = r.connections.iter().map(|c| u64::from(c.requests)).sum();
    let resps: u64 = r.connections.iter().map(|c| u64::from(c.responses)).sum();
    let _ = writeln!(
        s,
        "HTTP keep-alive analysis of {file}: {} connection(s), {reqs} request(s), {resps} response(s), {} faulty message(s)",
        r.connections.len(),
        r.faulty_messages
    );
    if r.connections.is_empty() {
        s.push_str("No HTTP/1.x traffic found.\n");
        return s;
    }
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &r.connections {
        *kinds.entry(c.close.kind_name()).or_default() += 1;
    }
    s.push_str("How connections ended: ");
    let parts: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    s.push_str(&parts.join(", "));
    s.push('\n');

    if !r.servers.is_empty() {
        s.push_str("\nServer keep-alive settings (estimated from how the servers closed)\n");
        for e in &r.servers {
            for line in estimate_text(e) {
                let _ = writeln!(s, "  {}  {line}", e.server);
            }
        }
    }

    let mut order: Vec<&Connection> = r.connections.iter().collect();
    order.sort_by_key(|c| (severity(c), c.stream));
    let shown: Vec<&Connection> = {
        let mut v: Vec<&Connection> = order.into_iter().take(max).collect();
        v.sort_by_key(|c| c.stream);
        v
    };
    let _ = writeln!(
        s,
        "\nConnections{}",
        if shown.len() < r.connections.len() {
            format!(
                " ({} of {}, problems first; --max-connections for more, --json for all)",
                shown.len(),
                r.connections.len()
            )
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        s,
        "  {:>6}  {:<45} {:<8} {:>8}  {:>9}  {:<}",
        "stream", "client -> server", "version", "req/resp", "max idle", "end"
    );
    for c in &shown {
        let _ = writeln!(
            s,
            "  {:>6}  {:<45} HTTP/1.{} {:>8}  {:>9}  {}",
            c.stream,
            format!("{} -> {}", c.client, c.server),
            c.version,
            format!("{}/{}", c.requests, c.responses),
            if c.idle_gaps_ns.is_empty() {
                "-".to_string()
            } else {
                secs(c.max_idle_ns)
            },
            c.close.kind_name()
        );
        let _ = writeln!(s, "          why: {}", close_text(&c.close));
        let _ = writeln!(
            s,
            "          headers: {}{}",
            c.connection_header
                .as_deref()
                .map(|h| format!("Connection: {h} — "))
                .unwrap_or_default(),
            c.persistence
        );
        if !c.saw_syn {
            s.push_str("          note: the capture began after this connection opened\n");
        }
        for m in &c.messages {
            let faulty = !m.verdicts.is_empty();
            if !(faulty || all) {
                continue;
            }
            let frames = if m.frame != 0 {
                format!("frames {}-{}", m.first_frame, m.frame)
            } else {
                format!("frames {}- (unfinished)", m.first_frame)
            };
            let pair = match (m.kind, m.request_in, m.response_in) {
                (Kind::Response, Some(f), _) => format!("  (request in frame {f})"),
                (Kind::Request, _, Some(f)) => format!("  (response in frame {f})"),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "          #{} {}  {}{pair}",
                m.number,
                m.line().trim_end(),
                frames
            );
            for v in &m.verdicts {
                let _ = writeln!(s, "             -> {}", verdict_text(m, v));
            }
        }
    }
    if !r.findings.is_empty() {
        s.push_str("\nFindings (the kinds `keepsight diagnose` will report)\n");
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &r.findings {
            *by.entry(f.kind.name()).or_default() += 1;
        }
        for (k, n) in by {
            let _ = writeln!(s, "  {k}: {n}");
        }
    }
    s.push_str(&crate::report::reuse_race_advice_text(r));
    s
}
