//! HTTP/1.1 message heads and body framing, parsed strictly.
//!
//! Everything here works on bytes already in memory; the I/O lives in `conn` and `upstream`.
//! The rules are RFC 9112's, with every "MAY reject" that matters for request smuggling taken
//! as "MUST reject": a request whose framing two parsers could read differently is refused.

use bytes::{Buf, Bytes, BytesMut};
use keepsight_http::framing::{self, Answering, Chunked, FramingHeaders, Role, Strictness};
pub(crate) use keepsight_http::framing::{trim_ows, Framing};
use std::ops::Range;

/// Most headers a request or response head may carry; more is answered with 431.
pub(crate) const MAX_HEADERS: usize = 100;

/// Why a request was refused. Each maps to one status code and one log reason, and every one of
/// them closes the connection: after a framing error nothing later on the connection can be
/// trusted to start where we think it starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("request head larger than {0} bytes")]
    HeadTooLarge(usize),
    #[error("more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    #[error("malformed request head: {0}")]
    Malformed(&'static str),
    #[error("both Content-Length and Transfer-Encoding")]
    ContentLengthAndTransferEncoding,
    #[error("Content-Length values differ or are not a number")]
    BadContentLength,
    #[error("Transfer-Encoding is not exactly `chunked`")]
    BadTransferEncoding,
    #[error("Transfer-Encoding in an HTTP/1.0 request")]
    TransferEncodingHttp10,
    #[error("missing or repeated Host header in an HTTP/1.1 request")]
    BadHost,
    #[error("unsupported HTTP version")]
    Version,
    #[error("bad chunked body: {0}")]
    BadChunk(&'static str),
    #[error("request body larger than {0} bytes")]
    BodyTooLarge(u64),
    #[error("method not supported: {0}")]
    Method(&'static str),
}

impl RequestError {
    pub fn status(&self) -> u16 {
        match self {
            RequestError::HeadTooLarge(_) | RequestError::TooManyHeaders => 431,
            RequestError::Version => 505,
            RequestError::BodyTooLarge(_) => 413,
            RequestError::Method(_) => 501,
            _ => 400,
        }
    }
    /// A short fixed token for the access log.
    pub fn reason(&self) -> &'static str {
        match self {
            RequestError::HeadTooLarge(_) => "head-too-large",
            RequestError::TooManyHeaders => "too-many-headers",
            RequestError::Malformed(_) => "malformed",
            RequestError::ContentLengthAndTransferEncoding => "cl-and-te",
            RequestError::BadContentLength => "bad-content-length",
            RequestError::BadTransferEncoding => "bad-transfer-encoding",
            RequestError::TransferEncodingHttp10 => "te-in-http10",
            RequestError::BadHost => "bad-host",
            RequestError::Version => "version",
            RequestError::BadChunk(_) => "bad-chunk",
            RequestError::BodyTooLarge(_) => "body-too-large",
            RequestError::Method(_) => "method",
        }
    }
}

/// A parsed request head. The bytes are kept as received and fields are ranges into them, so a
/// request costs one allocation for the header table and none per header.
#[derive(Debug, Clone)]
pub struct RequestHead {
    raw: Bytes,
    method: Range<usize>,
    target: Range<usize>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    headers: Vec<(Range<usize>, Range<usize>)>,
    pub framing: Framing,
    /// The client asked to keep the connection (1.1 without `close`, 1.0 with `keep-alive`).
    pub wants_keep_alive: bool,
    pub expects_continue: bool,
}

impl RequestHead {
    pub fn method(&self) -> &str {
        // httparse only accepts token characters in a method, which are ASCII.
        std::str::from_utf8(&self.raw[self.method.clone()]).unwrap_or("")
    }
    pub fn target(&self) -> &[u8] {
        &self.raw[self.target.clone()]
    }
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.headers
            .iter()
            .map(move |(n, v)| (&self.raw[n.clone()], &self.raw[v.clone()]))
    }
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }
    pub fn is_head(&self) -> bool {
        self.method() == "HEAD"
    }
    /// RFC 9110 §9.2.2: methods a proxy may resend after a connection failure.
    pub fn is_idempotent(&self) -> bool {
        matches!(
            self.method(),
            "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
        )
    }
}

