//! The `Hypertext Transfer Protocol` subtree (and the `Line-based text data` one of a
//! `text/plain` body) of a frame that carries one whole HTTP/1 message, as tshark 4.0.17's
//! single-pass `-V` prints it.
//!
//! Which message ends in which frame, its request number, its partner and the times come from
//! the HTTP layer (keepsight-http's analysis, [`HttpLayer`]); the lines are the frame's own
//! bytes. Where keepsight cannot be sure of tshark's tree (a message spread over several
//! segments, several messages in one segment, a header tshark expands into a subtree, bytes
//! tshark escapes, a status code without a known description) the frame keeps no HTTP subtree
//! rather than a guessed one.

use super::link::Hex;
use super::tree::{bytes_word, expert, Secs, Tree};
use crate::packets::HttpLayer;
use keepsight_engine::Frame;
use keepsight_http::{Connection, Kind, Message};
use rustc_hash::FxHashMap;
use std::fmt::Write as _;

/// Messages spread over several segments: their bytes are gathered as the frames go by (one
/// pass, as tshark does), so the frame that ends one can print it whole.
#[derive(Clone, Debug, Default)]
pub(super) struct Segments {
    /// First frame of each message spread over several segments → (connection, message).
    starts: Option<FxHashMap<u32, (usize, usize)>>,
    /// The message being gathered, by `tcp.stream`.
    active: FxHashMap<u32, Gathering>,
}

/// The bytes of one message spread over several segments, so far.
#[derive(Clone, Debug)]
pub(super) struct Gathering {
    located: (usize, usize),
    end_frame: u32,
    src_port: u16,
    next_seq: u32,
    /// (frame, payload length) of each segment.
    pub(super) segments: Vec<(u32, u32)>,
    pub(super) bytes: Vec<u8>,
}

/// More than this and the message is left out rather than held in memory.
const MAX_GATHERED: usize = 1 << 20;

/// Where a frame stands in an HTTP message spread over several segments.
#[derive(Clone, Debug, Default)]
pub(super) enum Part {
    /// Not in one.
    #[default]
    None,
    /// A segment before the last: tshark marks it `TCP segment data` only.
    Segment,
    /// The last segment: the whole message.
    Last(Gathering),
}

impl Segments {
    /// Takes `f`'s payload into the message it continues, if any.
    pub(super) fn step(&mut self, f: &Frame<'_>, http: &HttpLayer) -> Part {
        let (Some(info), Some(h)) = (f.tcp.as_ref(), f.tcp_header()) else {
            return Part::None;
        };
        let payload = f.tcp_payload();
        if payload.is_empty() || f.tcp_len() != Some(payload.len() as u32) {
            return Part::None;
        }
        let starts = self.starts.get_or_insert_with(|| {
            let mut starts = FxHashMap::default();
            for (ci, c) in http.report.connections.iter().enumerate() {
                for (mi, m) in c.messages.iter().enumerate() {
                    if m.frame != 0 && m.first_frame != m.frame {
                        starts.insert(m.first_frame, (ci, mi));
                    }
                }
            }
            starts
        });
        let len = payload.len() as u32;
        if let Some(&located) = starts.get(&f.number) {
            let m = &http.report.connections[located.0].messages[located.1];
            self.active.insert(
                info.stream,
                Gathering {
                    located,
                    end_frame: m.frame,
                    src_port: h.src_port(),
                    next_seq: info.seq.wrapping_add(len),
                    segments: vec![(f.number, len)],
                    bytes: payload.to_vec(),
                },
            );
            return Part::Segment;
        }
        let Some(g) = self.active.get_mut(&info.stream) else {
            return Part::None;
        };
        if g.src_port != h.src_port() {
            return Part::None;
        }
        if info.seq != g.next_seq || g.bytes.len() + payload.len() > MAX_GATHERED {
            // Out of order or too big: tshark's tree is not followed here.
            self.active.remove(&info.stream);
            return Part::None;
        }
        g.next_seq = info.seq.wrapping_add(len);
        g.segments.push((f.number, len));
        g.bytes.extend_from_slice(payload);
        if f.number < g.end_frame {
            return Part::Segment;
        }
        match self.active.remove(&info.stream) {
            Some(g) if g.end_frame == f.number => Part::Last(g),
            _ => Part::None,
        }
    }
}

