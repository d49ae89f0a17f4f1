//! The `Hypertext Transfer Protocol` subtree (and the `Line-based text data` one of a
//! `text/plain` body) of a frame that ends an HTTP/1 message, as tshark 4.0.17's single-pass
//! `-V` prints it, with the `Reassembled TCP Segments` item of a message spread over several
//! segments.
//!
//! keepsight-http's analyzer runs along the listing's own pass (no second pass over the file)
//! and says which message ends in which frame, its number and partner, as tshark's first pass
//! knows them; the lines are the message's own bytes, gathered from the segments of HTTP
//! streams. Where keepsight cannot be sure of tshark's tree (several messages in one segment,
//! bytes left over by a malformed message, a segment out of order, a header tshark expands
//! into a subtree, bytes tshark escapes, a status code without a known description, a
//! close-delimited body) the frame keeps no HTTP subtree rather than a guessed one.

use super::link::Hex;
use super::tree::{bytes_word, expert, Secs, Tree};
use keepsight_engine::Frame;
use keepsight_http::{Analyzer, Kind, Message};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::fmt::Write as _;

/// More than this gathered for one message and it is left out rather than held in memory.
const MAX_GATHERED: usize = 1 << 20;

/// Requests and responses remembered per stream for the `[Prev ... in frame]` lines.
const REMEMBERED: usize = 16;

/// The payload of one direction of an HTTP stream since its last message ended.
#[derive(Default)]
pub(super) struct Gathering {
    next_seq: u32,
    /// (frame, payload length) of each segment.
    pub(super) segments: Vec<(u32, u32)>,
    pub(super) bytes: Vec<u8>,
    /// Bytes were lost or left over: the message ending next is not printed.
    broken: bool,
}

impl Gathering {
    fn clear(&mut self) {
        self.segments.clear();
        self.bytes.clear();
        if self.bytes.capacity() > 64 * 1024 {
            self.bytes = Vec::new();
        }
        self.broken = false;
    }
}

/// What tshark's first pass remembers of a conversation.
#[derive(Default)]
struct Conversation {
    /// Requests ended so far.
    requests: u32,
    /// (number, frame, full URI) of the last requests.
    recent_requests: VecDeque<(u32, u32, String)>,
    /// (number, frame) of the last responses.
    recent_responses: VecDeque<(u32, u32)>,
}

/// What the lines after a message's header section say about its conversation.
#[derive(Default)]
struct Context {
    /// `N` of `[HTTP request n/N]`.
    seen: u32,
    prev_request: Option<u32>,
    prev_response: Option<u32>,
    /// The frame and URI of the request a response answers.
    request: Option<(u32, String)>,
}

/// How the frame last observed stands in an HTTP message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Part {
    /// In none keepsight prints.
    #[default]
    None,
    /// A segment of a message that needs more: tshark marks it `TCP segment data` only.
    Segment,
    /// It ends a message keepsight prints, carried by this frame alone.
    Single,
    /// It ends a message keepsight prints, gathered over several segments.
    Last,
}

/// The HTTP analysis along the listing's pass, and the message the last frame ended.
pub(super) struct Follower {
    analyzer: Analyzer,
    /// By (`tcp.stream`, source port).
    gathering: FxHashMap<(u32, u16), Gathering>,
    conversations: FxHashMap<u32, Conversation>,
    ended: Vec<Message>,
    /// The message the last frame ended (the only one in `ended`) is printed, with these
    /// bytes, layout and context.
    message: bool,
    bytes: Vec<u8>,
    segments: Vec<(u32, u32)>,
    layout: Option<Layout>,
    context: Context,
    pub(super) part: Part,
    /// TLS streams whose application data tshark names after a protocol (ALPN or port 443).
    pub(super) tls_named: rustc_hash::FxHashSet<u32>,
}

impl Default for Follower {
    fn default() -> Self {
        Follower {
            analyzer: Analyzer::new(keepsight_http::Options::default()).reporting_completed(),
            gathering: FxHashMap::default(),
            conversations: FxHashMap::default(),
            ended: Vec::new(),
            message: false,
            bytes: Vec::new(),
            segments: Vec::new(),
            layout: None,
            context: Context::default(),
            part: Part::None,
            tls_named: Default::default(),
        }
    }
}

