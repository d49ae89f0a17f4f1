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

/// Where each kept message sits, by frame, for `http.*` display-filter fields.
pub struct FrameIndex {
    /// (frame, connection index, message index), sorted by frame.
    entries: Vec<(u32, u32, u32)>,
}

impl FrameIndex {
    /// Indexes the frame each message ends in (the frame tshark shows it in).
    pub fn new(report: &Report) -> Self {
        let mut entries = Vec::new();
        for (ci, c) in report.connections.iter().enumerate() {
            for (mi, m) in c.messages.iter().enumerate() {
                if m.frame != 0 {
                    entries.push((m.frame, ci as u32, mi as u32));
                }
            }
        }
        entries.sort_unstable();
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
        let start = self.entries.partition_point(|e| e.0 < frame);
        let report_conns = &report.connections;
        self.entries[start..]
            .iter()
            .take_while(move |e| e.0 == frame)
            .map(move |e| &report_conns[e.1 as usize].messages[e.2 as usize])
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
        for m in self.get(report, frame) {
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
                "http.request_in" => m.request_in.map(|f| sink(V::FrameNum(f))).unwrap_or(()),
                "http.response_in" => m.response_in.map(|f| sink(V::FrameNum(f))).unwrap_or(()),
                "http.time" => m.time_ns.map(|t| sink(V::RelTime(t))).unwrap_or(()),
                _ => {}
            }
        }
        true
    }
}

/// The text of the expert item tshark's HTTP dissector raises for a message (see
/// [`FrameIndex::visit_expert_lines`]), appended to `line`.
pub fn expert_line(m: &Message, line: &mut String) {
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
    line.push_str("\\r\\n");
}

#[cfg(test)]
mod tests;
