//! The page: static HTML for the summary and findings, one JSON blob for the script.

use super::collect::{EventKind, Track};
use crate::conv::{Ending, Row};
use keepsight_diagnose::finding::DeadlineCause;
use keepsight_diagnose::middlebox::Middlebox;
use keepsight_diagnose::report::StreamReport;
use keepsight_diagnose::{Details, Kind, Report, Severity};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

const CSS: &str = include_str!("report.css");
const JS: &str = include_str!("report.js");

/// Caps that keep the page small whatever the capture.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Streams drawn in detail (timeline, heartbeat chart).
    pub streams: usize,
    /// Findings listed per kind (the page says how many more there are).
    pub findings_per_kind: usize,
    /// Rows of the conversation table.
    pub conversations: usize,
    /// HTTP connections listed.
    pub http_connections: usize,
    /// HTTP messages with a verdict listed.
    pub http_messages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            streams: 30,
            findings_per_kind: 40,
            conversations: 5000,
            http_connections: 2000,
            http_messages: 500,
        }
    }
}

/// Everything the page is made of.
pub struct Input<'a> {
    /// The capture's name as the user gave it.
    pub file: &'a str,
    /// Time of the capture's first frame (the origin of every relative time), if any.
    pub first_ns: Option<i64>,
    /// The findings and conclusions the page leads with.
    pub diagnosis: &'a Report,
    /// The HTTP keep-alive and framing analysis, drawn per connection.
    pub http: &'a keepsight_http::Report,
    /// The conversation table, in tshark's order: at least the first
    /// [`Limits::conversations`] rows and, of the others, every one a finding names or a
    /// track draws (the page lists no other).
    pub conversations: &'a [Row],
    /// Conversations in the whole table.
    pub conversations_total: usize,
    /// Per-stream timeline sketches (stream → track), for the streams kept.
    pub tracks: &'a HashMap<u32, Track>,
    /// Streams whose timeline was not kept (the collector's cap).
    pub tracks_dropped: u64,
    /// The middlebox idle timeouts idle gaps are compared with.
    pub middleboxes: &'a [Middlebox],
    /// A damaged capture: where reading stopped.
    pub damage: Option<String>,
    /// The caps that keep the page small.
    pub limits: Limits,
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn sev_name(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

fn r6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Builds the whole HTML document.
pub fn render(inp: &Input<'_>) -> String {
    let origin = inp.first_ns.unwrap_or(0);
    let rel = |ns: i64| r6(ns.saturating_sub(origin) as f64 / 1e9);
    let d = inp.diagnosis;
    let lim = inp.limits;

    // Findings by (severity, kind), in the diagnosis' order (most severe first).
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, f) in d.findings.iter().enumerate() {
        match groups.last_mut() {
            Some(g)
                if {
                    let f0 = &d.findings[g[0]];
                    (f0.severity, f0.kind()) == (f.severity, f.kind())
                } =>
            {
                g.push(i)
            }
            _ => groups.push(vec![i]),
        }
    }
    // Which streams to draw: those the findings name, taking one of each kind in turn (most
    // severe kind first) so every kind of trouble gets an example; then the most eventful of
    // the rest.
    let mut order: Vec<u32> = Vec::new();
    let mut seen = HashSet::new();
    let streams_of = |f: &keepsight_diagnose::Finding| f.streams().collect::<Vec<u32>>();
    let mut cursors = vec![0usize; groups.len()];
    while order.len() < lim.streams {
        let mut progressed = false;
        for (g, cur) in groups.iter().zip(cursors.iter_mut()) {
            // The next finding of this kind whose stream is new and has a timeline.
            while *cur < g.len() {
                let i = g[*cur];
                *cur += 1;
                let fresh: Vec<u32> = streams_of(&d.findings[i])
                    .into_iter()
                    .filter(|s| inp.tracks.contains_key(s) && !seen.contains(s))
                    .collect();
                if !fresh.is_empty() {
                    for s in fresh {
                        seen.insert(s);
                        order.push(s);
                    }
                    progressed = true;
                    break;
                }
            }
        }
        if !progressed {
            break;
        }
    }
    let mut with_findings = 0;
    for g in &groups {
        for &i in g {
            for s in streams_of(&d.findings[i]) {
                if inp.tracks.contains_key(&s) && seen.insert(s) {
                    with_findings += 1;
                }
            }
        }
    }
    let mut rest: Vec<&Track> = inp
        .tracks
        .values()
        .filter(|t| !seen.contains(&t.stream))
        .collect();
    rest.sort_by_key(|t| (std::cmp::Reverse(t.score()), t.stream));
    let total_candidates = order.len() + with_findings + rest.len();
    order.extend(rest.iter().map(|t| t.stream));
    order.truncate(lim.streams);
    let drawn: HashSet<u32> = order.iter().copied().collect();

    // Findings listed: per kind, those on drawn streams first (they link to their evidence),
    // at most `findings_per_kind`.
    let listed: Vec<Vec<usize>> = groups
        .iter()
        .map(|g| {
            let mut v = g.clone();
            v.sort_by_key(|&i| !d.findings[i].stream.is_some_and(|s| drawn.contains(&s)));
            v.truncate(lim.findings_per_kind);
            v
        })
        .collect();
    let shown: HashSet<usize> = listed.iter().flatten().copied().collect();

    let stream_report = |s: u32| -> Option<&StreamReport> {
        d.streams
            .binary_search_by_key(&s, |r| r.stream)
            .ok()
            .map(|i| &d.streams[i])
    };
    let http_by_stream: HashMap<u32, &keepsight_http::Connection> =
        inp.http.connections.iter().map(|c| (c.stream, c)).collect();

    // Findings for the script (markers on timelines), with their index as id.
    let findings_js: Vec<Value> = d
        .findings
        .iter()
        .enumerate()
        .filter(|(i, _)| shown.contains(i))
        .map(|(i, f)| {
            json!({
                "id": i,
                "severity": sev_name(f.severity),
                "kind": f.kind().as_str(),
                "stream": f.stream,
                "frames": f.frames,
                "t": rel(f.ts_ns),
            })
        })
        .collect();

    let details: Vec<Value> = order
        .iter()
        .filter_map(|&s| {
            Some(stream_detail(
                inp,
                inp.tracks.get(&s)?,
                stream_report(s),
                &http_by_stream,
                &shown,
                &rel,
            ))
        })
        .collect();

    let conv_rows: Vec<Value> = conversation_rows(inp, &drawn, &rel);
    let http = http_data(inp, &rel);
    let data = json!({
        "file": inp.file,
        "origin": inp.first_ns.map(keepsight_diagnose::civil::fmt_utc),
        "duration_s": d.capture.duration_s,
        "middleboxes": inp.middleboxes.iter().map(|m| json!({"name": m.name, "timeout_s": m.idle_timeout_s})).collect::<Vec<_>>(),
        "findings": findings_js,
        "streams": details,
        "streams_not_drawn": total_candidates.saturating_sub(order.len()) as u64 + inp.tracks_dropped,
        "conversations": conv_rows,
        "conversations_total": inp.conversations_total,
        "http": http,
    });
    let blob = serde_json::to_string(&data)
        .unwrap_or_else(|_| "{}".into())
        // '<' occurs only inside JSON strings, where \u003c means the same: no `</script>` can
        // end the blob early.
        .replace('<', "\\u003c");

    let mut h = String::with_capacity(blob.len() + 64 * 1024);
    let title = format!("keepsight report: {}", inp.file);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head>\n<body data-status=\"loading\">\n",
        esc(&title)
    );
    header(&mut h, inp);
    summary(&mut h, inp, &rel, &drawn);
    attempts(&mut h, inp, &drawn);
    findings(&mut h, inp, &groups, &listed, &drawn);
    log_section(&mut h, inp);
    h.push_str(
        "<section id=\"timelines\"><h2>Stream timelines</h2>\
         <p class=\"note\" id=\"timelines-note\"></p><div id=\"streams\"></div></section>\n\
         <section id=\"http\"><h2>HTTP connections</h2><div id=\"http-body\"></div></section>\n\
         <section id=\"conversations\"><h2>Conversations</h2><p class=\"note\" id=\"conv-note\"></p>\
         <div id=\"conv-body\"></div></section>\n\
         <footer>Made by <code>keepsight report</code>. Everything on this page is in this file; \
         it fetches nothing.</footer>\n\
         <pre id=\"js-errors\" hidden></pre>\n",
    );
    let _ = write!(
        h,
        "<script id=\"data\" type=\"application/json\">{blob}</script>\n<script>{JS}</script>\n</body></html>\n"
    );
    h
}