impl Follower {
    /// Takes in the next frame read (displayed or not).
    pub(super) fn observe(&mut self, f: &Frame<'_>) {
        self.part = Part::None;
        self.message = false;
        self.layout = None;
        if let (Some(_), Some(info)) = (&f.tls, &f.tcp) {
            use keepsight_fields::{ids, Packet, Value};
            let named = &mut self.tls_named;
            if f.tcp_header()
                .is_some_and(|h| h.src_port() == 443 || h.dst_port() == 443)
            {
                named.insert(info.stream);
            }
            f.visit(ids::TLS_HANDSHAKE_EXTENSIONS_ALPN_STR, &mut |v| {
                if matches!(v, Value::Str(s) if s != "hb/1") {
                    named.insert(info.stream);
                }
            });
        }
        let Some(seg) = f.segment() else {
            return;
        };
        let (Some(info), Some(h)) = (f.tcp.as_ref(), f.tcp_header()) else {
            return;
        };
        self.analyzer.segment(&seg);
        self.ended.clear();
        self.analyzer.take_completed(&mut self.ended);
        let payload = f.tcp_payload();
        let key = (info.stream, h.src_port());
        let followed = self.analyzer.follows(info.stream);
        if !followed && self.ended.is_empty() {
            if !self.gathering.is_empty() {
                self.gathering.remove(&key);
                self.gathering.remove(&(info.stream, h.dst_port()));
            }
            return;
        }
        let whole = f.tcp_len() == Some(payload.len() as u32);
        if !payload.is_empty() {
            let g = self.gathering.entry(key).or_default();
            let len = payload.len() as u32;
            let in_order = g.segments.is_empty() || info.seq == g.next_seq;
            if !whole || !in_order || g.bytes.len() + payload.len() > MAX_GATHERED {
                g.bytes.clear();
                g.segments.clear();
                g.broken = true;
            } else {
                g.bytes.extend_from_slice(payload);
                g.segments.push((f.number, len));
            }
            g.next_seq = info.seq.wrapping_add(len);
        }
        if self.ended.is_empty() {
            // tshark's HTTP dissector takes (and asks for more than) bytes that start like a
            // message only; others are its `data`.
            let g = self.gathering.get(&key);
            if !payload.is_empty()
                && g.is_some_and(|g| keepsight_http::starts_like_message(&g.bytes))
            {
                self.part = Part::Segment;
            }
            return;
        }
        let ended = std::mem::take(&mut self.ended);
        let one = ended.len() == 1 && ended[0].frame == f.number;
        for m in &ended {
            let context = self.remember(m);
            if one {
                self.context = context;
            }
        }
        let m = &ended[0];
        let g = self.gathering.entry(key).or_default();
        let from_start = g.segments.first().is_some_and(|s| s.0 == m.first_frame);
        // Bytes after the message's end (a body longer than announced) are glued by tshark
        // to the next message: neither is printed.
        let leftover = one && message_len(m, &g.bytes).is_none_or(|n| n < g.bytes.len());
        if one && !g.broken && from_start && m.verdicts.is_empty() {
            if let Some(layout) = layout(m, &g.bytes, self.context.request.is_some()) {
                std::mem::swap(&mut self.bytes, &mut g.bytes);
                std::mem::swap(&mut self.segments, &mut g.segments);
                self.layout = Some(layout);
                self.message = true;
                self.part = if self.segments.len() > 1 {
                    Part::Last
                } else {
                    Part::Single
                };
            }
        }
        g.clear();
        g.broken = leftover || ended.iter().any(|m| !m.verdicts.is_empty());
        self.ended = ended;
    }

    /// Notes `m` in its conversation; returns what its lines say about the conversation.
    fn remember(&mut self, m: &Message) -> Context {
        let c = self.conversations.entry(m.stream).or_default();
        let frame_of =
            |list: &VecDeque<(u32, u32)>, n: u32| list.iter().find(|r| r.0 == n).map(|r| r.1);
        let prev = m.number.checked_sub(1);
        let prev_request =
            prev.and_then(|n| c.recent_requests.iter().find(|r| r.0 == n).map(|r| r.1));
        match m.kind {
            Kind::Request => {
                c.requests += 1;
                let mut uri = String::new();
                full_uri(&mut uri, m);
                if c.recent_requests.len() == REMEMBERED {
                    c.recent_requests.pop_front();
                }
                c.recent_requests.push_back((m.number, m.frame, uri));
                Context {
                    seen: c.requests,
                    prev_request,
                    ..Context::default()
                }
            }
            Kind::Response => {
                let prev_response = prev.and_then(|n| frame_of(&c.recent_responses, n));
                let request = c
                    .recent_requests
                    .iter()
                    .find(|r| r.0 == m.number && Some(r.1) == m.request_in)
                    .map(|r| (r.1, r.2.clone()));
                if c.recent_responses.len() == REMEMBERED {
                    c.recent_responses.pop_front();
                }
                c.recent_responses.push_back((m.number, m.frame));
                Context {
                    seen: c.requests,
                    prev_request,
                    prev_response,
                    request,
                }
            }
        }
    }