/// Outcome of trying to parse a head from the front of a buffer.
pub(crate) enum Parsed<T> {
    /// Need more bytes.
    Partial,
    /// The head (its bytes are taken from the buffer).
    Complete(T),
}

/// Where `part` (a slice httparse returned) lies inside `base`. A slice from elsewhere (a
/// default for a field httparse left empty) maps to an empty range instead of a wild one.
fn range_in(base: &[u8], part: &[u8]) -> Range<usize> {
    let b = base.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    if p < b || p + part.len() > b + base.len() {
        return 0..0;
    }
    p - b..p - b + part.len()
}

/// Parse and validate a request head at the front of `buf`. On `Complete`, the head's bytes
/// have been split off `buf`.
pub(crate) fn parse_request(
    buf: &mut BytesMut,
    max_head: usize,
) -> Result<Parsed<RequestHead>, RequestError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    let status = match req.parse(buf) {
        Ok(s) => s,
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::TooManyHeaders),
        Err(httparse::Error::HeaderName) => {
            // Also what a space before the colon or an obs-fold continuation line looks like.
            return Err(RequestError::Malformed(
                "invalid header name (space before colon or obsolete line folding?)",
            ));
        }
        Err(httparse::Error::HeaderValue) => {
            return Err(RequestError::Malformed("invalid header value"))
        }
        Err(httparse::Error::Version) => return Err(RequestError::Version),
        Err(httparse::Error::Token) => return Err(RequestError::Malformed("invalid method")),
        Err(httparse::Error::NewLine) => return Err(RequestError::Malformed("bad line ending")),
        Err(httparse::Error::Status) => return Err(RequestError::Malformed("bad request line")),
    };
    let len = match status {
        httparse::Status::Partial => {
            if buf.len() > max_head {
                return Err(RequestError::HeadTooLarge(max_head));
            }
            return Ok(Parsed::Partial);
        }
        httparse::Status::Complete(len) => len,
    };
    if len > max_head {
        return Err(RequestError::HeadTooLarge(max_head));
    }
    let minor = req.version.unwrap_or(1);
    let base: &[u8] = buf;
    let method = range_in(base, req.method.unwrap_or("").as_bytes());
    let target = range_in(base, req.path.unwrap_or("").as_bytes());
    let mut headers = Vec::with_capacity(req.headers.len());
    let mut framing_headers = FramingHeaders::new();
    let mut host_count = 0usize;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expects_continue = false;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        headers.push((range_in(base, name), range_in(base, h.value)));
        if framing_headers.add(name, h.value) {
            continue;
        }
        if name.eq_ignore_ascii_case(b"host") {
            host_count += 1;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = trim_ows(token);
                conn_close |= token.eq_ignore_ascii_case(b"close");
                conn_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            expects_continue = trim_ows(h.value).eq_ignore_ascii_case(b"100-continue");
        }
    }
    // The shared rules decide; every anomaly refuses the request.
    let decision = framing_headers.decide(Role::Request, minor);
    let anomalies = decision.anomalies;
    if anomalies.some_length_invalid || anomalies.lengths_differ {
        return Err(RequestError::BadContentLength);
    }
    // Only one header, and only the single coding `chunked`: every other spelling (`xchunked`,
    // `chunked, identity`, a second header, vertical tabs) is a way to make two parsers
    // disagree, and nothing legitimate needs it on a request.
    if anomalies.encoding_not_only_chunked {
        return Err(RequestError::BadTransferEncoding);
    }
    if anomalies.length_and_encoding {
        return Err(RequestError::ContentLengthAndTransferEncoding);
    }
    if anomalies.encoding_in_http10 {
        return Err(RequestError::TransferEncodingHttp10);
    }
    if minor == 1 && host_count != 1 || host_count > 1 {
        return Err(RequestError::BadHost);
    }
    let framing = match decision.framing {
        Framing::ContentLength(0) => Framing::NoBody,
        f => f,
    };
    let wants_keep_alive = if minor == 1 {
        !conn_close
    } else {
        conn_keep_alive && !conn_close
    };
    let head = RequestHead {
        raw: Bytes::new(),
        method,
        target,
        minor,
        headers,
        framing,
        wants_keep_alive,
        expects_continue: expects_continue && minor == 1,
    };
    let raw = buf.split_to(len).freeze();
    Ok(Parsed::Complete(RequestHead { raw, ..head }))
}