fn header(h: &mut String, inp: &Input<'_>) {
    let c = &inp.diagnosis.capture;
    let _ = write!(
        h,
        "<header><h1>keepsight report <span class=\"file\">{}</span></h1><p class=\"meta\">{} TCP segments, {} streams, {:.1} s",
        esc(inp.file),
        c.segments,
        c.streams,
        c.duration_s
    );
    if let (Some(s), Some(e)) = (&c.start, &c.end) {
        let _ = write!(h, " ({} .. {})", esc(s), esc(e));
    }
    h.push_str(". Times on this page are seconds from the first frame.</p>");
    if let Some(dmg) = &inp.damage {
        let _ = write!(
            h,
            "<p class=\"damage\">The capture is damaged: {}. Everything before it was analysed.</p>",
            esc(dmg)
        );
    }
    h.push_str("</header>\n");
}

fn summary(h: &mut String, inp: &Input<'_>, rel: &dyn Fn(i64) -> f64, drawn: &HashSet<u32>) {
    let d = inp.diagnosis;
    h.push_str("<section id=\"summary\"><h2>What happened</h2>");
    if d.summary.is_empty() {
        h.push_str("<p>Nothing abnormal found: no resets after late heartbeats, no dead peers, no idle drops.</p>");
    } else {
        h.push_str("<ul class=\"summary\">");
        for s in &d.summary {
            let _ = write!(h, "<li>{}</li>", esc(s));
        }
        h.push_str("</ul>");
    }
    // What ended each connection that did not end cleanly, with its most severe finding.
    let mut ends: Vec<(&StreamReport, Option<&keepsight_diagnose::Finding>)> = d
        .streams
        .iter()
        .filter(|s| s.close.as_ref().is_some_and(|c| c.kind == "rst"))
        .map(|s| {
            let worst = d
                .findings
                .iter()
                .find(|f| f.stream == Some(s.stream) && f.kind() != Kind::LogMatch);
            (s, worst)
        })
        // A refused or aborted attempt (a handshake at most, no finding of its own) was no
        // connection: the connection attempts section counts it.
        .filter(|(s, worst)| worst.is_some() || s.packets > 3)
        .collect();
    ends.sort_by_key(|(s, f)| {
        (
            f.map(|f| f.severity).unwrap_or(Severity::Info),
            !drawn.contains(&s.stream),
            s.stream,
        )
    });
    if !ends.is_empty() {
        let n = ends.len();
        let _ = write!(
            h,
            "<h3>Connections that were reset ({n})</h3><table class=\"kills\"><thead><tr><th>stream</th>\
             <th>client → server</th><th>reset by</th><th>at (s)</th><th>why</th></tr></thead><tbody>"
        );
        for (s, f) in ends.iter().take(20) {
            let c = s.close.as_ref().expect("filtered on close");
            let at = inp
                .tracks
                .get(&s.stream)
                .and_then(|t| t.events.iter().find(|e| e.frame == c.frame))
                .map(|e| format!("{:.3}", rel(e.ts_ns)))
                .unwrap_or_else(|| esc(&c.time.to_string()));
            let why = f
                .map(|f| {
                    format!(
                        "<span class=\"sev {}\">{}</span> {}",
                        sev_name(f.severity),
                        f.kind().as_str(),
                        esc(first_sentence(&f.message))
                    )
                })
                .unwrap_or_default();
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{} → {}</td><td>{} (frame {})</td><td>{at}</td><td>{why}</td></tr>",
                stream_link(s.stream, drawn),
                esc(&s.endpoints.client.to_string()),
                esc(&s.endpoints.server.to_string()),
                c.by,
                c.frame
            );
        }
        h.push_str("</tbody></table>");
        if n > 20 {
            let _ = write!(h, "<p class=\"note\">{} more reset connections are in the findings and the conversation table.</p>", n - 20);
        }
    }
    h.push_str("</section>\n");
}