    /// The message the last frame ended, when keepsight prints it.
    pub(super) fn printed(&self) -> Option<Printed<'_>> {
        if !self.message {
            return None;
        }
        let (m, layout) = (self.ended.first()?, self.layout?);
        Some(Printed {
            msg: m,
            bytes: &self.bytes,
            segments: &self.segments,
            header_len: layout.header_len,
            body: layout.body,
            chunked: layout.chunked,
            context: &self.context,
        })
    }
}

/// How many of `bytes` (starting with `m`'s header section) `m` takes, when that can be told.
fn message_len(m: &Message, bytes: &[u8]) -> Option<usize> {
    let header_len = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let body = &bytes[header_len..];
    let chunked = header_lines(&bytes[..header_len]).skip(1).any(|l| {
        split_header(l).is_some_and(|(n, v)| {
            n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
        })
    });
    let body_len = if chunked {
        chunks(body, &mut |_, _| {})?
    } else {
        usize::try_from(m.content_length.unwrap_or(0)).ok()?
    };
    Some(header_len + body_len)
}

/// Where a printable message's parts are.
#[derive(Clone, Copy)]
struct Layout {
    header_len: usize,
    body: Body,
    chunked: bool,
}

/// The message the frame ends, as keepsight prints it.
pub(super) struct Printed<'h> {
    msg: &'h Message,
    /// The message's bytes: the header section, then the body.
    pub(super) bytes: &'h [u8],
    /// The segments it was gathered from.
    pub(super) segments: &'h [(u32, u32)],
    header_len: usize,
    body: Body,
    /// `Transfer-Encoding: chunked`.
    chunked: bool,
    context: &'h Context,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    None,
    /// `text/plain`: tshark's `data-text-lines`.
    Text,
    /// `application/json`: tshark's `json` then `data-text-lines`, neither printed here.
    Json,
}

impl Printed<'_> {
    /// A chunked body's data, decoded.
    pub(super) fn dechunked(&self) -> Option<Vec<u8>> {
        if !self.chunked {
            return None;
        }
        let mut data = Vec::new();
        chunks(&self.bytes[self.header_len..], &mut |_, d| {
            data.extend_from_slice(d)
        });
        Some(data)
    }

    /// The protocol names tshark lists after `tcp`.
    pub(super) fn protocols(&self) -> &'static str {
        match self.body {
            Body::None => ":http",
            Body::Text => ":http:data-text-lines",
            Body::Json => ":http:json:data-text-lines",
        }
    }
}

/// Headers tshark 4.0.17 expands into a subtree of their own (or decodes), other than
/// `Content-Length`: a message carrying one is not printed.
const EXPANDED_HEADERS: [&str; 8] = [
    "cookie",
    "set-cookie",
    "authorization",
    "proxy-authorization",
    "www-authenticate",
    "proxy-authenticate",
    "upgrade",
    "content-encoding",
];

/// The layout of `msg` in `bytes` when keepsight can print tshark's tree for it: `bytes`
/// are the message exactly. `answered`: a response's request is known.
fn layout(msg: &Message, bytes: &[u8], answered: bool) -> Option<Layout> {
    if msg.version > 1 {
        return None;
    }
    let header_len = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = &bytes[..header_len];
    if !head
        .iter()
        .all(|&b| b == b'\r' || b == b'\n' || (0x20..0x7f).contains(&b))
    {
        return None;
    }
    let mut content_type = None;
    let mut chunked = false;
    for line in header_lines(head).skip(1) {
        let (name, value) = split_header(line)?;
        if EXPANDED_HEADERS
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
        {
            return None;
        }
        if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value);
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            if chunked || value != "chunked" {
                return None;
            }
            chunked = true;
        }
    }
    let raw_body = &bytes[header_len..];
    let body_len = if chunked {
        // The whole chunked body, nothing after it, no extensions and no trailers.
        let mut data = 0;
        if chunks(raw_body, &mut |_, d| data += d.len())? != raw_body.len() {
            return None;
        }
        data
    } else if msg.content_length.unwrap_or(0) == raw_body.len() as u64 {
        raw_body.len()
    } else {
        return None;
    };
    let plain = || {
        let mut ok = true;
        if chunked {
            chunks(raw_body, &mut |_, d| ok &= plain_text(d));
        } else {
            ok = plain_text(raw_body);
        }
        ok
    };
    let body = match (body_len, content_type) {
        (0, _) => Body::None,
        (_, Some("text/plain")) if plain() => Body::Text,
        (_, Some("application/json")) => Body::Json,
        _ => return None,
    };
    match msg.kind {
        Kind::Request => {
            msg.host.as_ref()?;
            if msg.uri.as_deref().is_none_or(|u| !u.starts_with('/')) {
                return None;
            }
        }
        Kind::Response => {
            status_description(msg.code?)?;
            // A response tshark pairs with a request it knows the URI of.
            if !answered {
                return None;
            }
        }
    }
    Some(Layout {
        header_len,
        body,
        chunked,
    })
}

