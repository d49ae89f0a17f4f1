//! HTTP/1.x keep-alive analysis of captured TCP traffic: why keep-alive connections die and
//! which messages are framed wrong.
//!
//! Feed TCP segments in capture order ([`Analyzer::segment`]); get a [`Report`] with, per
//! connection, the HTTP version, requests served, idle gaps, the `Connection`/`Keep-Alive`
//! headers and who closed it and why (server idle timeout, server request limit, client close,
//! reset, and the *reuse race*: a request sent on a connection the server had just closed), and,
//! per message, framing verdicts (body shorter or longer than `Content-Length`, unterminated
//! or invalid chunked bodies, `Content-Length` with `Transfer-Encoding`, ...). Server settings
//! (`keepalive_timeout`, `keepalive_requests`) are estimated from how servers closed; a server
//! that closes after varying numbers of requests is draining ([`drain`]: the share of responses
//! that closed, with its 95 % interval), and reuse races come with the client settings that
//! avoid them ([`advice`]).
//!
//! Each direction is reassembled (retransmissions, overlaps, out-of-order data, capture gaps,
//! keep-alive probes) with bounded buffers; bodies are counted, never kept, so memory follows the
//! number of live connections (and, with [`Options::keep_all_messages`], the messages kept).
//!
//! What it is not: not a general HTTP dissector (no decompression, no HTTP/2, no TLS), and it does
//! not read capture files — the caller (the `keepsight` CLI) hands it each frame as a
//! [`keepsight_tcp::Segment`].
//! Framing follows RFC 9112 §6, not tshark: where tshark 4.0 never shows a short-body response,
//! this crate reports it. The framing rules themselves are [`framing`], a sans-IO core that the
//! proxy and the prober use too (each with its own policy), checked by one conformance table
//! (`tests/framing-cases.tsv`) against every reader and curl.
//!
//! Known limits: times are capture-point times (a client-side capture sees the server's idle
//! close one half round trip late); a capture gap inside a header section or chunk line loses
//! that message (the parser resynchronises at the next message start and marks a capture gap);
//! a body shorter than its Content-Length is only noticed when the sender closes or, for
//! responses, when a segment starts with the next status line while a newer request waits.

pub mod advice;
mod analyzer;
mod conn;
mod drain;
pub mod framing;
pub mod json;
mod model;
mod parse;
mod reasm;
pub mod report;
pub mod text;

pub use analyzer::{Analyzer, Options};
pub use model::*;
pub use parse::{starts_like_message, starts_with_method, REQUEST_METHODS};

/// Where each kept message sits, by frame, for `http.*` display-filter fields.
pub struct FrameIndex {
    /// (frame, connection index, message index, what tshark pairs it with), sorted by frame.
    entries: Vec<(u32, u32, u32, Paired)>,
}

/// A message's partner as tshark 4.0.17's HTTP dissector records it (`http.request_in`,
/// `http.response_in`, `http.time`), which differs from the true pairing for pipelined
/// requests: see [`tshark_pairing`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Paired {
    request_in: Option<u32>,
    response_in: Option<u32>,
    time_ns: Option<i64>,
}

