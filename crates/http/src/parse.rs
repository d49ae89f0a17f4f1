//! The HTTP/1.x message parser of one direction: start line and headers (httparse), then the
//! body framing of RFC 9112 §6.3, fed with reassembled bytes.
//!
//! Only header sections and chunk-size/trailer lines are copied (bounded by [`MAX_HEADER`] and
//! [`MAX_LINE`]); body bytes are counted, never kept.

use crate::framing::{Answering, FramingHeaders, Role};
use crate::model::{End, Framing, Kind, Message, Verdict};

/// Largest header section kept while waiting for its end; beyond, the direction is lost.
pub(crate) const MAX_HEADER: usize = 64 * 1024;
/// Largest chunk-size or trailer line.
pub(crate) const MAX_LINE: usize = 4096;
/// Stray bytes kept while looking for the next message start.
pub(crate) const MAX_SCAN: usize = 64 * 1024;

/// The request methods an HTTP/1 message is recognized by, each with the space after it
/// (RFC 9110's methods and PATCH): the one list every heuristic that looks for HTTP uses.
pub const REQUEST_METHODS: [&[u8]; 9] = [
    b"GET ",
    b"HEAD ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"CONNECT ",
    b"OPTIONS ",
    b"TRACE ",
    b"PATCH ",
];

/// True when `b` begins as an HTTP/1 request line (a known method) or status line does.
pub fn starts_like_message(b: &[u8]) -> bool {
    b.starts_with(b"HTTP/1.") || starts_with_method(b)
}