/// A parsed response head (from an upstream).
#[derive(Debug)]
pub(crate) struct ResponseHead {
    raw: Bytes,
    pub status: u16,
    reason: Range<usize>,
    headers: Vec<(Range<usize>, Range<usize>)>,
    /// The upstream will close after this response.
    pub closes: bool,
    pub framing: Framing,
}

impl ResponseHead {
    pub(crate) fn reason(&self) -> &[u8] {
        &self.raw[self.reason.clone()]
    }
    pub(crate) fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.headers
            .iter()
            .map(move |(n, v)| (&self.raw[n.clone()], &self.raw[v.clone()]))
    }
}

/// Why an upstream response could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ResponseError {
    #[error("malformed response head: {0}")]
    Malformed(String),
    #[error("response head larger than {0} bytes")]
    HeadTooLarge(usize),
    #[error("Content-Length values differ or are not a number")]
    BadContentLength,
}

/// Parse an upstream response head. `request_is_head` matters for framing: a response to HEAD
/// never has a body whatever its headers say.
pub(crate) fn parse_response(
    buf: &mut BytesMut,
    max_head: usize,
    request_is_head: bool,
) -> Result<Parsed<ResponseHead>, ResponseError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut slots);
    let status = resp
        .parse(buf)
        .map_err(|e| ResponseError::Malformed(e.to_string()))?;
    let len = match status {
        httparse::Status::Partial => {
            if buf.len() > max_head {
                return Err(ResponseError::HeadTooLarge(max_head));
            }
            return Ok(Parsed::Partial);
        }
        httparse::Status::Complete(len) => len,
    };
    let base: &[u8] = buf;
    let code = resp.code.unwrap_or(0);
    let minor = resp.version.unwrap_or(1);
    let reason = range_in(base, resp.reason.unwrap_or("").as_bytes());
    let mut headers = Vec::with_capacity(resp.headers.len());
    let mut framing_headers = FramingHeaders::new();
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        headers.push((range_in(base, name), range_in(base, h.value)));
        if framing_headers.add(name, h.value) {
            continue;
        }
        if name.eq_ignore_ascii_case(b"connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = trim_ows(token);
                conn_close |= token.eq_ignore_ascii_case(b"close");
                conn_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    // RFC 9112 §6.3 by the shared rules. A response may carry both length headers (the
    // encoding wins; the length is not forwarded) but never unusable lengths.
    let answering = if request_is_head {
        Answering::Head
    } else {
        Answering::Other
    };
    let decision = framing_headers.decide(
        Role::Response {
            status: code,
            answering,
        },
        minor,
    );
    if decision.anomalies.some_length_invalid || decision.anomalies.lengths_differ {
        return Err(ResponseError::BadContentLength);
    }
    let framing = match decision.framing {
        // No upgrades through the proxy (`Upgrade` is stripped), so a 101 has no body either.
        Framing::ContentLength(0) | Framing::Tunnel => Framing::NoBody,
        f => f,
    };
    let closes = conn_close || (minor == 0 && !conn_keep_alive) || framing == Framing::UntilClose;
    let head = ResponseHead {
        raw: Bytes::new(),
        status: code,
        reason,
        headers,
        closes,
        framing,
    };
    let raw = buf.split_to(len).freeze();
    Ok(Parsed::Complete(ResponseHead { raw, ..head }))
}

/// A `Content-Length` value by the shared rules: `1*DIGIT`, or a list of one value repeated
/// (`5, 5`, RFC 9110 §8.6); anything else (sign, spaces inside, hex, overflow) is `None`.
pub(crate) fn parse_content_length(value: &[u8]) -> Option<u64> {
    let mut h = FramingHeaders::new();
    h.add_content_length(value);
    let anomalies = h.decide(Role::Request, 1).anomalies;
    if anomalies.some_length_invalid || anomalies.lengths_differ {
        return None;
    }
    h.first_length()
}

