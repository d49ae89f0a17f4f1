//! The HTTP/1.x message parser of one direction: start line and headers (httparse), then the
//! body framing of RFC 9112 §6.3, fed with reassembled bytes.
//!
//! Only header sections and chunk-size/trailer lines are copied (bounded by [`MAX_HEADER`] and
//! [`MAX_LINE`]); body bytes are counted, never kept.

use crate::model::{End, Framing, Kind, Message, Verdict};

/// Largest header section kept while waiting for its end; beyond, the direction is lost.
pub const MAX_HEADER: usize = 64 * 1024;
/// Largest chunk-size or trailer line.
pub const MAX_LINE: usize = 4096;
/// Stray bytes kept while looking for the next message start.
pub const MAX_SCAN: usize = 64 * 1024;

const METHODS: [&[u8]; 9] = [
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

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Match {
    Yes,
    No,
    NeedMore,
}

/// Does `b` start like an HTTP/1.x message of this kind? `strict` requests only accept the
/// common methods (used when searching for a restart point inside garbage).
pub fn start_match(b: &[u8], kind: Kind, strict: bool) -> Match {
    match kind {
        Kind::Response => prefix_match(b, b"HTTP/1."),
        Kind::Request if strict => {
            let mut need = false;
            for m in METHODS {
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
pub fn sniff(b: &[u8]) -> Match2 {
    match (
        start_match(b, Kind::Response, false),
        start_match(b, Kind::Request, false),
    ) {
        (Match::Yes, _) => Match2::Is(Kind::Response),
        (_, Match::Yes) => match b.iter().position(|&c| c == b'\n') {
            Some(nl) => {
                let line = b[..nl].strip_suffix(b"\r").unwrap_or(&b[..nl]);
                let n = line.len();
                if n >= 9 && line[..n - 1].ends_with(b" HTTP/1.") && line[n - 1].is_ascii_digit() {
                    Match2::Is(Kind::Request)
                } else {
                    Match2::NotHttp
                }
            }
            None if b.len() > 8192 => Match2::NotHttp,
            None => Match2::NeedMore,
        },
        (Match::No, Match::No) => Match2::NotHttp,
        _ => Match2::NeedMore,
    }
}

pub enum Match2 {
    Is(Kind),
    NotHttp,
    NeedMore,
}

/// `Content-Length`, `Transfer-Encoding` and friends, pulled out of a header section.
#[derive(Default)]
pub struct Head {
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
    pub cl_values: Vec<String>,
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
pub fn parse_head(buf: &[u8], kind: Kind) -> Option<Head> {
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
        } else if name.eq_ignore_ascii_case("host") {
            h.host = Some(text(hd.value));
        } else if name.eq_ignore_ascii_case("upgrade") {
            h.upgrade = true;
        }
    }
    Some(h)
}

/// True when a comma-separated header value has `token` (case-insensitive).
pub fn has_token(v: Option<&str>, token: &str) -> bool {
    v.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// `timeout=N, max=M` from a `Keep-Alive` header.
pub fn keep_alive_params(v: &str) -> (Option<u64>, Option<u64>) {
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

/// Decides the body framing and header verdicts (RFC 9112 §6.3). `req_method` is the method
/// of the request a response answers.
pub fn framing(h: &Head, req_method: Option<&str>, verdicts: &mut Vec<Verdict>) -> Framing {
    let kind = h.kind.unwrap_or(Kind::Request);
    if kind == Kind::Response {
        let code = h.code.unwrap_or(0);
        if code == 101 {
            return Framing::Tunnel;
        }
        if req_method == Some("CONNECT") && (200..300).contains(&code) {
            return Framing::Tunnel;
        }
        if req_method == Some("HEAD") || (100..200).contains(&code) || code == 204 || code == 304 {
            return Framing::NoBody;
        }
    }
    if let Some(te) = &h.te {
        if !h.cl_values.is_empty() {
            verdicts.push(Verdict::TeAndLength);
        }
        let last = te.rsplit(',').next().unwrap_or("").trim();
        if last.eq_ignore_ascii_case("chunked") {
            return Framing::Chunked;
        }
        // Not chunked last: a response runs until close; a request cannot be framed (400).
        return match kind {
            Kind::Response => Framing::UntilClose,
            Kind::Request => Framing::NoBody,
        };
    }
    if let Some(first) = h.cl_values.first() {
        if h.cl_values.iter().any(|v| v != first) {
            verdicts.push(Verdict::DuplicateContentLength {
                values: h.cl_values.clone(),
            });
        }
        match first.parse::<u64>() {
            Ok(n) if first.bytes().all(|c| c.is_ascii_digit()) => {
                return Framing::ContentLength(n);
            }
            _ => {
                verdicts.push(Verdict::InvalidContentLength {
                    value: first.clone(),
                });
                return match kind {
                    Kind::Response => Framing::UntilClose,
                    Kind::Request => Framing::NoBody,
                };
            }
        }
    }
    match kind {
        Kind::Response => Framing::UntilClose,
        Kind::Request => Framing::NoBody,
    }
}

/// Index just past the end of the header section (`\r\n\r\n`, or bare `\n\n` as tolerated by
/// clients), searching from `from`.
pub fn header_end(buf: &[u8], from: usize) -> Option<usize> {
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
pub fn message(h: Head, stream: u32, first_frame: u32, first_ts_ns: i64) -> Message {
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
        content_length: h.cl_values.first().and_then(|v| v.parse().ok()),
        transfer_encoding: h.te,
        framing: Framing::NoBody,
        body_bytes: 0,
        request_in: None,
        response_in: None,
        time_ns: None,
        verdicts: Vec::new(),
    }
}

/// Chunked-body state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// Reading a chunk-size line.
    Size,
    Data(u64),
    /// Expecting the CRLF after chunk data (`true` once CR was seen).
    DataEnd(bool),
    /// Reading trailer lines after the last chunk.
    Trailer,
}

/// Parses a chunk-size line (without its line end): hex digits, optional whitespace and
/// `;extensions`. `None` when invalid or absurdly large.
pub fn chunk_size(line: &[u8]) -> Option<u64> {
    let line = match line.iter().position(|&c| c == b';') {
        Some(p) => &line[..p],
        None => line,
    };
    let s = line.trim_ascii();
    if s.is_empty() || s.len() > 15 {
        return None;
    }
    let mut n = 0u64;
    for &c in s {
        n = n * 16 + (c as char).to_digit(16)? as u64;
    }
    Some(n)
}

/// Printable form of a bad line, for verdict text.
pub fn show(line: &[u8]) -> String {
    line.iter()
        .take(40)
        .flat_map(|&c| std::ascii::escape_default(c))
        .map(char::from)
        .collect()
}

pub fn end_text(e: End) -> String {
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
    fn chunk_sizes() {
        assert_eq!(chunk_size(b"b"), Some(11));
        assert_eq!(chunk_size(b"1A;name=val"), Some(26));
        assert_eq!(chunk_size(b"0 "), Some(0));
        assert_eq!(chunk_size(b"zz"), None);
        assert_eq!(chunk_size(b""), None);
        assert_eq!(chunk_size(b"ffffffffffffffffff"), None);
    }

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
        assert!(matches!(sniff(b"FETCH /x BULK/1.0\r\n"), Match2::NotHttp));
        assert!(matches!(
            sniff(b"GET /x HTTP/1.1\r\n"),
            Match2::Is(Kind::Request)
        ));
        assert!(matches!(sniff(b"GET /x HT"), Match2::NeedMore));
    }

    #[test]
    fn framing_rules() {
        let mut v = Vec::new();
        let mut h = parse_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            Kind::Response,
        )
        .unwrap();
        assert_eq!(framing(&h, Some("GET"), &mut v), Framing::Chunked);
        assert_eq!(v, vec![Verdict::TeAndLength]);
        v.clear();
        assert_eq!(framing(&h, Some("HEAD"), &mut v), Framing::NoBody);
        h.te = None;
        h.cl_values = vec!["5".into(), "6".into()];
        v.clear();
        assert_eq!(framing(&h, Some("GET"), &mut v), Framing::ContentLength(5));
        assert!(matches!(v[0], Verdict::DuplicateContentLength { .. }));
        let h = parse_head(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
            Kind::Response,
        )
        .unwrap();
        assert_eq!(framing(&h, Some("GET"), &mut v), Framing::NoBody);
        let h = parse_head(b"HTTP/1.0 200 OK\r\n\r\n", Kind::Response).unwrap();
        assert_eq!(framing(&h, Some("GET"), &mut v), Framing::UntilClose);
        let h = parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Kind::Request).unwrap();
        assert_eq!(framing(&h, None, &mut v), Framing::NoBody);
        assert_eq!(
            keep_alive_params("timeout=5, max=100"),
            (Some(5), Some(100))
        );
    }
}
