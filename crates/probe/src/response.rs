//! The prober's HTTP/1.x response reader: one response off a [`Conn`], its framing checked
//! strictly by the workspace's shared rules ([`keepsight_http::framing`]), with a precise error
//! (what, and at which byte of the body) when a server frames badly.
//!
//! Apart from the probe procedure (`http`) and the idle search (`search`), which both read
//! responses through it.

use crate::conn::{Conn, IoFail};
use keepsight_http::framing::{
    parse_decimal, Answering, Chunked, ChunkedDecoder, FramingHeaders, Role, Strictness,
};
use std::future::Future;
use tokio::time::Instant;

pub use keepsight_http::framing::Framing;

/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest chunk-size or trailer line accepted.
const MAX_LINE: u32 = 4096;

/// Serializes a framing as its report name (`none`, `content-length`, `chunked`, `close`).
pub fn serialize_framing<S: serde::Serializer>(f: &Framing, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(f.name())
}

/// One response as read off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// `Connection: close` was sent.
    pub connection_close: bool,
    /// `Connection: keep-alive` was sent.
    pub connection_keep_alive: bool,
    /// `Keep-Alive: timeout=N, max=M`.
    pub ka_timeout: Option<u64>,
    /// See `ka_timeout`.
    pub ka_max: Option<u64>,
    /// How the body was delimited (`NoBody` for 1xx, 204, 304 and responses to HEAD).
    pub framing: Framing,
    /// Body bytes (decoded, for chunked).
    pub body_len: u64,
    /// Framing faults found in this response.
    pub problems: Vec<String>,
}

impl Response {
    /// Whether the server lets the connection carry another request after this response.
    pub fn reusable(&self) -> bool {
        if self.framing == Framing::UntilClose || self.connection_close {
            return false;
        }
        self.minor >= 1 || self.connection_keep_alive
    }

    /// Why the connection ends after this response, if it does.
    pub fn end_reason(&self) -> Option<&'static str> {
        if self.connection_close {
            Some("connection-close-header")
        } else if self.framing == Framing::UntilClose {
            Some("body-delimited-by-close")
        } else if self.minor == 0 && !self.connection_keep_alive {
            Some("http10-without-keep-alive")
        } else {
            None
        }
    }
}

/// Why a response could not be read.
#[derive(Debug, Clone)]
pub enum ReadError {
    /// The connection failed (closed, reset, timed out).
    Io(IoFail),
    /// The bytes are not a well-formed HTTP/1.x response (the text says where and why).
    Malformed(String),
}

impl ReadError {
    /// As a connection failure (for the idle search, which only cares whether it worked).
    pub fn into_io(self) -> IoFail {
        match self {
            ReadError::Io(e) => e,
            ReadError::Malformed(m) => IoFail::Other(format!("malformed response: {m}")),
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Malformed(m) => write!(f, "malformed response: {m}"),
        }
    }
}

impl From<IoFail> for ReadError {
    fn from(e: IoFail) -> Self {
        ReadError::Io(e)
    }
}

/// Where responses are read from: a [`Conn`], or bytes in memory (the fuzz targets read
/// them through the same code).
pub trait ResponseSource {
    /// Bytes read but not consumed yet.
    fn buffer(&mut self) -> &mut Vec<u8>;

    /// Reads more bytes into the buffer; `Err(IoFail::Eof)` once the peer has closed.
    fn fill(&mut self, deadline: Instant) -> impl Future<Output = Result<usize, IoFail>>;

    /// Drops the first `n` buffered bytes.
    fn consume(&mut self, n: usize) {
        self.buffer().drain(..n);
    }
}

impl ResponseSource for Conn {
    fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    fn fill(&mut self, deadline: Instant) -> impl Future<Output = Result<usize, IoFail>> {
        Conn::fill(self, deadline)
    }

    fn consume(&mut self, n: usize) {
        Conn::consume(self, n);
    }
}

/// Reads one complete response (skipping 1xx interim responses), checking its framing. The
/// body is counted and discarded, so memory stays bounded whatever its size.
pub async fn read_response(
    conn: &mut impl ResponseSource,
    deadline: Instant,
    head_request: bool,
) -> Result<Response, ReadError> {
    loop {
        let r = read_one(conn, deadline, head_request).await?;
        if !(100..200).contains(&r.status) || r.status == 101 {
            return Ok(r);
        }
    }
}

