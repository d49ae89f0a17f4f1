//! From finished connections to the report: findings for `keepsight diagnose`, server-setting
//! estimates, the meaning of `Connection`/`Keep-Alive` headers, and sentences for people.

use crate::advice;
use crate::drain::{classify, drain, CloseCounts, ConnectionTally};
use crate::model::{
    Close, Connection, Drain, DrainFinding, Finding, FindingDetails, FindingKind, Kind, Message,
    Report, ReuseRaceFinding, ServerEstimate, Side, Verdict,
};
use crate::parse::{end_text, has_token};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// What the last response's `Connection` and `Keep-Alive` headers mean for this version.
pub fn persistence(
    version: u8,
    connection: Option<&str>,
    any_response: bool,
    ka_timeout: Option<u64>,
    ka_max: Option<u64>,
) -> Cow<'static, str> {
    if !any_response {
        return Cow::Borrowed("no response seen");
    }
    let close = has_token(connection, "close");
    let ka = has_token(connection, "keep-alive");
    let base: &'static str = match (version, close, ka) {
        (_, true, _) => "Connection: close: the server closes after this response",
        (0, false, true) => {
            "HTTP/1.0 with Connection: keep-alive: persistent by explicit agreement"
        }
        (0, false, false) => "HTTP/1.0 without keep-alive: the server closes after each response",
        (_, false, _) => "HTTP/1.1: persistent unless either side says close",
    };
    // Most connections carry no Keep-Alive hints: their text is one of the four above, not a
    // copy of it per connection.
    if ka_timeout.is_none() && ka_max.is_none() {
        return Cow::Borrowed(base);
    }
    let mut s = base.to_string();
    // Keep-Alive (RFC 2068 §19.7.1, informative): hints, not promises; nginx sends timeout= only
    // when keepalive_timeout has a second value.
    if let Some(t) = ka_timeout {
        s.push_str(&format!(
            "; Keep-Alive: timeout={t}: the server says it keeps an idle connection about {t} s"
        ));
    }
    if let Some(m) = ka_max {
        s.push_str(&format!("; max={m}: about {m} more requests allowed on it"));
    }
    Cow::Owned(s)
}