/// tshark's request/response bookkeeping for one connection's messages, in the order they
/// end: each request opens an entry; a response fills the newest entry unless it already
/// has a final response, else opens one without a request (so of two pipelined requests
/// the second takes the first response, and the second response has no request). A frame
/// holds one entry for all its messages, the last one they touched (tshark keys it by
/// frame), and a request shows the response its entry ended with.
fn tshark_pairing(c: &Connection) -> Vec<(usize, Paired)> {
    #[derive(Clone, Copy, Default)]
    struct Entry {
        request: Option<(u32, i64)>,
        response: u32,
        code: u16,
    }
    let mut order: Vec<usize> = (0..c.messages.len())
        .filter(|&i| c.messages[i].frame != 0)
        .collect();
    order.sort_by_key(|&i| (c.messages[i].frame, i));
    let mut entries: Vec<Entry> = Vec::new();
    let mut touched: Vec<usize> = Vec::with_capacity(order.len());
    for &i in &order {
        let m = &c.messages[i];
        match m.kind {
            Kind::Request => entries.push(Entry {
                request: Some((m.frame, m.ts_ns)),
                ..Entry::default()
            }),
            Kind::Response => {
                let code = m.code.unwrap_or(0);
                match entries.last_mut() {
                    Some(e) if e.response == 0 || e.code < 200 => {
                        e.response = m.frame;
                        e.code = code;
                    }
                    _ => entries.push(Entry {
                        request: None,
                        response: m.frame,
                        code,
                    }),
                }
            }
        }
        touched.push(entries.len() - 1);
    }
    let mut out = Vec::with_capacity(order.len());
    for (k, &i) in order.iter().enumerate() {
        let m = &c.messages[i];
        // The frame's entry: the one its last message touched.
        let last = (k..order.len())
            .take_while(|&j| c.messages[order[j]].frame == m.frame)
            .last()
            .unwrap_or(k);
        let e = entries[touched[last]];
        let paired = match m.kind {
            Kind::Request => Paired {
                response_in: (e.response != 0).then_some(e.response),
                ..Paired::default()
            },
            Kind::Response => Paired {
                request_in: e.request.map(|(f, _)| f),
                time_ns: e.request.map(|(_, ts)| m.ts_ns - ts),
                ..Paired::default()
            },
        };
        out.push((i, paired));
    }
    out
}

impl FrameIndex {
    /// Indexes the frame each message ends in (the frame tshark shows it in).
    pub fn new(report: &Report) -> Self {
        let mut entries = Vec::new();
        for (ci, c) in report.connections.iter().enumerate() {
            for (mi, paired) in tshark_pairing(c) {
                entries.push((c.messages[mi].frame, ci as u32, mi as u32, paired));
            }
        }
        entries.sort_unstable_by_key(|e| (e.0, e.1, e.2));
        FrameIndex { entries }
    }

    /// The frames in which at least one message ends, in order.
    pub fn frames(&self) -> impl Iterator<Item = u32> + '_ {
        let mut last = 0;
        self.entries.iter().filter_map(move |e| {
            let new = e.0 != last;
            last = e.0;
            new.then_some(e.0)
        })
    }

    /// Messages that end in `frame` (several when pipelined).
    pub fn get<'a>(
        &'a self,
        report: &'a Report,
        frame: u32,
    ) -> impl Iterator<Item = &'a Message> + 'a {
        self.get_paired(report, frame).map(|(m, _)| m)
    }

    /// [`FrameIndex::get`], each message with its partner as tshark shows it.
    fn get_paired<'a>(
        &'a self,
        report: &'a Report,
        frame: u32,
    ) -> impl Iterator<Item = (&'a Message, Paired)> + 'a {
        let start = self.entries.partition_point(|e| e.0 < frame);
        let report_conns = &report.connections;
        self.entries[start..]
            .iter()
            .take_while(move |e| e.0 == frame)
            .map(move |e| (&report_conns[e.1 as usize].messages[e.2 as usize], e.3))
    }
}

impl FrameIndex {
    /// The expert items tshark's HTTP dissector raises on `frame`: one Chat/Sequence item per
    /// message that ends there, whose text is the message's first line followed by its line
    /// end escaped as tshark escapes it (the characters `\r\n`). Formats only when called.
    pub fn visit_expert_lines(&self, report: &Report, frame: u32, sink: &mut dyn FnMut(&str)) {
        let mut line = String::new();
        for m in self.get(report, frame) {
            line.clear();
            expert_line(m, &mut line);
            sink(&line);
        }
    }

    /// tshark's Info column on `frame` when its HTTP dissector runs there (HTTP over TLS): for
    /// each message that ends in the frame, its first line and a space, then ` (media type)`
    /// when it has a body with a `Content-Type`, one after the other as tshark's fenced
    /// column joins them. False when no message ends in `frame`.
    pub fn write_info(&self, report: &Report, frame: u32, out: &mut String) -> bool {
        let mut any = false;
        for m in self.get(report, frame) {
            any = true;
            first_line(m, out);
            out.push(' ');
            if let (Some(media), true) = (m.content_type.as_deref(), m.body_bytes > 0) {
                out.push_str(" (");
                out.push_str(media);
                out.push(')');
            }
        }
        any
    }