/// True when `b` begins with one of [`REQUEST_METHODS`].
pub fn starts_with_method(b: &[u8]) -> bool {
    REQUEST_METHODS.iter().any(|m| b.starts_with(m))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Match {
    Yes,
    No,
    NeedMore,
}

/// Does `b` start like an HTTP/1.x message of this kind? `strict` requests only accept the
/// common methods (used when searching for a restart point inside garbage).
pub(crate) fn start_match(b: &[u8], kind: Kind, strict: bool) -> Match {
    match kind {
        Kind::Response => prefix_match(b, b"HTTP/1."),
        Kind::Request if strict => {
            let mut need = false;
            for m in REQUEST_METHODS {
                match prefix_match(b, m) {
                    Match::Yes => return Match::Yes,
                    Match::NeedMore => need = true,
                    Match::No => {}
                }
            }
            if need {
                Match::NeedMore
            } else {
                Match::No
            }
        }
        Kind::Request => {
            // An upper-case token then a space (extension methods allowed).
            for (i, &c) in b.iter().enumerate() {
                if c == b' ' {
                    return if i > 0 { Match::Yes } else { Match::No };
                }
                if !c.is_ascii_uppercase() && c != b'-' && c != b'_' || i >= 24 {
                    return Match::No;
                }
            }
            Match::NeedMore
        }
    }
}

fn prefix_match(b: &[u8], p: &[u8]) -> Match {
    let n = b.len().min(p.len());
    if b[..n] != p[..n] {
        Match::No
    } else if n < p.len() {
        Match::NeedMore
    } else {
        Match::Yes
    }
}

/// Which kind of message a direction's first bytes are, if any. A request needs its whole
/// first line ending in `HTTP/1.x`: many text protocols start with an upper-case verb and a
/// space (`FETCH /x BULK/1.0`), and taking them for HTTP would invent broken messages.
pub(crate) fn sniff(b: &[u8]) -> Sniffed {
    match (
        start_match(b, Kind::Response, false),
        start_match(b, Kind::Request, false),
    ) {
        (Match::Yes, _) => Sniffed::Is(Kind::Response),
        (_, Match::Yes) => match b.iter().position(|&c| c == b'\n') {
            Some(nl) => {
                let line = b[..nl].strip_suffix(b"\r").unwrap_or(&b[..nl]);
                let n = line.len();
                if n >= 9 && line[..n - 1].ends_with(b" HTTP/1.") && line[n - 1].is_ascii_digit() {
                    Sniffed::Is(Kind::Request)
                } else {
                    Sniffed::NotHttp
                }
            }
            None if b.len() > 8192 => Sniffed::NotHttp,
            None => Sniffed::NeedMore,
        },
        (Match::No, Match::No) => Sniffed::NotHttp,
        _ => Sniffed::NeedMore,
    }
}

/// What a direction's first bytes are.
pub(crate) enum Sniffed {
    /// The start of an HTTP/1.x message of this kind.
    Is(Kind),
    /// Another protocol.
    NotHttp,
    /// Too few bytes to tell.
    NeedMore,
}

/// `Content-Length`, `Transfer-Encoding` and friends, pulled out of a header section.
#[derive(Default)]
pub(crate) struct Head {
    pub kind: Option<Kind>,
    pub version: u8,
    pub method: Option<String>,
    pub uri: Option<String>,
    pub code: Option<u16>,
    pub phrase: Option<String>,
    pub host: Option<String>,
    pub connection: Option<String>,
    pub keep_alive: Option<String>,
    pub te: Option<String>,
    pub content_type: Option<String>,
    /// Every `Content-Length` value as sent, for verdict text.
    pub cl_values: Vec<String>,
    /// The framing headers, for the shared framing decision.
    pub framing_headers: FramingHeaders,
    pub upgrade: bool,
}

fn text(v: &[u8]) -> String {
    // Header values are bytes; show them as Latin-1 so nothing is lost or rejected.
    v.iter()
        .map(|&c| c as char)
        .collect::<String>()
        .trim()
        .to_string()
}

/// Parses a complete header section (start line included). `None` when it is not HTTP/1.x.
pub(crate) fn parse_head(buf: &[u8], kind: Kind) -> Option<Head> {
    let mut storage = [httparse::EMPTY_HEADER; 128];
    let mut h = Head {
        kind: Some(kind),
        ..Head::default()
    };
    let headers: &[httparse::Header<'_>] = match kind {
        Kind::Response => {
            let mut r = httparse::Response::new(&mut storage);
            let mut cfg = httparse::ParserConfig::default();
            cfg.allow_multiple_spaces_in_response_status_delimiters(true)
                .allow_obsolete_multiline_headers_in_responses(true)
                .allow_spaces_after_header_name_in_responses(true);
            match cfg.parse_response(&mut r, buf) {
                Ok(httparse::Status::Complete(_)) => {}
                _ => return None,
            }
            h.version = r.version?;
            h.code = r.code;
            h.phrase = r.reason.map(|s| s.to_string());
            let n = r.headers.len();
            &storage[..n]
        }
        Kind::Request => {
            let mut r = httparse::Request::new(&mut storage);
            let mut cfg = httparse::ParserConfig::default();
            cfg.allow_multiple_spaces_in_request_line_delimiters(true);
            match cfg.parse_request(&mut r, buf) {
                Ok(httparse::Status::Complete(_)) => {}
                _ => return None,
            }
            h.version = r.version?;
            h.method = r.method.map(str::to_string);
            h.uri = r.path.map(str::to_string);
            let n = r.headers.len();
            &storage[..n]
        }
    };
    for hd in headers {
        let name = hd.name;
        h.framing_headers.add(name.as_bytes(), hd.value);
        if name.eq_ignore_ascii_case("content-length") {
            // A list value ("12, 12") counts as several values, as RFC 9110 §8.6 allows.
            for part in text(hd.value).split(',') {
                h.cl_values.push(part.trim().to_string());
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let v = text(hd.value);
            h.te = Some(match h.te.take() {
                Some(old) => format!("{old}, {v}"),
                None => v,
            });
        } else if name.eq_ignore_ascii_case("connection") {
            let v = text(hd.value);
            h.connection = Some(match h.connection.take() {
                Some(old) => format!("{old}, {v}"),
                None => v,
            });
        } else if name.eq_ignore_ascii_case("keep-alive") {
            h.keep_alive = Some(text(hd.value));
        } else if name.eq_ignore_ascii_case("content-type") {
            let v = text(hd.value);
            let media = v.split(';').next().unwrap_or("").trim();
            h.content_type = Some(media.to_ascii_lowercase());
        } else if name.eq_ignore_ascii_case("host") {
            h.host = Some(text(hd.value));
        } else if name.eq_ignore_ascii_case("upgrade") {
            h.upgrade = true;
        }
    }
    Some(h)
}

/// True when a comma-separated header value has `token` (case-insensitive).
pub(crate) fn has_token(v: Option<&str>, token: &str) -> bool {
    v.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// `timeout=N, max=M` from a `Keep-Alive` header.
pub(crate) fn keep_alive_params(v: &str) -> (Option<u64>, Option<u64>) {
    let mut t = None;
    let mut m = None;
    for p in v.split(',') {
        let (k, val) = p.split_once('=').unwrap_or((p, ""));
        let val = val.trim().trim_matches('"').parse().ok();
        if k.trim().eq_ignore_ascii_case("timeout") {
            t = val;
        } else if k.trim().eq_ignore_ascii_case("max") {
            m = val;
        }
    }
    (t, m)
}

/// Decides the body framing (the shared rules of [`crate::framing`]) and the verdicts this
/// analyzer reports about the framing headers; tolerant: an anomaly is a verdict, the message
/// is followed as well as it can be.
pub(crate) fn framing(h: &Head, answering: Answering, verdicts: &mut Vec<Verdict>) -> Framing {
    let kind = h.kind.unwrap_or(Kind::Request);
    let role = match kind {
        Kind::Request => Role::Request,
        Kind::Response => Role::Response {
            status: h.code.unwrap_or(0),
            answering,
        },
    };
    let decision = h.framing_headers.decide(role, h.version);
    let anomalies = decision.anomalies;
    // A response that has no body by its status or request: its length headers say nothing.
    if kind == Kind::Response && matches!(decision.framing, Framing::NoBody | Framing::Tunnel) {
        return decision.framing;
    }
    if h.framing_headers.has_encoding() {
        if anomalies.length_and_encoding {
            verdicts.push(Verdict::TeAndLength);
        }
    } else if h.framing_headers.has_length() {
        if anomalies.lengths_differ {
            verdicts.push(Verdict::DuplicateContentLength {
                values: h.cl_values.clone(),
            });
        }
        if anomalies.first_length_invalid {
            verdicts.push(Verdict::InvalidContentLength {
                value: h.cl_values.first().cloned().unwrap_or_default(),
            });
        }
    }
    decision.framing
}

/// Index just past the end of the header section (`\r\n\r\n`, or bare `\n\n` as tolerated by
/// clients), searching from `from`.
pub(crate) fn header_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

/// A new message record from a parsed head.
pub(crate) fn message(h: Head, stream: u32, first_frame: u32, first_ts_ns: i64) -> Message {
    let kind = h.kind.unwrap_or(Kind::Request);
    Message {
        kind,
        stream,
        number: 0,
        first_frame,
        header_frame: 0,
        frame: 0,
        first_ts_ns,
        ts_ns: 0,
        version: h.version,
        method: h.method,
        uri: h.uri,
        code: h.code,
        phrase: h.phrase,
        host: h.host,
        connection: h.connection,
        keep_alive: h.keep_alive,
        content_length: h.framing_headers.first_length(),
        transfer_encoding: h.te,
        content_type: h.content_type,
        framing: Framing::NoBody,
        body_bytes: 0,
        request_in: None,
        response_in: None,
        time_ns: None,
        verdicts: Vec::new(),
    }
}

/// Printable form of a bad line, for verdict text.
pub(crate) fn show(line: &[u8]) -> String {
    line.iter()
        .take(40)
        .flat_map(|&c| std::ascii::escape_default(c))
        .map(char::from)
        .collect()
}

pub(crate) fn end_text(e: End) -> String {
    match e {
        End::Fin(f) => format!("the sender closed (FIN, frame {f})"),
        End::Rst(f) => format!("the connection was reset (RST, frame {f})"),
        End::NextMessage(f) => format!("the next message began (frame {f})"),
        End::CaptureEnd => "the capture ended".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts() {
        assert_eq!(start_match(b"HTT", Kind::Response, false), Match::NeedMore);
        assert_eq!(
            start_match(b"HTTP/1.1 200", Kind::Response, false),
            Match::Yes
        );
        assert_eq!(start_match(b"C", Kind::Response, false), Match::No);
        assert_eq!(start_match(b"GET /", Kind::Request, false), Match::Yes);
        assert_eq!(
            start_match(b"\x16\x03\x01", Kind::Request, false),
            Match::No
        );
        assert_eq!(start_match(b"CGET /", Kind::Request, true), Match::No);
        assert!(matches!(sniff(b"FETCH /x BULK/1.0\r\n"), Sniffed::NotHttp));
        assert!(matches!(
            sniff(b"GET /x HTTP/1.1\r\n"),
            Sniffed::Is(Kind::Request)
        ));
        assert!(matches!(sniff(b"GET /x HT"), Sniffed::NeedMore));
    }

    #[test]
    fn framing_rules() {
        let mut v = Vec::new();
        let mut h = parse_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            Kind::Response,
        )
        .unwrap();
        assert_eq!(framing(&h, Answering::Other, &mut v), Framing::Chunked);
        assert_eq!(v, vec![Verdict::TeAndLength]);
        v.clear();
        assert_eq!(framing(&h, Answering::Head, &mut v), Framing::NoBody);
        h.te = None;
        h.framing_headers = FramingHeaders::new();
        h.framing_headers.add_content_length(b"5, 6");
        h.cl_values = vec!["5".into(), "6".into()];
        v.clear();
        assert_eq!(
            framing(&h, Answering::Other, &mut v),
            Framing::ContentLength(5)
        );
        assert!(matches!(v[0], Verdict::DuplicateContentLength { .. }));
        let h = parse_head(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
            Kind::Response,
        )
        .unwrap();
        assert_eq!(framing(&h, Answering::Other, &mut v), Framing::NoBody);
        let h = parse_head(b"HTTP/1.0 200 OK\r\n\r\n", Kind::Response).unwrap();
        assert_eq!(framing(&h, Answering::Other, &mut v), Framing::UntilClose);
        let h = parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Kind::Request).unwrap();
        assert_eq!(framing(&h, Answering::Other, &mut v), Framing::NoBody);
        assert_eq!(
            keep_alive_params("timeout=5, max=100"),
            (Some(5), Some(100))
        );
    }
}