/// What the frame's HTTP message adds to the `[Protocols in frame]` line and the subtrees
/// after TCP.
pub(super) struct Printed<'h> {
    conn: &'h Connection,
    msg: &'h Message,
    /// The message's bytes: the header section, then the body.
    bytes: &'h [u8],
    header_len: usize,
    body: Body,
    /// `Transfer-Encoding: chunked`.
    chunked: bool,
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

/// The HTTP message `f` shows, when keepsight can print tshark's tree for it: in `f`'s own
/// payload, or gathered over several segments (`whole`).
pub(super) fn find<'h>(
    f: &'h Frame<'h>,
    http: &'h HttpLayer,
    whole: Option<&'h Gathering>,
) -> Option<Printed<'h>> {
    let mut found = http.index.located(f.number);
    let (ci, mi) = found.next()?;
    if found.next().is_some() {
        return None;
    }
    let conn = http.report.connections.get(ci)?;
    let msg = conn.messages.get(mi)?;
    let bytes = match whole {
        Some(g) if g.located == (ci, mi) => &g.bytes[..],
        Some(_) => return None,
        None if msg.first_frame == f.number => f.tcp_payload(),
        None => return None,
    };
    if msg.version > 1 || !msg.verdicts.is_empty() {
        return None;
    }
    // Bytes a faulty message before it left over are glued to this one by tshark.
    let before = conn.messages[..mi]
        .iter()
        .rev()
        .find(|m| m.kind == msg.kind);
    if before.is_some_and(|m| !m.verdicts.is_empty()) {
        return None;
    }
    if whole.is_none() && f.tcp_len() != Some(bytes.len() as u32) {
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
            request_of(conn, msg)?;
        }
    }
    Some(Printed {
        conn,
        msg,
        bytes,
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

/// The request a response answers (same number, same connection).
fn request_of<'c>(conn: &'c Connection, resp: &Message) -> Option<&'c Message> {
    conn.messages
        .iter()
        .find(|m| m.kind == Kind::Request && m.number == resp.number && m.frame != 0)
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
    // tshark counts the conversation's requests as it meets them (one pass).
    let seen = p
        .conn
        .messages
        .iter()
        .filter(|r| r.kind == Kind::Request && r.frame != 0 && r.frame <= m.frame)
        .count();
    let request = |n: u32| {
        p.conn
            .messages
            .iter()
            .find(|r| r.kind == Kind::Request && r.number == n && r.frame != 0)
    };
    let response = |n: u32| {
        p.conn
            .messages
            .iter()
            .find(|r| r.kind == Kind::Response && r.number == n && r.frame != 0)
    };
    match m.kind {
        Kind::Request => {
            if t.open {
                t.indent(1);
                t.out.push_str("[Full request URI: ");
                full_uri(t.out, m);
                t.out.push_str("]\n");
            }
            t.line(1, format_args!("[HTTP request {}/{seen}]", m.number));
            if let Some(prev) = m.number.checked_sub(1).and_then(request) {
                t.num(1, "[Prev request in frame: ", prev.frame.into(), "]");
            }
        }
        Kind::Response => {
            t.line(1, format_args!("[HTTP response {}/{seen}]", m.number));
            if let Some(ns) = m.time_ns {
                t.line(
                    1,
                    format_args!("[Time since request: {} seconds]", Secs(ns)),
                );
            }
            if let Some(prev) = m.number.checked_sub(1).and_then(request) {
                t.num(1, "[Prev request in frame: ", prev.frame.into(), "]");
            }
            if let Some(prev) = m.number.checked_sub(1).and_then(response) {
                t.num(1, "[Prev response in frame: ", prev.frame.into(), "]");
            }
            if let Some(req) = request_of(p.conn, m) {
                t.num(1, "[Request in frame: ", req.frame.into(), "]");
                if t.open {
                    t.indent(1);
                    t.out.push_str("[Request URI: ");
                    full_uri(t.out, req);
                    t.out.push_str("]\n");
                }
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
pub(super) fn reassembled(g: &Gathering, t: &mut Tree<'_>) {
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
    for &(frame, len) in &g.segments {
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
    t.line(1, format_args!("[Reassembled TCP Data: {}]", Hex(&g.bytes)));
}