async fn read_one(
    conn: &mut impl ResponseSource,
    deadline: Instant,
    head_request: bool,
) -> Result<Response, ReadError> {
    let mut started = !conn.buffer().is_empty();
    let (mut resp, head_len) = loop {
        let mut headers = [httparse::EMPTY_HEADER; 100];
        let mut parsed = httparse::Response::new(&mut headers);
        match parsed.parse(conn.buffer()) {
            Ok(httparse::Status::Complete(n)) => break (head_of(&parsed, head_request)?, n),
            Ok(httparse::Status::Partial) => {
                if conn.buffer().len() > MAX_HEAD {
                    return Err(ReadError::Malformed(format!(
                        "response head longer than {MAX_HEAD} bytes"
                    )));
                }
            }
            Err(e) => {
                let buf = conn.buffer();
                let start = String::from_utf8_lossy(&buf[..buf.len().min(40)])
                    .escape_debug()
                    .to_string();
                return Err(ReadError::Malformed(format!(
                    "{e} in the response head (starts `{start}`); extra bytes left by the previous response's wrong length?"
                )));
            }
        }
        match conn.fill(deadline).await {
            Ok(_) => started = true,
            Err(IoFail::Eof) if started => {
                return Err(ReadError::Malformed(format!(
                    "the connection closed in the middle of a response head ({} bytes)",
                    conn.buffer().len()
                )))
            }
            Err(e) => return Err(e.into()),
        }
    };
    conn.consume(head_len);
    match resp.framing {
        Framing::NoBody | Framing::Tunnel => resp.framing = Framing::NoBody,
        Framing::Chunked => read_chunked(conn, deadline, &mut resp).await?,
        Framing::ContentLength(len) => {
            let mut left = len;
            loop {
                let take = (conn.buffer().len() as u64).min(left) as usize;
                conn.consume(take);
                left -= take as u64;
                if left == 0 {
                    break;
                }
                match conn.fill(deadline).await {
                    Ok(_) => {}
                    Err(IoFail::Eof) => {
                        return Err(ReadError::Malformed(format!(
                            "Content-Length is {len} but the connection closed after {} body bytes",
                            len - left
                        )))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            resp.body_len = len;
        }
        Framing::UntilClose => {
            let mut n = conn.buffer().len() as u64;
            conn.buffer().clear();
            loop {
                match conn.fill(deadline).await {
                    Ok(k) => {
                        n += k as u64;
                        conn.buffer().clear();
                    }
                    Err(IoFail::Eof) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            resp.body_len = n;
        }
    }
    Ok(resp)
}

/// Status, version, the headers that matter and the framing decision. Unusable lengths are
/// an error (the rest of the connection cannot be read); a length next to chunked and an
/// encoding that does not end in chunked are problems noted on a readable response.
fn head_of(p: &httparse::Response, head_request: bool) -> Result<Response, ReadError> {
    let mut r = Response {
        status: p.code.unwrap_or(0),
        minor: p.version.unwrap_or(1),
        connection_close: false,
        connection_keep_alive: false,
        ka_timeout: None,
        ka_max: None,
        framing: Framing::NoBody,
        body_len: 0,
        problems: Vec::new(),
    };
    let mut framing_headers = FramingHeaders::new();
    let mut lengths: Vec<String> = Vec::new();
    let mut encoding = String::new();
    for h in p.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        let value = value.trim();
        if framing_headers.add(h.name.as_bytes(), h.value) {
            if h.name.eq_ignore_ascii_case("content-length") {
                lengths.push(value.to_string());
            } else {
                encoding = value.to_string();
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',') {
                let t = token.trim();
                if t.eq_ignore_ascii_case("close") {
                    r.connection_close = true;
                } else if t.eq_ignore_ascii_case("keep-alive") {
                    r.connection_keep_alive = true;
                }
            }
        } else if h.name.eq_ignore_ascii_case("keep-alive") {
            for param in value.split(',') {
                if let Some((k, v)) = param.split_once('=') {
                    let v = v.trim().trim_matches('"').parse::<u64>().ok();
                    match k.trim().to_ascii_lowercase().as_str() {
                        "timeout" => r.ka_timeout = v,
                        "max" => r.ka_max = v,
                        _ => {}
                    }
                }
            }
        }
    }
    let answering = if head_request {
        Answering::Head
    } else {
        Answering::Other
    };
    let role = Role::Response {
        status: r.status,
        answering,
    };
    let decision = framing_headers.decide(role, r.minor);
    let anomalies = decision.anomalies;
    if anomalies.some_length_invalid {
        let bad = lengths
            .iter()
            .find(|v| {
                v.split(',')
                    .any(|p| parse_decimal(p.trim().as_bytes()).is_none())
            })
            .map_or("", String::as_str);
        return Err(ReadError::Malformed(format!(
            "Content-Length `{bad}` is not a number"
        )));
    }
    if anomalies.lengths_differ {
        return Err(ReadError::Malformed(format!(
            "Content-Length values differ (`{}`)",
            lengths.join("`, `")
        )));
    }
    if matches!(decision.framing, Framing::Chunked) && anomalies.length_and_encoding {
        r.problems.push(
            "both Transfer-Encoding: chunked and Content-Length (a request-smuggling risk; chunked wins)".into(),
        );
    }
    if framing_headers.has_encoding() && anomalies.encoding_not_chunked_last {
        r.problems.push(format!(
            "Transfer-Encoding `{encoding}` does not end in chunked: the body is delimited by the close"
        ));
    }
    r.framing = decision.framing;
    Ok(r)
}

/// Reads a chunked body with the shared strict decoder: CRLF line ends only, sizes by RFC 9112's
/// grammar. The error says what is wrong, at which byte of the encoded body, and shows it.
async fn read_chunked(
    conn: &mut impl ResponseSource,
    deadline: Instant,
    resp: &mut Response,
) -> Result<(), ReadError> {
    let mut decoder = ChunkedDecoder::new(Strictness::Strict, MAX_LINE);
    loop {
        match decoder.decode(conn.buffer()) {
            Chunked::Data(range) => {
                resp.body_len += range.len() as u64;
                conn.consume(range.end);
                continue;
            }
            Chunked::Done { consumed } => {
                conn.consume(consumed);
                return Ok(());
            }
            Chunked::Error { error, at } => {
                let buf = conn.buffer();
                let shown = &buf[at..buf.len().min(at + 20)];
                return Err(ReadError::Malformed(format!(
                    "{} at byte {} of the chunked body (`{}`)",
                    error.kind.text(),
                    error.offset,
                    String::from_utf8_lossy(shown).escape_debug()
                )));
            }
            Chunked::NeedMore => conn.buffer().clear(),
        }
        match conn.fill(deadline).await {
            Ok(_) => {}
            Err(IoFail::Eof) => {
                return Err(ReadError::Malformed(format!(
                    "the connection closed inside the chunked body (after {} bytes of it)",
                    decoder.offset()
                )))
            }
            Err(e) => return Err(e.into()),
        }
    }
}
