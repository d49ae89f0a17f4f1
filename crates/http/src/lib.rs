//! HTTP/1.x keep-alive analysis of captured TCP traffic: why keep-alive connections die and
//! which messages are framed wrong.
//!
//! Feed TCP segments in capture order ([`Analyzer::segment`]); get a [`Report`] with, per
//! connection, the HTTP version, requests served, idle gaps, the `Connection`/`Keep-Alive`
//! headers and who closed it and why (server idle timeout, server request limit, client close,
//! reset, and the *reuse race*: a request sent on a connection the server had just closed), and,
//! per message, framing verdicts (body shorter or longer than `Content-Length`, unterminated
//! or invalid chunked bodies, `Content-Length` with `Transfer-Encoding`, ...). Server settings
//! (`keepalive_timeout`, `keepalive_requests`) are estimated from how servers closed.
//!
//! Each direction is reassembled (retransmissions, overlaps, out-of-order data, capture gaps,
//! keep-alive probes) with bounded buffers; bodies are counted, never kept, so memory follows the
//! number of live connections (and, with [`Options::keep_all_messages`], the messages kept).
//!
//! What it is not: not a general HTTP dissector (no decompression, no HTTP/2, no TLS), and it does
//! not read capture files — the caller (the `keepsight` CLI) adapts its frames to [`Segment`].
//! Framing follows RFC 9112 §6, not tshark: where tshark 4.0 never shows a short-body response,
//! this crate reports it.

mod analyzer;
mod conn;
pub mod model;
pub mod parse;
pub mod reasm;
pub mod report;

pub use analyzer::{Analyzer, Options, Segment};
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

#[cfg(test)]
mod tests;