    /// The `http.*` display-filter fields tshark 4.0.17 shows (with `-2`) on `frame`, by name.
    /// Calls `sink` once per occurrence (pipelined messages in one frame give several) and
    /// returns false for a name this crate does not provide, so a caller can tell "absent"
    /// from "unknown". Messages that never ended (short bodies) have no frame, as in tshark.
    pub fn visit(
        &self,
        report: &Report,
        frame: u32,
        name: &str,
        sink: &mut dyn FnMut(keepsight_fields::Value<'_>),
    ) -> bool {
        use keepsight_fields::Value as V;
        const VERSIONS: [&str; 2] = ["HTTP/1.0", "HTTP/1.1"];
        let known = matches!(
            name,
            "http"
                | "http.request"
                | "http.response"
                | "http.request.method"
                | "http.request.uri"
                | "http.request.version"
                | "http.response.version"
                | "http.response.code"
                | "http.response.phrase"
                | "http.connection"
                | "http.content_length"
                | "http.transfer_encoding"
                | "http.host"
                | "http.request_in"
                | "http.response_in"
                | "http.time"
        );
        if !known {
            return false;
        }
        for (m, paired) in self.get_paired(report, frame) {
            let req = m.kind == Kind::Request;
            let version = VERSIONS[usize::from(m.version.min(1))];
            match name {
                "http" => sink(V::Present),
                "http.request" if req => sink(V::Present),
                "http.response" if !req => sink(V::Present),
                "http.request.method" if req => {
                    m.method.as_deref().map(|s| sink(V::Str(s))).unwrap_or(())
                }
                "http.request.uri" if req => {
                    m.uri.as_deref().map(|s| sink(V::Str(s))).unwrap_or(())
                }
                "http.request.version" if req => sink(V::Str(version)),
                "http.response.version" if !req => sink(V::Str(version)),
                "http.response.code" if !req => {
                    m.code.map(|c| sink(V::UInt(c.into()))).unwrap_or(())
                }
                "http.response.phrase" if !req => {
                    m.phrase.as_deref().map(|s| sink(V::Str(s))).unwrap_or(())
                }
                "http.connection" => m
                    .connection
                    .as_deref()
                    .map(|s| sink(V::Str(s)))
                    .unwrap_or(()),
                "http.content_length" => m.content_length.map(|n| sink(V::UInt(n))).unwrap_or(()),
                "http.transfer_encoding" => m
                    .transfer_encoding
                    .as_deref()
                    .map(|s| sink(V::Str(s)))
                    .unwrap_or(()),
                "http.host" => m.host.as_deref().map(|s| sink(V::Str(s))).unwrap_or(()),
                "http.request_in" => paired
                    .request_in
                    .map(|f| sink(V::FrameNum(f)))
                    .unwrap_or(()),
                "http.response_in" => paired
                    .response_in
                    .map(|f| sink(V::FrameNum(f)))
                    .unwrap_or(()),
                "http.time" => paired.time_ns.map(|t| sink(V::RelTime(t))).unwrap_or(()),
                _ => {}
            }
        }
        true
    }
}

/// The text of the expert item tshark's HTTP dissector raises for a message (see
/// [`FrameIndex::visit_expert_lines`]), appended to `line`.
pub fn expert_line(m: &Message, line: &mut String) {
    first_line(m, line);
    line.push_str("\\r\\n");
}

/// A message's start line as tshark shows it (without its line end), appended to `line`.
fn first_line(m: &Message, line: &mut String) {
    const VERSIONS: [&str; 2] = ["HTTP/1.0", "HTTP/1.1"];
    let version = VERSIONS[usize::from(m.version.min(1))];
    if m.kind == Kind::Request {
        line.push_str(m.method.as_deref().unwrap_or(""));
        line.push(' ');
        line.push_str(m.uri.as_deref().unwrap_or(""));
        line.push(' ');
        line.push_str(version);
    } else {
        line.push_str(version);
        line.push(' ');
        if let Some(code) = m.code {
            line.push_str(&code.to_string());
        }
        line.push(' ');
        line.push_str(m.phrase.as_deref().unwrap_or(""));
    }
}

#[cfg(test)]
mod tests;