/// Nanoseconds as seconds with millisecond digits, for text: `1.500 s`.
pub fn secs(ns: i64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

/// One sentence for a verdict on a message.
pub fn verdict_text(m: &Message, v: &Verdict) -> String {
    let what = match m.kind {
        Kind::Request => "request",
        Kind::Response => "response",
    };
    match v {
        Verdict::BodyShorterThanLength {
            declared,
            received,
            ended,
        } => format!(
            "body shorter than Content-Length: declared {declared}, only {received} bytes came before {}; the client waits for {} more bytes (or, if the next response follows, reads its first bytes as this body)",
            end_text(*ended),
            declared.saturating_sub(*received)
        ),
        Verdict::BodyLongerThanLength {
            declared,
            excess,
            excess_frame,
            next_frame,
        } => match next_frame {
            Some(n) => format!(
                "body longer than Content-Length: {declared} declared, {excess} stray byte(s) after it (frame {excess_frame}) sit in front of the next {what} (frame {n}); a client that follows Content-Length reads them as the start of that {what}"
            ),
            None => format!(
                "body longer than Content-Length: {declared} declared, {excess} stray byte(s) after it (frame {excess_frame}) until the connection ended"
            ),
        },
        Verdict::UnterminatedChunked { received, ended } => format!(
            "chunked body never ended: {received} encoded bytes, no last chunk (0) before {}",
            end_text(*ended)
        ),
        Verdict::InvalidChunk { frame, line } => {
            format!("invalid chunk size line in frame {frame}: \"{line}\"; the body cannot be followed")
        }
        Verdict::TeAndLength => "both Content-Length and Transfer-Encoding: chunked was used; a proxy that picks Content-Length frames it differently (request smuggling risk)".into(),
        Verdict::DuplicateContentLength { values } => format!(
            "several differing Content-Length values ({}): clients and proxies may disagree on the body length",
            values.join(", ")
        ),
        Verdict::InvalidContentLength { value } => {
            format!("Content-Length \"{value}\" is not a number")
        }
        Verdict::ResponseWithoutRequest => {
            "response without a request on this connection (or the capture began mid-connection)".into()
        }
        Verdict::HeadersIncomplete { received, ended } => format!(
            "header section incomplete: {received} bytes before {}",
            end_text(*ended)
        ),
        Verdict::CaptureGap { bytes } => {
            format!("the capture misses {bytes} bytes of this {what} (not a fault of the sender)")
        }
        Verdict::CutByCaptureEnd { received } => {
            format!("the capture ended while this {what} was arriving ({received} body bytes so far)")
        }
    }
}

/// One sentence for a connection's end.
pub fn close_text(c: &Close) -> String {
    match c {
        Close::ServerIdleTimeout { frame, idle_ns } => format!(
            "server closed the idle connection (FIN frame {frame}) {} after its last response: its keep-alive timeout",
            secs(*idle_ns)
        ),
        Close::ServerRequestLimit { frame, after } => format!(
            "server said Connection: close on response {after} and closed (FIN frame {frame}): a per-connection request limit (nginx keepalive_requests = {after}?)"
        ),
        Close::ServerSaidClose { frame, after } => format!(
            "server said Connection: close on response {after} and closed (FIN frame {frame}): keep-alive off (or a request limit of {after})"
        ),
        Close::ServerDrain { frame, after } => format!(
            "server said Connection: close on response {after} and closed (FIN frame {frame}): it is draining its connections (it closes after varying numbers of requests, see http_drain), not applying a request limit"
        ),
        Close::ClientAskedClose { frame } => {
            format!("client asked for Connection: close; server closed (FIN frame {frame})")
        }
        Close::ServerEndOfBody { frame } => format!(
            "server closed to end a close-delimited body (FIN frame {frame}): expected, but the connection cannot be reused"
        ),
        Close::ServerClosedMidExchange { frame } => format!(
            "server closed (FIN frame {frame}) with a response unfinished or a request unanswered"
        ),
        Close::ReuseRace {
            request_frame,
            fin_frame,
            rst_frame,
            idle_ns,
            sent_after_fin_ns,
        } => {
            let when = if *sent_after_fin_ns >= 0 {
                format!("{} after the server's FIN (frame {fin_frame})", secs(*sent_after_fin_ns))
            } else {
                format!("while the server's FIN (frame {fin_frame}) was in flight")
            };
            let rst = match rst_frame {
                Some(r) => format!("; the server answered with RST (frame {r})"),
                None => "; it was never answered".into(),
            };
            format!(
                "REUSE RACE: the server closed the idle connection after {}, and the client sent a request (frame {request_frame}) {when}{rst}. The client sees 'connection reset' / empty reply; retry idempotent requests, or make the client's idle timeout shorter than the server's",
                secs(*idle_ns)
            )
        }
        Close::ClientClose { frame, idle_ns } => format!(
            "client closed (FIN frame {frame}) {} after the last response",
            secs(*idle_ns)
        ),
        Close::ClientGaveUp { frame, waited_ns } => format!(
            "client gave up (FIN frame {frame}) after waiting {} for a response that did not complete",
            secs(*waited_ns)
        ),
        Close::Reset {
            by,
            frame,
            while_waiting,
        } => format!(
            "{} reset the connection (RST frame {frame}){}",
            match by {
                Side::Client => "client",
                Side::Server => "server",
            },
            if *while_waiting {
                " while a request was outstanding"
            } else {
                ""
            }
        ),
        Close::Tunnel { frame } => format!(
            "left HTTP for a tunnel (101 upgrade or CONNECT); the tunnel ended at frame {frame}"
        ),
        Close::Open => "still open when the capture ended".into(),
    }
}

fn finding_kind(v: &Verdict) -> Option<FindingKind> {
    Some(match v {
        Verdict::BodyShorterThanLength { .. } => FindingKind::HttpBodyShorterThanLength,
        Verdict::BodyLongerThanLength { .. } => FindingKind::HttpBodyLongerThanLength,
        Verdict::UnterminatedChunked { .. } => FindingKind::HttpUnterminatedChunked,
        Verdict::InvalidChunk { .. } => FindingKind::HttpInvalidChunk,
        Verdict::TeAndLength => FindingKind::HttpTeAndLength,
        Verdict::DuplicateContentLength { .. } => FindingKind::HttpDuplicateContentLength,
        Verdict::ResponseWithoutRequest => FindingKind::HttpResponseWithoutRequest,
        _ => return None,
    })
}

/// The report of finished connections: problem connections first, findings and server
/// estimates derived from their closes.
pub fn build(mut connections: Vec<Connection>) -> Report {
    let mut findings = Vec::new();
    let mut servers: BTreeMap<std::net::SocketAddr, ServerEstimate> = BTreeMap::new();
    // Per server: the response numbers it said close at, the most responses a connection got
    // without being told to close, and each connection's tally (for the drain numbers).
    let mut closes: BTreeMap<std::net::SocketAddr, CloseStats> = BTreeMap::new();
    let mut messages = 0;
    let mut faulty = 0;
    for c in &connections {
        messages += c.message_count;
        faulty += c.faulty_count;
        for m in &c.messages {
            for v in &m.verdicts {
                if let Some(kind) = finding_kind(v) {
                    let frame = if m.frame != 0 {
                        m.frame
                    } else {
                        m.header_frame.max(m.first_frame)
                    };
                    findings.push(crate::model::Finding {
                        kind,
                        stream: c.stream,
                        frame,
                        ts_ns: m.first_ts_ns,
                        text: format!("{}: {}", m.line(), verdict_text(m, v)),
                        details: None,
                    });
                }
            }
        }
        let e = servers.entry(c.server).or_insert_with(|| ServerEstimate {
            server: c.server,
            idle_closes: 0,
            idle_timeout_min_ns: None,
            idle_timeout_max_ns: None,
            longest_survived_idle_ns: 0,
            announced_timeout_s: None,
            limit_closes: Vec::new(),
            request_limit: None,
            drain: None,
        });
        e.longest_survived_idle_ns = e.longest_survived_idle_ns.max(c.max_idle_ns);
        e.announced_timeout_s = e.announced_timeout_s.or(c.keep_alive_timeout_s);
        match &c.close {
            Close::ServerIdleTimeout { idle_ns, .. } | Close::ReuseRace { idle_ns, .. } => {
                e.idle_closes += 1;
                e.idle_timeout_min_ns =
                    Some(e.idle_timeout_min_ns.map_or(*idle_ns, |m| m.min(*idle_ns)));
                e.idle_timeout_max_ns =
                    Some(e.idle_timeout_max_ns.map_or(*idle_ns, |m| m.max(*idle_ns)));
            }
            Close::ServerRequestLimit { after, .. } => e.limit_closes.push(*after),
            _ => {}
        }
        let stats = closes.entry(c.server).or_default();
        let said_close = server_said_close(c);
        if let Some(after) = said_close {
            stats.closed_at.push(after);
        } else {
            stats.most_served_without_close = stats.most_served_without_close.max(c.responses);
        }
        stats.connections.push(ConnectionTally {
            first_ts_ns: c.first_ts_ns,
            responses: c.responses,
            closed: said_close.is_some(),
        });
    }
    for (addr, stats) in closes.iter_mut() {
        let e = servers.get_mut(addr).expect("every server has an estimate");
        match classify(&stats.closed_at, stats.most_served_without_close) {
            CloseCounts::Limit(n) if !e.limit_closes.is_empty() => e.request_limit = Some(n),
            CloseCounts::Drain => e.drain = Some(drain(&mut stats.connections)),
            _ => {}
        }
    }
    // A draining server's closes are not request limits: say so on each connection.
    for c in connections.iter_mut() {
        if servers.get(&c.server).is_some_and(|e| e.drain.is_some()) {
            if let Close::ServerRequestLimit { frame, after }
            | Close::ServerSaidClose { frame, after } = c.close
            {
                if server_said_close(c).is_some() {
                    c.close = Close::ServerDrain { frame, after };
                }
            }
        }
    }
    for c in &connections {
        let (kind, frame) = match &c.close {
            Close::ServerIdleTimeout { frame, .. } => (FindingKind::HttpIdleClose, *frame),
            Close::ReuseRace { request_frame, .. } => (FindingKind::HttpReuseRace, *request_frame),
            Close::ServerRequestLimit { frame, .. } => (FindingKind::HttpRequestLimitClose, *frame),
            _ => continue,
        };
        let mut text = close_text(&c.close);
        let details = match kind {
            FindingKind::HttpReuseRace => servers
                .get(&c.server)
                .and_then(|e| e.idle_timeout_min_ns)
                .map(|idle| {
                    let advice = advice::for_server_idle_timeout(idle);
                    text.push_str(&format!(
                        ". This server closed idle connections after {}; keep clients' idle pooled connections shorter: {}",
                        secs(idle),
                        advice::advice_lines(&advice).join("; ")
                    ));
                    FindingDetails::ReuseRace(ReuseRaceFinding {
                        advice,
                        server_idle_timeout_s: (idle as f64 / 1e6).round() / 1e3,
                    })
                }),
            _ => None,
        };
        findings.push(Finding {
            kind,
            stream: c.stream,
            frame,
            ts_ns: c.last_ts_ns,
            text,
            details,
        });
    }
    for e in servers.values() {
        if let Some(d) = &e.drain {
            findings.push(drain_finding(e.server, d, &connections));
        }
    }
    let mut servers: Vec<ServerEstimate> = servers
        .into_values()
        .filter(|e| e.idle_closes > 0 || !e.limit_closes.is_empty() || e.drain.is_some())
        .collect();
    servers.sort_by_key(|e| e.server);
    findings.sort_by_key(|f| (f.frame, f.stream));
    Report {
        connections,
        findings,
        servers,
        messages,
        faulty_messages: faulty,
    }
}

/// What [`build`] gathers per server to tell a drain from a request limit.
#[derive(Default)]
struct CloseStats {
    closed_at: Vec<u32>,
    most_served_without_close: u32,
    connections: Vec<ConnectionTally>,
}

/// The response number the server said `Connection: close` on and then closed, when it did
/// (an HTTP/1.0 server that simply does not keep connections alive says nothing).
fn server_said_close(c: &Connection) -> Option<u32> {
    match c.close {
        Close::ServerRequestLimit { after, .. }
        | Close::ServerSaidClose { after, .. }
        | Close::ServerDrain { after, .. }
            if has_token(c.connection_header.as_deref(), "close") =>
        {
            Some(after)
        }
        _ => None,
    }
}

/// The `http_drain` finding of a draining server, at its first drained connection.
fn drain_finding(server: std::net::SocketAddr, d: &Drain, connections: &[Connection]) -> Finding {
    let drained: Vec<&Connection> = connections
        .iter()
        .filter(|c| c.server == server && matches!(c.close, Close::ServerDrain { .. }))
        .collect();
    let responses: u64 = connections
        .iter()
        .filter(|c| c.server == server)
        .map(|c| u64::from(c.responses))
        .sum();
    let mut closed_at: Vec<u32> = drained
        .iter()
        .filter_map(|c| match c.close {
            Close::ServerDrain { after, .. } => Some(after),
            _ => None,
        })
        .collect();
    closed_at.sort_unstable();
    let (lo, hi) = (
        closed_at.first().copied().unwrap_or(0),
        closed_at.last().copied().unwrap_or(0),
    );
    closed_at.truncate(64);
    let first = drained.first();
    let frame = first
        .and_then(|c| match c.close {
            Close::ServerDrain { frame, .. } => Some(frame),
            _ => None,
        })
        .unwrap_or(0);
    let ramp = d
        .ramp
        .as_ref()
        .map(|r| {
            format!(
                "; the ratio changed over the capture, from {:.1} % in the first half of the responses to {:.1} % in the second (a drain ramping)",
                r.first_half_ratio * 100.0,
                r.second_half_ratio * 100.0
            )
        })
        .unwrap_or_default();
    let text = format!(
        "server {server} is draining its connections: it said Connection: close on {} of its {responses} responses ({:.1} %, 95 % interval {:.1}–{:.1} %), after {lo}–{hi} requests on a connection — a share of responses, not a fixed count, so no request limit (keepalive_requests) but a drain (a load balancer taking it out of rotation, an Envoy drain, a proxy closing a random share){ramp}; clients must expect the close on any response and retry idempotent requests on a new connection",
        drained.len(),
        d.close_ratio * 100.0,
        d.close_ratio_low * 100.0,
        d.close_ratio_high * 100.0,
    );
    Finding {
        kind: FindingKind::HttpDrain,
        stream: first.map(|c| c.stream).unwrap_or(0),
        frame,
        ts_ns: first.map(|c| c.last_ts_ns).unwrap_or(0),
        text,
        details: Some(FindingDetails::Drain(DrainFinding {
            close_ratio: d.close_ratio,
            close_ratio_high: d.close_ratio_high,
            close_ratio_low: d.close_ratio_low,
            close_responses: drained.len() as u64,
            closed_at,
            ramp: d.ramp.clone(),
            responses,
            server,
            streams: drained.iter().map(|c| c.stream).collect(),
        })),
    }
}

/// Text for a server estimate.
pub fn estimate_text(e: &ServerEstimate) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(lo), Some(hi)) = (e.idle_timeout_min_ns, e.idle_timeout_max_ns) {
        let mut s = format!(
            "idle timeout ≈ {} (closed {} idle connection(s) after {}–{} of idle; served requests after up to {} idle)",
            secs(lo),
            e.idle_closes,
            secs(lo),
            secs(hi),
            secs(e.longest_survived_idle_ns)
        );
        if let Some(t) = e.announced_timeout_s {
            s.push_str(&format!("; it announces Keep-Alive: timeout={t}"));
        }
        out.push(s);
    }
    if let Some(n) = e.request_limit {
        out.push(format!(
            "request limit ≈ {n} per connection (Connection: close on response {n} in {} of {} such closes; nginx keepalive_requests)",
            e.limit_closes.iter().filter(|&&k| k == n).count(),
            e.limit_closes.len()
        ));
    } else if let Some(d) = &e.drain {
        let mut s = format!(
            "draining: Connection: close on {:.1} % of its responses (95 % interval {:.1}–{:.1} %), after varying numbers of requests: no request limit",
            d.close_ratio * 100.0,
            d.close_ratio_low * 100.0,
            d.close_ratio_high * 100.0
        );
        if let Some(r) = &d.ramp {
            s.push_str(&format!(
                "; ramping from {:.1} % to {:.1} % over the capture",
                r.first_half_ratio * 100.0,
                r.second_half_ratio * 100.0
            ));
        }
        out.push(s);
    }
    out
}

/// For each server with reuse races: its idle timeout and the client settings to change, as a
/// text section (empty when there were no races).
pub fn reuse_race_advice_text(r: &Report) -> String {
    let mut seen = std::collections::BTreeSet::new();
    let mut s = String::new();
    for f in &r.findings {
        let Some(FindingDetails::ReuseRace(d)) = &f.details else {
            continue;
        };
        let Some(c) = r.connections.iter().find(|c| c.stream == f.stream) else {
            continue;
        };
        if !seen.insert(c.server) {
            continue;
        }
        s.push_str(&format!(
            "\nAdvice for the reuse races with {}: it closed idle connections after {} s; clients must drop idle pooled connections sooner\n",
            c.server, d.server_idle_timeout_s
        ));
        for line in advice::advice_lines(&d.advice) {
            s.push_str(&format!("  {line}\n"));
        }
    }
    s
}