/// Connection attempts that failed, one row per finding about them: unanswered and refused
/// SYNs by server, scans by source, reconnect storms by client (at most 20 rows of each).
fn attempts(h: &mut String, inp: &Input<'_>, drawn: &HashSet<u32>) {
    let d = inp.diagnosis;
    let rows: Vec<&keepsight_diagnose::Finding> = d
        .findings
        .iter()
        .filter(|f| {
            matches!(
                f.details,
                Details::SynUnanswered(_)
                    | Details::ConnectionRefused(_)
                    | Details::Scan(_)
                    | Details::ReconnectStorm(_)
            )
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        h,
        "<section id=\"attempts\"><h2>Connection attempts</h2><table class=\"kills\"><thead><tr>\
         <th>finding</th><th>who</th><th>attempts</th><th>what it looks like</th></tr></thead><tbody>"
    );
    let mut shown: HashMap<Kind, usize> = HashMap::new();
    let mut more = 0;
    for f in rows {
        let n = shown.entry(f.kind()).or_default();
        if *n == 20 {
            more += 1;
            continue;
        }
        *n += 1;
        let (who, attempts, what) = match &f.details {
            Details::SynUnanswered(u) => (
                format!("{} (ports {})", u.server, ports_list(&u.ports)),
                format!("{} ({} SYNs, {:.0}/s)", u.attempts, u.syns, u.rate_per_s),
                format!(
                    "{} from {} source(s)",
                    serde_json::to_value(u.verdict)
                        .ok()
                        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
                        .unwrap_or_default(),
                    u.sources
                ),
            ),
            Details::ConnectionRefused(r) => (
                format!("{} (ports {})", r.server, ports_list(&r.ports)),
                r.attempts.to_string(),
                format!("refused (RST) for {} source(s)", r.sources),
            ),
            Details::Scan(sc) => (
                sc.source.clone(),
                sc.attempts.to_string(),
                format!(
                    "{} port(s) on {} host(s): {} answered, {} refused, {} unanswered",
                    sc.ports, sc.hosts, sc.answered, sc.refused, sc.unanswered
                ),
            ),
            Details::ReconnectStorm(st) => (
                format!("{} → {}", st.client, st.server),
                st.attempts.to_string(),
                format!(
                    "{}, {:.3} s spacing{}{}",
                    if st.backoff == "none" {
                        "no backoff".to_string()
                    } else {
                        format!("{} backoff", st.backoff)
                    },
                    st.spacing_s,
                    st.got_through
                        .map(|s| format!("; through on stream {}", stream_link(s, drawn)))
                        .unwrap_or_else(|| "; never through".into()),
                    st.after
                        .as_ref()
                        .map(|a| format!("; after stream {} ended", stream_link(a.stream, drawn)))
                        .unwrap_or_default()
                ),
            ),
            _ => continue,
        };
        let sev = sev_name(f.severity);
        let _ = write!(
            h,
            "<tr><td><span class=\"sev {sev}\">{sev}</span> {}</td><td>{}</td><td>{}</td><td>{what}</td></tr>",
            f.kind().as_str(),
            esc(&who),
            esc(&attempts)
        );
    }
    h.push_str("</tbody></table>");
    if more > 0 {
        let _ = write!(
            h,
            "<p class=\"note\">{more} more are in the findings below.</p>"
        );
    }
    h.push_str("</section>\n");
}

fn ports_list(ports: &[keepsight_diagnose::finding::PortTally]) -> String {
    let mut v: Vec<String> = ports.iter().take(5).map(|p| p.port.to_string()).collect();
    if ports.len() > 5 {
        v.push("…".into());
    }
    v.join(", ")
}

fn first_sentence(s: &str) -> &str {
    match s.find(" → ") {
        Some(i) => &s[..i],
        None => s,
    }
}

fn stream_link(s: u32, drawn: &HashSet<u32>) -> String {
    if drawn.contains(&s) {
        format!("<a href=\"#s-{s}\">{s}</a>")
    } else {
        s.to_string()
    }
}

fn findings(
    h: &mut String,
    inp: &Input<'_>,
    groups: &[Vec<usize>],
    listed: &[Vec<usize>],
    drawn: &HashSet<u32>,
) {
    let d = inp.diagnosis;
    let _ = write!(
        h,
        "<section id=\"findings\"><h2>Findings ({})</h2>",
        d.findings.len()
    );
    if d.findings.is_empty() {
        h.push_str("<p>None.</p>");
    }
    // Grouped by severity and kind: a few of each in view, the rest folded, so a capture with
    // hundreds of the same finding still reads top-down.
    let mut hidden = 0;
    for (g, idx) in groups.iter().zip(listed) {
        let f0 = &d.findings[g[0]];
        let sev = sev_name(f0.severity);
        let kind = f0.kind().as_str();
        let _ = write!(
            h,
            "<div class=\"group\"><h3><span class=\"sev {sev}\">{sev}</span> {kind} × {}</h3><ol class=\"findings\">",
            g.len()
        );
        for (n, &i) in idx.iter().enumerate() {
            if n == FINDINGS_IN_VIEW {
                let _ = write!(
                    h,
                    "</ol><details><summary>{} more {kind}</summary><ol class=\"findings\" start=\"{}\">",
                    idx.len() - n,
                    n + 1
                );
            }
            finding_item(h, inp, i, drawn);
        }
        h.push_str("</ol>");
        if idx.len() > FINDINGS_IN_VIEW {
            h.push_str("</details>");
        }
        if g.len() > idx.len() {
            let _ = write!(
                h,
                "<p class=\"note\">{} more {kind} not listed here.</p>",
                g.len() - idx.len()
            );
            hidden += g.len() - idx.len();
        }
        h.push_str("</div>");
    }
    if hidden > 0 || d.findings_dropped > 0 {
        let _ = write!(
            h,
            "<p class=\"note\">{} findings are not listed here and {} were not kept by the analysis; \
             <code>keepsight diagnose --json</code> lists every kept one.</p>",
            hidden, d.findings_dropped
        );
    }
    h.push_str("</section>\n");
}

/// Findings of one kind shown before the rest are folded.
const FINDINGS_IN_VIEW: usize = 3;

fn finding_item(h: &mut String, inp: &Input<'_>, i: usize, drawn: &HashSet<u32>) {
    let f = &inp.diagnosis.findings[i];
    let sev = sev_name(f.severity);
    let stream = f
        .stream
        .map(|s| format!(" stream {}", stream_link(s, drawn)))
        .unwrap_or_default();
    let frames: Vec<String> = f.frames.iter().map(|x| x.to_string()).collect();
    let evidence = match f.stream {
        Some(s) if drawn.contains(&s) && !f.frames.is_empty() => format!(
            " <a class=\"evidence\" href=\"#s-{s}\" data-stream=\"{s}\" data-frames=\"{}\">evidence: frames {}</a>",
            frames.join(","),
            frames.join(", ")
        ),
        _ if !f.frames.is_empty() => {
            format!(" <span class=\"evidence\">frames {}</span>", frames.join(", "))
        }
        _ => String::new(),
    };
    let _ = write!(
        h,
        "<li id=\"f-{i}\" class=\"finding {sev}\"><span class=\"sev {sev}\">{sev}</span> \
         <b>{}</b>{stream} at {}{evidence}<div class=\"msg\">{}</div>",
        f.kind().as_str(),
        esc(&f.time),
        esc(&f.message)
    );
    if !f.frames.is_empty() {
        let filter: Vec<String> = f.frames.iter().map(|x| x.to_string()).collect();
        let _ = write!(
            h,
            "<div class=\"cmd\">keepsight packets {} -Y 'frame.number in {{{}}}'</div>",
            esc(&shell_quote(inp.file)),
            filter.join(", ")
        );
    }
    h.push_str("</li>");
}

fn shell_quote(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+:,".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn log_section(h: &mut String, inp: &Input<'_>) {
    let d = inp.diagnosis;
    let logs: Vec<&keepsight_diagnose::report::LogSummary> = if d.logs.len() > 1 {
        d.logs.iter().collect()
    } else {
        d.log.iter().collect()
    };
    if logs.is_empty() {
        return;
    }
    h.push_str("<section id=\"log\"><h2>Application log</h2>");
    for l in logs {
        h.push_str("<p>");
        if d.logs.len() > 1 {
            let _ = write!(h, "<code>{}</code>: ", esc(&l.file));
        }
        let _ = write!(
            h,
            "{} lines ({}), {} name an error or restart, {} matched to capture events",
            l.lines,
            esc(&l.reading()),
            l.event_lines,
            l.matched
        );
        if let Some(o) = l.clock_offset_s {
            let _ = write!(h, " (capture clock − log clock ≈ {o:+.2} s");
            if let Some(s) = l.clock_offset_spread_s {
                let _ = write!(h, ", spread {:.3} s over the lines", s);
            }
            h.push(')');
        }
        h.push_str(". Matched lines are drawn on the timelines and listed as <code>log_match</code> findings.</p>");
        if !l.unmatched.is_empty() {
            h.push_str("<p>Event lines with no capture event around them (what the log saw that the wire does not show):</p><ul class=\"loglines\">");
            for u in &l.unmatched {
                let _ = write!(h, "<li>line {}: <code>{}</code></li>", u.line, esc(&u.text));
            }
            h.push_str("</ul>");
        }
    }
    h.push_str("</section>\n");
}

fn stream_detail(
    inp: &Input<'_>,
    t: &Track,
    sr: Option<&StreamReport>,
    http: &HashMap<u32, &keepsight_http::Connection>,
    shown: &HashSet<usize>,
    rel: &dyn Fn(i64) -> f64,
) -> Value {
    let d = inp.diagnosis;
    let a = t.a.to_string();
    // Which side endpoint A is, in the diagnosis' terms.
    let a_is_client = sr.map(|s| s.endpoints.client == t.a).unwrap_or(true);
    let side = |from_a: bool| {
        if from_a == a_is_client {
            "client"
        } else {
            "server"
        }
    };
    let mut late: Vec<u32> = Vec::new();
    let mut missed: Vec<u32> = Vec::new();
    let mut finding_ids = Vec::new();
    // Frames that begin an idle gap after which a middlebox had forgotten the connection.
    let mut state_loss: Vec<u32> = Vec::new();
    let mut logs = Vec::new();
    for (i, f) in d.findings.iter().enumerate() {
        let on_stream = f.streams().any(|s| s == t.stream);
        if !on_stream {
            continue;
        }
        if shown.contains(&i) {
            finding_ids.push(i);
        }
        match &f.details {
            Details::LateHeartbeat(_) => late.extend(f.frames.get(1)),
            Details::ResetAfterHeartbeatDeadline(d) if d.cause == DeadlineCause::LateProbe => {
                late.extend(f.frames.get(1))
            }
            Details::MissedHeartbeat(_) => missed.extend(f.frames.last()),
            Details::MiddleboxStateLoss(_) => state_loss.extend(f.frames.first()),
            Details::LogMatch(m) => logs.push(json!({
                "t": rel(f.ts_ns),
                "line": m.line,
                "text": m.log_text,
                "finding": i,
            })),
            _ => {}
        }
    }
    late.sort_unstable();
    late.dedup();
    let hb = sr.and_then(|s| s.heartbeat.as_ref());
    let beats = hb.and_then(|h| {
        let from_a = (h.sender == "client") == a_is_client;
        let sig = t.heartbeat(from_a, &h.probe_hex, h.probe_len)?;
        let pts: Vec<Value> = sig
            .all_points()
            .iter()
            .map(|p| {
                json!([
                    rel(p.ts_ns),
                    r6(p.gap_max_ns as f64 / 1e9),
                    r6(p.gap_min_ns as f64 / 1e9),
                    p.frame,
                    p.beats
                ])
            })
            .collect();
        Some(json!({
            "first": [rel(sig.first_ns), sig.first_frame],
            "count": sig.count,
            "per_point": sig.per_point,
            "points": pts,
        }))
    });
    // A keep-alive probe carries its answer: [t, frame] of the peer's keep-alive ACK, or null.
    let events: Vec<Value> = t
        .events
        .iter()
        .map(|e| match (e.kind, e.answer) {
            (EventKind::KeepAlive, a) => json!([
                rel(e.ts_ns),
                e.kind.name(),
                e.frame,
                side(e.from_a),
                a.map(|answer| json!([rel(answer.ts_ns), answer.frame]))
            ]),
            _ => json!([rel(e.ts_ns), e.kind.name(), e.frame, side(e.from_a)]),
        })
        .collect();
    let conn = http.get(&t.stream).copied();
    let exchanges = http_exchanges(t, conn, rel);
    let gaps: Vec<Value> = t
        .gaps
        .iter()
        .map(|g| {
            let len = g.len_ns() as f64 / 1e9;
            let mut beyond: Vec<&str> = inp
                .middleboxes
                .iter()
                .filter(|m| f64::from(m.idle_timeout_s) < len)
                .map(|m| m.name)
                .collect();
            if state_loss.contains(&g.from_frame) {
                beyond.push("the middlebox that lost this connection (middlebox_state_loss)");
            }
            json!([
                rel(g.from_ns),
                rel(g.to_ns),
                g.from_frame,
                g.to_frame,
                r6(len),
                beyond
            ])
        })
        .collect();
    let counts = &t.buckets;
    json!({
        "stream": t.stream,
        "client": sr.map(|s| s.endpoints.client.to_string()).unwrap_or(a),
        "server": sr.map(|s| s.endpoints.server.to_string()),
        "t0": rel(t.first_ns),
        "t1": rel(t.last_ns),
        "packets": t.packets,
        "close": sr.and_then(|s| s.close.as_ref()).map(|c| json!({"kind": c.kind, "by": c.by, "frame": c.frame})),
        "heartbeat": hb.map(|h| json!({
            "sender": h.sender, "probe": h.probe_hex, "reply": h.reply_hex,
            "period_s": h.period_s, "tolerance_s": h.tolerance_s, "jitter_s": h.jitter_s,
            "beats": h.beats, "latency_ms": h.reply_latency_ms.as_ref().map(|l| l.median),
        })),
        "beats": beats,
        "late": late,
        "missed": missed,
        "keepalive": sr.map(|s| &s.tcp_keepalive),
        "buckets": {"w": r6(t.bucket_ns as f64 / 1e9), "c": counts},
        "events": events,
        "events_dropped": t.events_dropped,
        "gaps": gaps,
        "logs": logs,
        "findings": finding_ids,
        "http": conn.map(|c| json!({
            "requests": c.requests, "responses": c.responses,
            "close": keepsight_http::report::close_text(&c.close),
            "close_kind": c.close.kind_name(),
        })),
        "exchanges": exchanges,
        "ka": {"probes": t.ka_probes, "answered": t.ka_answered},
        "has": {
            "rst": t.events.iter().any(|e| e.kind == EventKind::Rst),
        },
    })
}

/// The HTTP exchanges drawn on a stream's timeline: each kept one as [request time, response
/// time or null, request frame, response frame or null, mark, what the mark means], where the
/// mark is "race" for the request of a reuse race, "fault" for an exchange with a framing fault
/// (both verdicts of the HTTP analyser), else "". When more requests were seen than kept,
/// `buckets` holds the requests per packet bucket, and `marks` the analyser's faults that fall
/// on exchanges not kept.
fn http_exchanges(
    t: &Track,
    conn: Option<&keepsight_http::Connection>,
    rel: &dyn Fn(i64) -> f64,
) -> Value {
    if t.requests == 0 && conn.is_none() {
        return Value::Null;
    }
    let race = conn.and_then(|c| match &c.close {
        keepsight_http::Close::ReuseRace { request_frame, .. } => {
            Some((*request_frame, keepsight_http::report::close_text(&c.close)))
        }
        _ => None,
    });
    // Faulty messages by their first frame (the segment the collector saw begin them).
    let mut faults: HashMap<u32, (i64, Vec<String>)> = HashMap::new();
    for m in conn
        .iter()
        .flat_map(|c| c.messages.iter())
        .filter(|m| m.is_faulty())
    {
        let texts = m
            .verdicts
            .iter()
            .filter(|v| v.is_fault())
            .map(|v| keepsight_http::report::verdict_text(m, v))
            .collect();
        faults.insert(m.first_frame, (m.first_ts_ns, texts));
    }
    let mut used = HashSet::new();
    let list: Vec<Value> = t
        .exchanges
        .iter()
        .map(|x| {
            let resp_frame = x.resp.map(|r| r.frame);
            let (mark, why) = match (
                &race,
                faults.get(&x.req_frame),
                resp_frame.and_then(|f| faults.get(&f)),
            ) {
                (Some((f, text)), _, _) if *f == x.req_frame => ("race", text.clone()),
                (_, Some((_, w)), _) => {
                    used.insert(x.req_frame);
                    ("fault", w.join("; "))
                }
                (_, _, Some((_, w))) => {
                    used.extend(resp_frame);
                    ("fault", w.join("; "))
                }
                _ => ("", String::new()),
            };
            json!([
                rel(x.req_ns),
                x.resp.map(|r| rel(r.ts_ns)),
                x.req_frame,
                resp_frame,
                mark,
                why
            ])
        })
        .collect();
    let mut marks: Vec<Value> = faults
        .iter()
        .filter(|(f, _)| !used.contains(f))
        .map(|(f, (ts, w))| json!([rel(*ts), f, "fault", w.join("; ")]))
        .collect();
    marks.sort_by(|a, b| a[1].as_u64().cmp(&b[1].as_u64()));
    let complete = t.exchanges.len() as u64 == t.requests;
    json!({
        "list": list,
        "seen": t.requests,
        "buckets": if complete { Value::Null } else { json!(t.request_buckets) },
        "marks": marks,
    })
}

fn conversation_rows(
    inp: &Input<'_>,
    drawn: &HashSet<u32>,
    rel: &dyn Fn(i64) -> f64,
) -> Vec<Value> {
    let flagged: HashSet<u32> = inp
        .diagnosis
        .findings
        .iter()
        .filter_map(|f| f.stream)
        .collect();
    let row = |r: &Row| {
        json!([
            r.stream,
            r.a.to_string(),
            r.b.to_string(),
            r.frames_ab,
            r.bytes_ab,
            r.frames_ba,
            r.bytes_ba,
            rel(r.first_ns),
            r6(r.duration_ns() as f64 / 1e9),
            match r.ending {
                Ending::Rst => "rst",
                Ending::Fin => "fin",
                Ending::Open => "open",
            },
            r.closed_by,
            r6(r.max_idle_ns as f64 / 1e9),
            r.heartbeat_period_s,
            drawn.contains(&r.stream),
            flagged.contains(&r.stream),
        ])
    };
    // The biggest conversations (tshark's order), plus every one the findings name.
    let cap = inp.limits.conversations;
    let mut out: Vec<Value> = inp.conversations.iter().take(cap).map(row).collect();
    out.extend(
        inp.conversations
            .iter()
            .skip(cap)
            .filter(|r| flagged.contains(&r.stream) || drawn.contains(&r.stream))
            .take(cap / 5)
            .map(row),
    );
    out
}

/// The frames a connection's row lights up on its timeline: its reuse-race request and the
/// first frames of its faulty messages (where the timeline draws them), else every request.
fn highlight_frames(c: &keepsight_http::Connection) -> Vec<u32> {
    let mut v: Vec<u32> = c
        .messages
        .iter()
        .filter(|m| m.is_faulty())
        .map(|m| m.first_frame)
        .collect();
    if let keepsight_http::Close::ReuseRace { request_frame, .. } = c.close {
        v.push(request_frame);
    }
    v.sort_unstable();
    v.dedup();
    v.truncate(50);
    v
}

fn http_data(inp: &Input<'_>, rel: &dyn Fn(i64) -> f64) -> Value {
    let h = inp.http;
    let mut conns: Vec<&keepsight_http::Connection> = h.connections.iter().collect();
    // Faulty and badly closed first, then by stream.
    conns.sort_by_key(|c| {
        let bad = matches!(
            c.close,
            keepsight_http::Close::ReuseRace { .. }
                | keepsight_http::Close::Reset { .. }
                | keepsight_http::Close::ServerClosedMidExchange { .. }
        );
        (c.faulty_count == 0, !bad, c.stream)
    });
    let cap = inp.limits.http_connections;
    let rows: Vec<Value> = conns
        .iter()
        .take(cap)
        .map(|c| {
            json!([
                c.stream,
                c.client.to_string(),
                c.server.to_string(),
                c.requests,
                c.responses,
                r6(c.max_idle_ns as f64 / 1e9),
                c.close.kind_name(),
                keepsight_http::report::close_text(&c.close),
                c.faulty_count,
                rel(c.first_ts_ns),
                highlight_frames(c),
            ])
        })
        .collect();
    let mut faults = Vec::new();
    'outer: for c in &conns {
        for m in c.messages.iter().filter(|m| m.is_faulty()) {
            if faults.len() >= inp.limits.http_messages {
                break 'outer;
            }
            let texts: Vec<String> = m
                .verdicts
                .iter()
                .filter(|v| v.is_fault())
                .map(|v| keepsight_http::report::verdict_text(m, v))
                .collect();
            faults.push(json!([
                c.stream,
                m.frame,
                m.line(),
                texts,
                // A message that never ended has no end time: its start stands in.
                rel(if m.frame == 0 { m.first_ts_ns } else { m.ts_ns }),
                m.first_frame
            ]));
        }
    }
    let servers: Vec<Value> = h
        .servers
        .iter()
        .map(|s| {
            json!([
                s.server.to_string(),
                keepsight_http::report::estimate_text(s)
            ])
        })
        .collect();
    json!({
        "connections": rows,
        "connections_total": h.connections.len(),
        "faults": faults,
        "faulty_total": h.connections.iter().map(|c| c.faulty_count).sum::<u64>(),
        "servers": servers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_script_end() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        let blob = serde_json::to_string(&json!({"t": "</script><b>"}))
            .unwrap()
            .replace('<', "\\u003c");
        assert!(!blob.contains("</script"));
        let back: Value = serde_json::from_str(&blob).unwrap();
        assert_eq!(back["t"], "</script><b>");
    }

    /// Many streams, each with a long heartbeat and a late beat then a reset: the page keeps to
    /// its caps (streams drawn, findings listed) and stays far below 5 MB.
    #[test]
    fn page_size_is_bounded_by_the_caps() {
        use keepsight_diagnose::{Diagnoser, Options};
        use keepsight_tcp::{AnalysisFlags, Segment, TcpFlags};
        let mut d = Diagnoser::new(Options::default());
        let mut tl = super::super::Timelines::new(240);
        let mut frame = 0u32;
        let streams = 700u32;
        for s in 0..streams {
            let a: std::net::SocketAddr = format!("10.0.{}.{}:40000", s / 200, s % 200 + 1)
                .parse()
                .unwrap();
            let b: std::net::SocketAddr = "10.9.9.9:7443".parse().unwrap();
            let base = i64::from(s) * 1_000_000_000;
            let mut seq = [1u32, 1u32];
            let mut send = |d: &mut Diagnoser,
                            tl: &mut super::super::Timelines,
                            ts: i64,
                            from_a: bool,
                            fl: u16,
                            p: &'static [u8]| {
                frame += 1;
                let (src, dst) = if from_a { (a, b) } else { (b, a) };
                let i = usize::from(!from_a);
                let seg = Segment {
                    frame,
                    ts_ns: ts,
                    stream: s,
                    src,
                    dst,
                    flags: TcpFlags(fl),
                    seq: seq[i],
                    ack: seq[1 - i],
                    len: p.len() as u32,
                    payload: p,
                    window: 65535,
                    ttl: 64,
                    analysis: AnalysisFlags::default(),
                };
                seq[i] += p.len() as u32;
                d.on_segment(&seg);
                tl.on_segment(&seg);
            };
            send(&mut d, &mut tl, base, true, 0x02, b"");
            send(&mut d, &mut tl, base + 1000, false, 0x12, b"");
            let mut t = base;
            for k in 0..600 {
                t += if k == 500 {
                    4_300_000_000
                } else {
                    3_000_000_000
                };
                send(&mut d, &mut tl, t, true, 0x18, b"\x01");
                send(&mut d, &mut tl, t + 50_000, false, 0x18, b"\x41");
            }
            send(&mut d, &mut tl, t + 100_000, true, 0x14, b"");
        }
        let report = d.finish(i64::from(streams) * 1_000_000_000 + 2_000_000_000_000);
        assert!(report.findings.len() > 1000, "{}", report.findings.len());
        let (tracks, dropped) = tl.finish();
        let http = keepsight_http::Report::default();
        let mb = keepsight_diagnose::middlebox::DEFAULT_TABLE.to_vec();
        let page = render(&Input {
            file: "synthetic.pcap",
            first_ns: Some(0),
            diagnosis: &report,
            http: &http,
            conversations: &[],
            conversations_total: 0,
            tracks: &tracks,
            tracks_dropped: dropped,
            middleboxes: &mb,
            damage: None,
            limits: Limits::default(),
        });
        assert!(page.len() < 2_000_000, "{} bytes", page.len());
        // Two kinds (reset after deadline, late heartbeat) of 700 each, 40 listed of each.
        assert_eq!(
            page.matches("<li id=\"f-").count(),
            80,
            "{}",
            report.findings.len()
        );
        let blob = between(
            &page,
            "<script id=\"data\" type=\"application/json\">",
            "</script>",
        );
        let data: Value = serde_json::from_str(blob).unwrap();
        assert_eq!(data["streams"].as_array().unwrap().len(), 30);
        let drawn = &data["streams"][0];
        // 600 beats merged into at most POINTS points, the late one (frame of beat 500) intact.
        let pts = drawn["beats"]["points"].as_array().unwrap();
        assert!(pts.len() <= super::super::collect::POINTS + 1);
        let max = pts
            .iter()
            .map(|p| p[1].as_f64().unwrap())
            .fold(0.0, f64::max);
        assert!((max - 4.3).abs() < 1e-6, "{max}");
        assert_eq!(drawn["late"].as_array().unwrap().len(), 1);
    }

    fn between<'a>(s: &'a str, a: &str, b: &str) -> &'a str {
        let i = s.find(a).unwrap() + a.len();
        &s[i..i + s[i..].find(b).unwrap()]
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("a/b.pcap"), "a/b.pcap");
        assert_eq!(shell_quote("it's here.pcap"), "'it'\\''s here.pcap'");
    }
}
