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

use super::tree::{expert, Secs, Tree};
use crate::packets::HttpLayer;
use keepsight_engine::Frame;
use keepsight_http::{Connection, Kind, Message};

/// What the frame's HTTP message adds to the `[Protocols in frame]` line and the subtrees
/// after TCP.
pub(super) struct Printed<'h> {
    conn: &'h Connection,
    msg: &'h Message,
    /// The message's bytes: the header section, then the body.
    bytes: &'h [u8],
    header_len: usize,
    body: Body,
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
const EXPANDED_HEADERS: [&str; 9] = [
    "cookie",
    "set-cookie",
    "authorization",
    "proxy-authorization",
    "www-authenticate",
    "proxy-authenticate",
    "upgrade",
    "content-encoding",
    "transfer-encoding",
];

/// The HTTP message `f` shows, when keepsight can print tshark's tree for it.
pub(super) fn find<'h>(f: &'h Frame<'h>, http: &'h HttpLayer) -> Option<Printed<'h>> {
    let mut found = http.index.located(f.number);
    let (ci, mi) = found.next()?;
    if found.next().is_some() {
        return None;
    }
    let conn = http.report.connections.get(ci)?;
    let msg = conn.messages.get(mi)?;
    if msg.first_frame != f.number || msg.version > 1 || !msg.verdicts.is_empty() {
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
    let bytes = f.tcp_payload();
    if f.tcp_len() != Some(bytes.len() as u32) {
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
    let body_len = bytes.len() - header_len;
    if msg.content_length.unwrap_or(0) != body_len as u64 {
        return None;
    }
    let mut content_type = None;
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
    }
    let body = match (body_len, content_type) {
        (0, _) => Body::None,
        (_, Some("text/plain")) if plain_text(&bytes[header_len..]) => Body::Text,
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
    let body = &p.bytes[p.header_len..];
    if !body.is_empty() {
        t.num(1, "File Data: ", body.len() as u64, " bytes");
    }
    if p.body == Body::Text {
        let open = std::mem::replace(&mut t.open, text_open);
        text_lines(body, t);
        t.open = open;
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