/// Headers that describe one connection rather than the message (RFC 9110 §7.6.1), never
/// forwarded. `Content-Length` is not hop-by-hop but is rewritten by our own framing, so it is
/// dropped here too and set again from the body we actually send.
pub(crate) fn is_hop_by_hop(name: &[u8]) -> bool {
    const HOP: [&[u8]; 9] = [
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"expect",
    ];
    HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// Names listed in `Connection` headers: also hop-by-hop for this message.
pub(crate) fn connection_options<'a>(
    headers: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    for (n, v) in headers {
        if n.eq_ignore_ascii_case(b"connection") {
            for token in v.split(|&b| b == b',') {
                let token = trim_ows(token);
                if !token.is_empty() {
                    out.push(token);
                }
            }
        }
    }
    out
}

/// Strict chunked-body reader over a buffer: the shared decoder with CRLF-only line ends and
/// checked trailers, consuming from the front of the buffer and returning the data as
/// zero-copy `Bytes`.
#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    inner: framing::ChunkedDecoder,
}

/// One step of [`ChunkedDecoder::decode`].
pub(crate) enum Chunk {
    /// Some body data (may be followed by more).
    Data(Bytes),
    /// Need more input.
    NeedMore,
    /// The last chunk and trailers have been read.
    End,
}

impl ChunkedDecoder {
    /// A decoder whose chunk-size and trailer lines may be at most `max_line` bytes.
    pub(crate) fn new(max_line: usize) -> Self {
        ChunkedDecoder {
            inner: framing::ChunkedDecoder::new(
                Strictness::Strict,
                u32::try_from(max_line).unwrap_or(u32::MAX),
            ),
        }
    }

    /// Decode the next piece from the front of `buf`; framing bytes are consumed as they are
    /// checked, so `buf` never holds more than one read. Trailer fields are read and dropped:
    /// we never forward them, so nobody downstream can be confused by them.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Chunk, &'static str> {
        match self.inner.decode(buf) {
            Chunked::Data(range) => {
                buf.advance(range.start);
                Ok(Chunk::Data(buf.split_to(range.len()).freeze()))
            }
            Chunked::NeedMore => {
                buf.clear();
                Ok(Chunk::NeedMore)
            }
            Chunked::Done { consumed } => {
                buf.advance(consumed);
                Ok(Chunk::End)
            }
            Chunked::Error { error, .. } => Err(error.kind.text()),
        }
    }
}