/// The header section's lines, without their CRLF, up to the empty line.
fn header_lines(head: &[u8]) -> impl Iterator<Item = &str> {
    std::str::from_utf8(head)
        .unwrap_or_default()
        .split("\r\n")
        .take_while(|l| !l.is_empty())
}

fn split_header(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once(':')?;
    Some((name, value.trim_matches([' ', '\t'])))
}

/// `Status Code Description`: the reason phrases of RFC 9110 §15 as tshark names them.
fn status_description(code: u16) -> Option<&'static str> {
    Some(match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Time-out",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        _ => return None,
    })
}

/// The request's URI as tshark rebuilds it: `http://` Host, then the target.
fn full_uri(out: &mut String, m: &Message) {
    out.push_str("http://");
    out.push_str(m.host.as_deref().unwrap_or(""));
    out.push_str(m.uri.as_deref().unwrap_or(""));
}

/// Writes the HTTP subtree (and the text body's) of `p`.
pub(super) fn render(p: &Printed<'_>, t: &mut Tree<'_>, text_open: bool) {
    let m = p.msg;
    let head = &p.bytes[..p.header_len];
    let mut lines = header_lines(head);
    let first = lines.next().unwrap_or_default();
    t.text(0, "Hypertext Transfer Protocol");
    t.line(1, format_args!("{first}\\r\\n"));
    expert(t, 2, "Chat", "Sequence", format_args!("{first}\\r\\n"));
    let version = if m.version == 0 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    };
    match m.kind {
        Kind::Request => {
            let uri = m.uri.as_deref().unwrap_or("");
            t.line(
                2,
                format_args!("Request Method: {}", m.method.as_deref().unwrap_or("")),
            );
            t.line(2, format_args!("Request URI: {uri}"));
            if let Some((path, query)) = uri.split_once('?') {
                t.line(3, format_args!("Request URI Path: {path}"));
                t.line(3, format_args!("Request URI Query: {query}"));
                for param in query.split('&') {
                    t.line(4, format_args!("Request URI Query Parameter: {param}"));
                }
            }
            t.line(2, format_args!("Request Version: {version}"));
        }
        Kind::Response => {
            let code = m.code.unwrap_or(0);
            t.line(2, format_args!("Response Version: {version}"));
            t.num(2, "Status Code: ", code.into(), "");
            t.line(
                2,
                format_args!(
                    "[Status Code Description: {}]",
                    status_description(code).unwrap_or("")
                ),
            );
            t.line(
                2,
                format_args!("Response Phrase: {}", m.phrase.as_deref().unwrap_or("")),
            );
        }
    }
    for line in lines {
        t.line(1, format_args!("{line}\\r\\n"));
        if let Some((name, value)) = split_header(line) {
            if name.eq_ignore_ascii_case("content-length") {
                t.line(2, format_args!("[Content length: {value}]"));
            }
        }
    }
    t.text(1, "\\r\\n");
    let c = p.context;
    match m.kind {
        Kind::Request => {
            if t.open {
                t.indent(1);
                t.out.push_str("[Full request URI: ");
                full_uri(t.out, m);
                t.out.push_str("]\n");
            }
            t.line(1, format_args!("[HTTP request {}/{}]", m.number, c.seen));
            if let Some(frame) = c.prev_request {
                t.num(1, "[Prev request in frame: ", frame.into(), "]");
            }
        }
        Kind::Response => {
            t.line(1, format_args!("[HTTP response {}/{}]", m.number, c.seen));
            if let Some(ns) = m.time_ns {
                t.line(
                    1,
                    format_args!("[Time since request: {} seconds]", Secs(ns)),
                );
            }
            if let Some(frame) = c.prev_request {
                t.num(1, "[Prev request in frame: ", frame.into(), "]");
            }
            if let Some(frame) = c.prev_response {
                t.num(1, "[Prev response in frame: ", frame.into(), "]");
            }
            if let Some((frame, uri)) = &c.request {
                t.num(1, "[Request in frame: ", (*frame).into(), "]");
                t.line(1, format_args!("[Request URI: {uri}]"));
            }
        }
    }
    let raw = &p.bytes[p.header_len..];
    let decoded;
    let body = if p.chunked {
        t.text(1, "HTTP chunked response");
        let mut data = Vec::new();
        chunks(raw, &mut |size, d| {
            if size.is_empty() {
                return;
            }
            if d.is_empty() {
                t.text(2, "End of chunked encoding");
                t.text(3, "Chunk size: 0 octets");
                return;
            }
            let n = d.len();
            t.line(2, format_args!("Data chunk ({n} octets)"));
            t.line(3, format_args!("Chunk size: {n} octets"));
            t.line(3, format_args!("Chunk data: {}", Hex(d)));
            t.text(3, "Chunk boundary: 0d0a");
            data.extend_from_slice(d);
        });
        t.text(2, "\\r\\n");
        decoded = data;
        &decoded[..]
    } else {
        raw
    };
    if !body.is_empty() {
        t.num(1, "File Data: ", body.len() as u64, " bytes");
    }
    if p.body == Body::Text {
        let open = std::mem::replace(&mut t.open, text_open);
        text_lines(body, t);
        t.open = open;
    }
}