/// Reason phrase for the status codes we generate ourselves.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// IMF-fixdate (RFC 9110 §5.6.7) for a Unix time in seconds.
pub(crate) fn http_date(unix: u64) -> String {
    keepsight_time::http_date(i64::try_from(unix).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Result<RequestHead, RequestError> {
        let mut b = BytesMut::from(s.as_bytes());
        match parse_request(&mut b, 8192)? {
            Parsed::Complete(h) => Ok(h),
            Parsed::Partial => panic!("partial"),
        }
    }

    /// Hostile input must give an answer, never a panic: mutate valid messages at random
    /// (bytes flipped, inserted, cut) and feed them to every parser here.
    #[test]
    fn mutated_messages_never_panic() {
        let seeds: [&[u8]; 4] = [
            b"POST /a?b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\n",
            b"GET / HTTP/1.0\r\nContent-Length: 3, 3\r\nConnection: keep-alive\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            b"HTTP/1.0 304 Not Modified\r\nConnection: close\r\n\r\n",
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        const INTERESTING: &[u8] = b"\r\n :;,0f\t\x0b\x00\x7f\xff-";
        for i in 0..20_000 {
            let mut m = seeds[i % seeds.len()].to_vec();
            for _ in 0..(next() % 4 + 1) {
                let pos = (next() as usize) % (m.len() + 1);
                let byte = if next() % 2 == 0 {
                    INTERESTING[(next() as usize) % INTERESTING.len()]
                } else {
                    next() as u8
                };
                match next() % 3 {
                    0 if pos < m.len() => m[pos] = byte,
                    1 => m.insert(pos, byte),
                    _ => m.truncate(pos),
                }
            }
            let mut b = BytesMut::from(&m[..]);
            if let Ok(Parsed::Complete(h)) = parse_request(&mut b, 8192) {
                let _ = (
                    h.method(),
                    h.target(),
                    h.headers().count(),
                    h.is_idempotent(),
                );
                if h.framing == Framing::Chunked {
                    let mut d = ChunkedDecoder::new(4096);
                    while let Ok(Chunk::Data(_)) = d.decode(&mut b) {}
                }
            }
            let mut b = BytesMut::from(&m[..]);
            if let Ok(Parsed::Complete(h)) = parse_response(&mut b, 8192, i % 5 == 0) {
                let _ = (h.reason(), h.headers().count());
            }
        }
    }

    #[test]
    fn range_outside_the_buffer_is_empty() {
        let base = b"HTTP/1.1 200 OK\r\n";
        assert_eq!(range_in(base, &base[9..12]), 9..12);
        assert_eq!(range_in(base, b""), 0..0);
        assert_eq!(range_in(base, b"elsewhere"), 0..0);
    }

    #[test]
    fn date_matches_known_values() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn content_length_rules() {
        assert_eq!(parse_content_length(b"42"), Some(42));
        assert_eq!(parse_content_length(b"5, 5"), Some(5));
        assert_eq!(parse_content_length(b"5, 6"), None);
        assert_eq!(parse_content_length(b"+5"), None);
        assert_eq!(parse_content_length(b"0x5"), None);
        assert_eq!(parse_content_length(b""), None);
        assert_eq!(parse_content_length(b"99999999999999999999"), None);
    }

    #[test]
    fn smuggling_heads_are_refused() {
        use RequestError::*;
        let base = "POST / HTTP/1.1\r\nHost: a\r\n";
        let cases: &[(&str, RequestError)] = &[
            (
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                ContentLengthAndTransferEncoding,
            ),
            (
                "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                ContentLengthAndTransferEncoding,
            ),
            (
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n",
                BadTransferEncoding,
            ),
            ("Transfer-Encoding: xchunked\r\n", BadTransferEncoding),
            (
                "Transfer-Encoding: chunked, identity\r\n",
                BadTransferEncoding,
            ),
            (
                "Content-Length: 5\r\nContent-Length: 6\r\n",
                BadContentLength,
            ),
        ];
        for (extra, want) in cases {
            let got = req(&format!("{base}{extra}\r\n")).unwrap_err();
            assert_eq!(&got, want, "{extra:?}");
        }
        assert!(matches!(
            req(&format!("{base}Transfer-Encoding : chunked\r\n\r\n")),
            Err(Malformed(_))
        ));
        assert!(matches!(
            req(&format!("{base}X-A: b\r\n c\r\n\r\n")),
            Err(Malformed(_))
        ));
        assert_eq!(req("GET / HTTP/1.1\r\n\r\n").unwrap_err(), BadHost);
        assert!(req("GET / HTTP/1.0\r\n\r\n").is_ok());
    }

    #[test]
    fn chunked_decoding() {
        let mut d = ChunkedDecoder::new(4096);
        let mut b = BytesMut::from(&b"5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\nNEXT"[..]);
        let mut data = Vec::new();
        loop {
            match d.decode(&mut b).unwrap() {
                Chunk::Data(x) => data.extend_from_slice(&x),
                Chunk::End => break,
                Chunk::NeedMore => panic!("need more"),
            }
        }
        assert_eq!(data, b"hello");
        assert_eq!(&b[..], b"NEXT");
        let mut d = ChunkedDecoder::new(4096);
        let mut b = BytesMut::from(&b"000000000000000000003\r\nabc\r\n00000\r\n\r\n"[..]);
        assert!(matches!(d.decode(&mut b), Ok(Chunk::Data(x)) if &x[..] == b"abc"));
        assert!(matches!(d.decode(&mut b), Ok(Chunk::End)));
        for bad in [
            &b"fffffffffffffffff\r\n"[..],
            b"10000000000000000\r\n",
            b"zz\r\n",
            b"5\nhello\r\n",
            b"5\r\nhelloXX",
            b"\r\n",
            b"-1\r\n",
        ] {
            let mut d = ChunkedDecoder::new(4096);
            let mut b = BytesMut::from(bad);
            let mut res = Ok(Chunk::NeedMore);
            for _ in 0..4 {
                res = d.decode(&mut b);
                if !matches!(res, Ok(Chunk::Data(_))) {
                    break;
                }
            }
            assert!(res.is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