/// Walks a chunked body: `each(size line, data)` per chunk, the last (empty data) included,
/// then `each(b"", b"")` at the final CRLF. Returns the bytes the body takes, or `None` when
/// it is not a plain chunked body (extensions, trailers, a chunk cut short).
fn chunks(body: &[u8], each: &mut dyn FnMut(&[u8], &[u8])) -> Option<usize> {
    let mut at = 0;
    loop {
        let rest = body.get(at..)?;
        let line_len = rest.windows(2).position(|w| w == b"\r\n")?;
        let line = &rest[..line_len];
        if line.is_empty() || !line.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let size = keepsight_http::framing::parse_chunk_size_line(line).ok()?;
        let start = at + line_len + 2;
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        let data = body.get(start..end)?;
        if body.get(end..end + 2)? != b"\r\n" {
            return None;
        }
        each(line, data);
        at = end + 2;
        if size == 0 {
            // `0\r\n` then the empty line: no trailers.
            if start != end || at != start + 2 {
                return None;
            }
            each(b"", b"");
            return Some(at);
        }
    }
}

/// `Line-based text data`: the body line by line, each line end written as tshark escapes it.
fn text_lines(body: &[u8], t: &mut Tree<'_>) {
    let count = body.split_inclusive(|&b| b == b'\n').count();
    t.num(
        0,
        "Line-based text data: text/plain (",
        count as u64,
        " lines)",
    );
    if !t.open {
        return;
    }
    for line in body.split_inclusive(|&b| b == b'\n') {
        t.indent(1);
        for &b in line {
            match b {
                b'\n' => t.out.push_str("\\n"),
                b'\r' => t.out.push_str("\\r"),
                b'\t' => t.out.push_str("\\t"),
                _ => t.out.push(char::from(b)),
            }
        }
        t.out.push('\n');
    }
}

/// True when `body` is what [`text_lines`] prints as tshark does: short printable lines.
fn plain_text(body: &[u8]) -> bool {
    body.split_inclusive(|&b| b == b'\n')
        .all(|l| l.len() < 200 && l.iter().all(|&b| b == b'\n' || (0x20..0x7f).contains(&b)))
}

/// tshark's summary of a PDU gathered from several segments, printed after the TCP subtree.
pub(super) fn reassembled(g: &Printed<'_>, t: &mut Tree<'_>) {
    let n = g.bytes.len();
    t.indent(0);
    t.out.push('[');
    t.out.push_str(itoa::Buffer::new().format(g.segments.len()));
    t.out.push_str(" Reassembled TCP Segments (");
    t.out.push_str(itoa::Buffer::new().format(n));
    t.out.push_str(" bytes): ");
    for (i, (frame, len)) in g.segments.iter().enumerate() {
        if i > 0 {
            t.out.push_str(", ");
        }
        let _ = write!(t.out, "#{frame}({len})");
    }
    t.out.push_str("]\n");
    let mut at = 0u64;
    for &(frame, len) in g.segments.iter() {
        let len = u64::from(len);
        t.line(
            1,
            format_args!(
                "[Frame: {frame}, payload: {at}-{} ({len} {})]",
                at + len - 1,
                bytes_word(len as usize)
            ),
        );
        at += len;
    }
    t.num(1, "[Segment count: ", g.segments.len() as u64, "]");
    t.num(1, "[Reassembled TCP length: ", n as u64, "]");
    t.line(1, format_args!("[Reassembled TCP Data: {}]", Hex(g.bytes)));
}
