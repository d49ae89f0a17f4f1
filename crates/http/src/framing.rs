//! HTTP/1 body framing, once for the whole workspace (sans-IO): which body a header section
//! announces (RFC 9112 §6.3) and an incremental chunked decoder (§7.1).
//!
//! Three readers use it with their own policy: the capture analyzer (tolerant: it records a
//! verdict and goes on), the proxy (strict: anything two parsers could read differently is
//! refused) and the prober's response reader (strict, with a precise error). The *grammar* is
//! decided here only, so the three cannot disagree about what a chunk size or a
//! `Content-Length` is; what each does about an anomaly is the caller's.
//!
//! Nothing here reads a socket or allocates: header values are inspected in place and the
//! decoder is a byte-level state machine that hands back ranges of the caller's buffer.
//!
//! Decisions taken where RFC 9112 leaves room (each also in `tests/framing-cases.tsv`):
//! - Chunk size `1*HEXDIG`: leading zeros are allowed and carry no value, so `0000000000000001`
//!   is 1; overflow is decided on the significant digits (more than 16 → refused), never on the
//!   length of the text (a length rule would refuse valid zero-padded sizes, a value rule alone
//!   would let a huge zero run hide the real size from a parser that truncates).
//! - No sign, no `0x`, no whitespace before or inside the number: none is in the grammar, and
//!   each is a known way to make two parsers read different sizes (`strtoul` accepts `+5`,
//!   ` 5` and `0x5`; a parser that stops at the space reads `1 0` as 1).
//! - Whitespace after the number is accepted: it is the grammar's `BWS` before `;` and nginx and
//!   curl accept it at the line end too; no parser reads a different size because of it.
//! - Chunk extensions must follow the grammar (`;` token [`=` token / quoted-string]) and are
//!   then ignored, as §7.1.1 requires of unknown extensions.
//! - Line ends: CRLF. A bare LF is a known desync vector, so the strict policy refuses it; the
//!   tolerant one accepts it (§2.2 lets a recipient do so).
//! - `Content-Length` is `1*DIGIT`; a list or repeat of one value (`5, 5`) is that value
//!   (RFC 9110 §8.6); differing or non-numeric values are an anomaly the caller must handle.

use serde::Serialize;
use std::ops::Range;

/// How the end of a body is found (RFC 9112 §6.3). The JSON form is part of the schema of
/// `keepsight http --json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "length")]
pub enum Framing {
    /// HEAD response, 1xx/204/304, or a request without body headers.
    NoBody,
    /// Exactly this many bytes.
    ContentLength(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Response ends when the server closes.
    UntilClose,
    /// 101 / successful CONNECT: not HTTP any more.
    Tunnel,
}

impl Framing {
    /// Short name used in reports: `none`, `content-length`, `chunked`, `close`, `tunnel`.
    pub fn name(self) -> &'static str {
        match self {
            Framing::NoBody => "none",
            Framing::ContentLength(_) => "content-length",
            Framing::Chunked => "chunked",
            Framing::UntilClose => "close",
            Framing::Tunnel => "tunnel",
        }
    }
}

/// Which request a response answers, as far as framing cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answering {
    /// A `HEAD` request: the response never has a body.
    Head,
    /// A `CONNECT` request: a 2xx response starts a tunnel.
    Connect,
    /// Any other method (or unknown).
    Other,
}

/// The message whose header section is being framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A request (no close-delimited body: without length headers it has none).
    Request,
    /// A response with this status code.
    Response {
        /// Status code.
        status: u16,
        /// The request it answers.
        answering: Answering,
    },
}

/// What the header section said about framing besides the decision: the caller's policy
/// decides which of these refuse the message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Anomalies {
    /// Both `Content-Length` and `Transfer-Encoding` (the encoding wins; smuggling risk).
    pub length_and_encoding: bool,
    /// `Content-Length` values (repeated headers or a list) that are not all the same.
    pub lengths_differ: bool,
    /// The first `Content-Length` value is not `1*DIGIT` within 64 bits.
    pub first_length_invalid: bool,
    /// Some `Content-Length` value is not `1*DIGIT` within 64 bits.
    pub some_length_invalid: bool,
    /// `Transfer-Encoding` present but its last coding is not `chunked`.
    pub encoding_not_chunked_last: bool,
    /// `Transfer-Encoding` is anything but one header with the single coding `chunked`.
    pub encoding_not_only_chunked: bool,
    /// `Transfer-Encoding` in an HTTP/1.0 message (§6.1: framing faulty).
    pub encoding_in_http10: bool,
}

/// The body a header section announces, and what was odd about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// RFC 9112 §6.3's answer; where the RFC calls the framing an unrecoverable error, the
    /// most useful reading for a tolerant reader (first `Content-Length`; a request with an
    /// unusable `Transfer-Encoding` has no body, a response runs until close).
    pub framing: Framing,
    /// What a strict reader refuses.
    pub anomalies: Anomalies,
}

/// Longest `Content-Length` value kept for comparing invalid values with each other.
const RAW_KEEP: usize = 24;

/// Collects the framing headers of one header section without allocating; then
/// [`FramingHeaders::decide`].
#[derive(Clone, Debug, Default)]
pub struct FramingHeaders {
    /// Number of `Content-Length` values seen (list elements count one each).
    lengths: u32,
    /// The first value, when valid.
    first_length: Option<u64>,
    /// The first value's text (up to [`RAW_KEEP`] bytes), to compare invalid values.
    first_raw: [u8; RAW_KEEP],
    first_raw_len: usize,
    lengths_differ: bool,
    first_length_invalid: bool,
    some_length_invalid: bool,
    encoding_headers: u32,
    /// Comma-separated elements over all `Transfer-Encoding` headers (empty ones included).
    encoding_elements: u32,
    chunked_last: bool,
}

/// Optional whitespace around header values and list elements (RFC 9110 §5.6.3).
pub fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `1*DIGIT` within 64 bits, else `None` (no sign, no spaces inside, no hex).
pub fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

impl FramingHeaders {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Looks at one header field; true when it was a framing header.
    pub fn add(&mut self, name: &[u8], value: &[u8]) -> bool {
        if name.eq_ignore_ascii_case(b"content-length") {
            self.add_content_length(value);
            true
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.add_transfer_encoding(value);
            true
        } else {
            false
        }
    }

    /// One `Content-Length` field value (a comma list counts as several values).
    pub fn add_content_length(&mut self, value: &[u8]) {
        for part in value.split(|&b| b == b',') {
            let part = trim_ows(part);
            let n = parse_decimal(part);
            self.some_length_invalid |= n.is_none();
            if self.lengths == 0 {
                self.first_length = n;
                self.first_length_invalid = n.is_none();
                let keep = part.len().min(RAW_KEEP);
                self.first_raw[..keep].copy_from_slice(&part[..keep]);
                self.first_raw_len = part.len();
            } else {
                let same = match (self.first_length, n) {
                    (Some(a), Some(b)) => a == b,
                    (None, None) => {
                        self.first_raw_len == part.len()
                            && part.len() <= RAW_KEEP
                            && self.first_raw[..part.len()] == *part
                    }
                    _ => false,
                };
                self.lengths_differ |= !same;
            }
            self.lengths += 1;
        }
    }

    /// One `Transfer-Encoding` field value.
    pub fn add_transfer_encoding(&mut self, value: &[u8]) {
        self.encoding_headers += 1;
        for part in value.split(|&b| b == b',') {
            self.encoding_elements += 1;
            self.chunked_last = trim_ows(part).eq_ignore_ascii_case(b"chunked");
        }
    }

    /// True when a `Content-Length` header was seen.
    pub fn has_length(&self) -> bool {
        self.lengths > 0
    }

    /// True when a `Transfer-Encoding` header was seen.
    pub fn has_encoding(&self) -> bool {
        self.encoding_headers > 0
    }

    /// The first `Content-Length` value, when valid.
    pub fn first_length(&self) -> Option<u64> {
        self.first_length
    }

    /// Decides the body of a message with these headers (RFC 9112 §6.3, in its order), for an
    /// HTTP/1.`minor` message in `role`.
    pub fn decide(&self, role: Role, minor: u8) -> Decision {
        let has_encoding = self.encoding_headers > 0;
        let anomalies = Anomalies {
            length_and_encoding: has_encoding && self.lengths > 0,
            lengths_differ: self.lengths_differ,
            first_length_invalid: self.first_length_invalid,
            some_length_invalid: self.some_length_invalid,
            encoding_not_chunked_last: has_encoding && !self.chunked_last,
            encoding_not_only_chunked: has_encoding
                && (self.encoding_headers > 1 || self.encoding_elements > 1 || !self.chunked_last),
            encoding_in_http10: has_encoding && minor == 0,
        };
        let decision = |framing| Decision { framing, anomalies };
        // Without usable length headers a response runs until close, a request has no body.
        let unframed = match role {
            Role::Request => Framing::NoBody,
            Role::Response { .. } => Framing::UntilClose,
        };
        if let Role::Response { status, answering } = role {
            if status == 101 || answering == Answering::Connect && (200..300).contains(&status) {
                return decision(Framing::Tunnel);
            }
            if answering == Answering::Head
                || (100..200).contains(&status)
                || status == 204
                || status == 304
            {
                return decision(Framing::NoBody);
            }
        }
        if has_encoding {
            return decision(if self.chunked_last {
                Framing::Chunked
            } else {
                unframed
            });
        }
        match (self.lengths, self.first_length) {
            (0, _) => decision(unframed),
            (_, Some(n)) => decision(Framing::ContentLength(n)),
            (_, None) => decision(unframed),
        }
    }
}

/// How forgiving the chunked decoder is about line ends and trailers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strictness {
    /// CRLF only; trailer fields must be `name: value`.
    Strict,
    /// Bare LF accepted as a line end; trailer lines are skipped unread.
    Tolerant,
}

/// What is wrong with a chunked body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkErrorKind {
    /// A chunk-size line with no digits.
    EmptySize,
    /// `+` or `-` before the size.
    Sign,
    /// Whitespace before the size.
    LeadingWhitespace,
    /// Whitespace between hex digits.
    WhitespaceInSize,
    /// A byte that is not a hex digit where the size is.
    NotHex,
    /// More than 16 significant hex digits.
    Overflow,
    /// A chunk extension outside the grammar.
    BadExtension,
    /// A chunk-size or trailer line longer than the limit.
    LineTooLong,
    /// LF without CR (strict policy).
    BareLf,
    /// CR not followed by LF in a framing line.
    CrWithoutLf,
    /// Chunk data not followed by CRLF: the size was wrong.
    DataNotFollowedByCrlf,
    /// A trailer line that is not `name: value` (strict policy).
    BadTrailer,
}

impl ChunkErrorKind {
    /// A short explanation, for error messages.
    pub fn text(self) -> &'static str {
        match self {
            ChunkErrorKind::EmptySize => "empty chunk size",
            ChunkErrorKind::Sign => "sign before the chunk size",
            ChunkErrorKind::LeadingWhitespace => "whitespace before the chunk size",
            ChunkErrorKind::WhitespaceInSize => "whitespace inside the chunk size",
            ChunkErrorKind::NotHex => "chunk size is not hexadecimal",
            ChunkErrorKind::Overflow => "chunk size overflows 64 bits",
            ChunkErrorKind::BadExtension => "malformed chunk extension",
            ChunkErrorKind::LineTooLong => "chunk-size line, extensions or trailers too long",
            ChunkErrorKind::BareLf => "bare LF in chunk framing",
            ChunkErrorKind::CrWithoutLf => "CR not followed by LF in chunk framing",
            ChunkErrorKind::DataNotFollowedByCrlf => "chunk data not followed by CRLF",
            ChunkErrorKind::BadTrailer => "malformed trailer field",
        }
    }

    /// A stable token for tests and logs (`chunk-size-overflow`, ...).
    pub fn token(self) -> &'static str {
        match self {
            ChunkErrorKind::EmptySize => "empty-size",
            ChunkErrorKind::Sign => "sign",
            ChunkErrorKind::LeadingWhitespace => "leading-whitespace",
            ChunkErrorKind::WhitespaceInSize => "whitespace-in-size",
            ChunkErrorKind::NotHex => "not-hex",
            ChunkErrorKind::Overflow => "overflow",
            ChunkErrorKind::BadExtension => "bad-extension",
            ChunkErrorKind::LineTooLong => "line-too-long",
            ChunkErrorKind::BareLf => "bare-lf",
            ChunkErrorKind::CrWithoutLf => "cr-without-lf",
            ChunkErrorKind::DataNotFollowedByCrlf => "data-not-followed-by-crlf",
            ChunkErrorKind::BadTrailer => "bad-trailer",
        }
    }
}

/// A chunked-body error and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkError {
    /// What is wrong.
    pub kind: ChunkErrorKind,
    /// Offset of the offending byte from the start of the encoded body.
    pub offset: u64,
}

impl std::fmt::Display for ChunkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (body byte {})", self.kind.text(), self.offset)
    }
}

impl std::error::Error for ChunkError {}

/// What one [`ChunkedDecoder::decode`] call found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunked {
    /// Body data at this range of the input; the input up to its end is consumed.
    Data(Range<usize>),
    /// All of the input is consumed and more is needed.
    NeedMore,
    /// The last chunk and the trailer section ended; the input up to `consumed` belongs to
    /// this body, the rest to what follows.
    Done {
        /// Bytes of the input that belonged to the body.
        consumed: usize,
    },
    /// The body is malformed at input index `at` (nothing after it is consumed).
    Error {
        /// The error, with its offset in the body.
        error: ChunkError,
        /// Index of the offending byte in this input.
        at: usize,
    },
}

/// Where the decoder is. Size-line states parse the grammar of RFC 9112 §7.1 byte by byte, so
/// a line split over several reads needs no buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    SizeStart,
    SizeDigits,
    /// Whitespace after the size.
    AfterSize,
    /// After `;`, before an extension name.
    ExtNameStart,
    ExtName,
    AfterExtName,
    /// After `=`, before the value.
    ExtValueStart,
    ExtToken,
    ExtQuoted,
    ExtQuotedPair,
    AfterExtValue,
    /// CR seen at the end of a line; then where to go.
    Lf(AfterLine),
    Data(u64),
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    TrailerStart,
    TrailerName,
    TrailerValue,
    /// Tolerant policy: a trailer line skipped unread.
    TrailerSkip,
    Done,
    Failed(ChunkError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterLine {
    SizeLine,
    TrailerLine,
    EndOfTrailers,
}

/// Incremental chunked-body decoder: feed it bytes as they come, get data ranges back. It
/// never allocates and keeps no input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: State,
    strictness: Strictness,
    /// Largest chunk-size or trailer line.
    max_line: u32,
    /// Bytes of the current chunk-size or trailer line.
    line_len: u32,
    size: u64,
    significant_digits: u8,
    /// Encoded body bytes consumed so far.
    offset: u64,
}

/// The value of an ASCII hex digit (the caller checked it is one).
fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c.wrapping_sub(b'A').wrapping_add(10),
    }
}

/// `tchar` of RFC 9110 §5.6.2, by table.
const TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        c += 1;
    }
    t
};

fn is_tchar(c: u8) -> bool {
    TCHAR[usize::from(c)]
}

/// The end of plain chunk extensions (`;name` or `;name=token`, no whitespace, no quotes)
/// starting at `at`, for the fast path; `None` when anything else is there (the byte-level
/// grammar then decides). `at` itself when there are none.
fn plain_extensions(rest: &[u8], mut at: usize) -> Option<usize> {
    let token_at = |i: usize| {
        rest.get(i..)
            .map_or(0, |r| r.iter().take_while(|&&c| is_tchar(c)).count())
    };
    while rest.get(at) == Some(&b';') {
        let name = token_at(at + 1);
        if name == 0 {
            return None;
        }
        at += 1 + name;
        if rest.get(at) == Some(&b'=') {
            let value = token_at(at + 1);
            if value == 0 {
                return None;
            }
            at += 1 + value;
        }
    }
    Some(at)
}

fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body. `max_line` bounds each chunk-size line
    /// (extensions included) and each trailer line.
    pub fn new(strictness: Strictness, max_line: u32) -> Self {
        ChunkedDecoder {
            state: State::SizeStart,
            strictness,
            max_line,
            line_len: 0,
            size: 0,
            significant_digits: 0,
            offset: 0,
        }
    }

    /// True once the last chunk and trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// True while inside chunk data (not a framing line).
    pub fn in_data(&self) -> bool {
        matches!(self.state, State::Data(_))
    }

    /// Skips `n` bytes of chunk data the caller never saw (a capture gap). False, and nothing
    /// skipped, unless all `n` fall inside the current chunk's data.
    pub fn skip_data(&mut self, n: u64) -> bool {
        match self.state {
            State::Data(left) if n < left => {
                self.state = State::Data(left - n);
            }
            State::Data(left) if n == left => {
                self.state = State::DataCr;
            }
            _ => return false,
        }
        self.offset += n;
        true
    }

    /// Encoded body bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Decodes from the front of `input`: framing lines are consumed until data, the end or an
    /// error shows up. Call again with the rest of the input after `Data`.
    pub fn decode(&mut self, input: &[u8]) -> Chunked {
        let mut i = 0;
        loop {
            match self.state {
                State::Failed(error) => return Chunked::Error { error, at: i },
                State::Done => return Chunked::Done { consumed: i },
                _ if i == input.len() => return Chunked::NeedMore,
                State::Data(left) => {
                    let take = (input.len() - i).min(usize::try_from(left).unwrap_or(usize::MAX));
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data(left)
                    };
                    self.offset += take as u64;
                    return Chunked::Data(i..i + take);
                }
                _ => {}
            }
            // The usual framing (`1a2b\r\n`, the CRLF after data, the empty trailer section)
            // in one go; anything else, and anything split across inputs, byte by byte up to
            // the end of its line.
            if let Some(used) = self.fast_line(&input[i..]) {
                i += used;
                self.offset += used as u64;
                continue;
            }
            let start = i;
            let stepped = loop {
                if let Err(kind) = self.step(input[i]) {
                    break Err(kind);
                }
                i += 1;
                let line_over = matches!(
                    self.state,
                    State::Data(_)
                        | State::Done
                        | State::SizeStart
                        | State::TrailerStart
                        | State::DataCr
                );
                if line_over || i == input.len() {
                    break Ok(());
                }
            };
            self.offset += (i - start) as u64;
            if let Err(kind) = stepped {
                let error = ChunkError {
                    kind,
                    offset: self.offset,
                };
                self.state = State::Failed(error);
                return Chunked::Error { error, at: i };
            }
        }
    }

    /// Takes a whole common framing line from the front of `rest` when it is all there and
    /// plain: a chunk-size line of hex digits, plain extensions and CRLF, the CRLF after chunk data, or the empty
    /// line ending the trailers. Returns the bytes used; `None` leaves it to [`Self::step`],
    /// which accepts exactly the same bytes (and everything else the grammar allows).
    fn fast_line(&mut self, rest: &[u8]) -> Option<usize> {
        match self.state {
            State::SizeStart => {
                let digits = rest
                    .iter()
                    .take(17)
                    .take_while(|c| c.is_ascii_hexdigit())
                    .count();
                if digits == 0 || digits > 16 {
                    return None;
                }
                let end = plain_extensions(rest, digits)?;
                if rest.get(end..end + 2) != Some(b"\r\n") || end + 2 > self.max_line as usize {
                    return None;
                }
                let mut size = 0u64;
                for &c in &rest[..digits] {
                    size = size << 4 | u64::from(hex_value(c));
                }
                self.size = size;
                self.state = self.after_line(AfterLine::SizeLine);
                Some(end + 2)
            }
            State::DataCr if rest.starts_with(b"\r\n") => {
                self.state = self.next_size_line();
                Some(2)
            }
            State::TrailerStart if rest.starts_with(b"\r\n") => {
                self.state = State::Done;
                Some(2)
            }
            _ => None,
        }
    }

    /// A line end (`\r` or `\n`) in a framing line.
    fn line_end(&mut self, c: u8, after: AfterLine) -> Result<State, ChunkErrorKind> {
        if c == b'\r' {
            Ok(State::Lf(after))
        } else if self.strictness == Strictness::Tolerant {
            Ok(self.after_line(after))
        } else {
            Err(ChunkErrorKind::BareLf)
        }
    }

    fn after_line(&mut self, after: AfterLine) -> State {
        match after {
            AfterLine::SizeLine if self.size == 0 => {
                self.line_len = 0;
                State::TrailerStart
            }
            AfterLine::SizeLine => State::Data(self.size),
            AfterLine::TrailerLine => {
                self.line_len = 0;
                State::TrailerStart
            }
            AfterLine::EndOfTrailers => State::Done,
        }
    }

    /// One byte of framing.
    fn step(&mut self, c: u8) -> Result<(), ChunkErrorKind> {
        use ChunkErrorKind as E;
        let in_line = !matches!(self.state, State::DataCr | State::DataLf | State::Lf(_));
        if in_line {
            self.line_len += 1;
            if self.line_len > self.max_line {
                return Err(E::LineTooLong);
            }
        }
        let eol = c == b'\r' || c == b'\n';
        self.state = match self.state {
            State::SizeStart => {
                self.size = 0;
                self.significant_digits = 0;
                match c {
                    b'+' | b'-' => return Err(E::Sign),
                    b' ' | b'\t' => return Err(E::LeadingWhitespace),
                    b'\r' | b'\n' => return Err(E::EmptySize),
                    _ => {
                        self.digit(c)?;
                        State::SizeDigits
                    }
                }
            }
            State::SizeDigits => match c {
                b' ' | b'\t' => State::AfterSize,
                b';' => State::ExtNameStart,
                _ if eol => self.line_end(c, AfterLine::SizeLine)?,
                _ => {
                    self.digit(c)?;
                    State::SizeDigits
                }
            },
            State::AfterSize => match c {
                _ if is_ws(c) => State::AfterSize,
                b';' => State::ExtNameStart,
                _ if eol => self.line_end(c, AfterLine::SizeLine)?,
                _ if c.is_ascii_hexdigit() => return Err(E::WhitespaceInSize),
                _ => return Err(E::BadExtension),
            },
            State::ExtNameStart => match c {
                _ if is_ws(c) => State::ExtNameStart,
                _ if is_tchar(c) => State::ExtName,
                _ => return Err(E::BadExtension),
            },
            State::ExtName => match c {
                _ if is_tchar(c) => State::ExtName,
                _ if is_ws(c) => State::AfterExtName,
                b'=' => State::ExtValueStart,
                b';' => State::ExtNameStart,
                _ if eol => self.line_end(c, AfterLine::SizeLine)?,
                _ => return Err(E::BadExtension),
            },
            State::AfterExtName => match c {
                _ if is_ws(c) => State::AfterExtName,
                b'=' => State::ExtValueStart,
                b';' => State::ExtNameStart,
                _ if eol => self.line_end(c, AfterLine::SizeLine)?,
                _ => return Err(E::BadExtension),
            },
            State::ExtValueStart => match c {
                _ if is_ws(c) => State::ExtValueStart,
                b'"' => State::ExtQuoted,
                _ if is_tchar(c) => State::ExtToken,
                _ => return Err(E::BadExtension),
            },
            State::ExtToken => match c {
                _ if is_tchar(c) => State::ExtToken,
                _ if is_ws(c) => State::AfterExtValue,
                b';' => State::ExtNameStart,
                _ if eol => self.line_end(c, AfterLine::SizeLine)?,
                _ => return Err(E::BadExtension),
            },
            State::ExtQuoted => match c {
                b'"' => State::AfterExtValue,
                b'\\' => State::ExtQuotedPair,
                b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff => State::ExtQuoted,
                _ => return Err(E::BadExtension),
            },
            State::ExtQuotedPair => match c {
                b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => State::ExtQuoted,
                _ => return Err(E::BadExtension),
            },
            State::AfterExtValue => match c {
                _ if is_ws(c) => State::AfterExtValue,
                b';' => State::ExtNameStart,
                _ if eol => self.line_end(c, AfterLine::SizeLine)?,
                _ => return Err(E::BadExtension),
            },
            State::Lf(after) => match c {
                b'\n' => self.after_line(after),
                _ => return Err(E::CrWithoutLf),
            },
            State::DataCr => match c {
                b'\r' => State::DataLf,
                b'\n' if self.strictness == Strictness::Tolerant => self.next_size_line(),
                b'\n' => return Err(E::BareLf),
                _ => return Err(E::DataNotFollowedByCrlf),
            },
            State::DataLf => match c {
                b'\n' => self.next_size_line(),
                _ => return Err(E::DataNotFollowedByCrlf),
            },
            State::TrailerStart => match c {
                _ if eol => self.line_end(c, AfterLine::EndOfTrailers)?,
                _ if self.strictness == Strictness::Tolerant => State::TrailerSkip,
                _ if is_tchar(c) => State::TrailerName,
                _ => return Err(E::BadTrailer),
            },
            State::TrailerName => match c {
                _ if is_tchar(c) => State::TrailerName,
                b':' => State::TrailerValue,
                _ => return Err(E::BadTrailer),
            },
            State::TrailerValue => match c {
                _ if eol => self.line_end(c, AfterLine::TrailerLine)?,
                0 => return Err(E::BadTrailer),
                _ => State::TrailerValue,
            },
            State::TrailerSkip => match c {
                _ if eol => self.line_end(c, AfterLine::TrailerLine)?,
                _ => State::TrailerSkip,
            },
            State::Data(_) | State::Done | State::Failed(_) => {
                unreachable!("decode handles data, end and failure before stepping")
            }
        };
        Ok(())
    }

    fn next_size_line(&mut self) -> State {
        self.line_len = 0;
        State::SizeStart
    }

    fn digit(&mut self, c: u8) -> Result<(), ChunkErrorKind> {
        if !c.is_ascii_hexdigit() {
            return Err(ChunkErrorKind::NotHex);
        }
        let d = hex_value(c);
        if self.size != 0 || d != 0 {
            self.significant_digits += 1;
            if self.significant_digits > 16 {
                return Err(ChunkErrorKind::Overflow);
            }
        }
        self.size = self.size << 4 | u64::from(d);
        Ok(())
    }
}

/// Parses a whole chunk-size line (without its line end) by the same grammar as the decoder:
/// the size, or the error and its offset in the line.
pub fn parse_chunk_size_line(line: &[u8]) -> Result<u64, ChunkError> {
    let mut d = ChunkedDecoder::new(Strictness::Strict, u32::MAX);
    for (i, &c) in line.iter().chain(b"\r\n").enumerate() {
        d.step(c).map_err(|kind| ChunkError {
            kind,
            offset: i.min(line.len()) as u64,
        })?;
    }
    Ok(d.size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(
        s: Strictness,
        input: &[u8],
        piece: usize,
    ) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut d = ChunkedDecoder::new(s, 4096);
        let mut body = Vec::new();
        let mut base = 0;
        while base <= input.len() {
            let end = (base + piece).min(input.len());
            let mut part = &input[base..end];
            let mut part_base = base;
            loop {
                match d.decode(part) {
                    Chunked::Data(r) => {
                        body.extend_from_slice(&part[r.clone()]);
                        part = &part[r.end..];
                        part_base += r.end;
                    }
                    Chunked::NeedMore => break,
                    Chunked::Done { consumed } => return Ok((body, part_base + consumed)),
                    Chunked::Error { error, .. } => return Err(error),
                }
            }
            if end == input.len() {
                break;
            }
            base = end;
        }
        panic!("incomplete")
    }

    #[test]
    fn sizes_follow_the_grammar() {
        assert_eq!(parse_chunk_size_line(b"b"), Ok(11));
        assert_eq!(parse_chunk_size_line(b"0000000000000001"), Ok(1));
        assert_eq!(
            parse_chunk_size_line(b"000000000000000000000ffffffffffffffff"),
            Ok(u64::MAX)
        );
        assert_eq!(parse_chunk_size_line(b"1A ; name = \"v\\\"al\" ;x"), Ok(26));
        assert_eq!(parse_chunk_size_line(b"0 "), Ok(0));
        let kind = |l: &[u8]| parse_chunk_size_line(l).unwrap_err().kind;
        assert_eq!(kind(b"10000000000000000"), ChunkErrorKind::Overflow);
        assert_eq!(kind(b"+5"), ChunkErrorKind::Sign);
        assert_eq!(kind(b"-1"), ChunkErrorKind::Sign);
        assert_eq!(kind(b" 5"), ChunkErrorKind::LeadingWhitespace);
        assert_eq!(kind(b"1 0"), ChunkErrorKind::WhitespaceInSize);
        assert_eq!(kind(b"0x5"), ChunkErrorKind::NotHex);
        assert_eq!(kind(b"zz"), ChunkErrorKind::NotHex);
        assert_eq!(kind(b""), ChunkErrorKind::EmptySize);
        assert_eq!(kind(b"5;"), ChunkErrorKind::BadExtension);
        assert_eq!(kind(b"5;a=\"x"), ChunkErrorKind::BadExtension);
        assert_eq!(kind(b"5 x"), ChunkErrorKind::BadExtension);
        assert_eq!(parse_chunk_size_line(b"5x").unwrap_err().offset, 1);
    }

    #[test]
    fn decodes_in_any_pieces() {
        let body = b"5;e=1\r\nhello\r\n000006\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for piece in 1..body.len() {
            let (data, used) = decode_all(Strictness::Strict, body, piece).unwrap();
            assert_eq!(data, b"hello world");
            assert_eq!(&body[used..], b"NEXT");
        }
    }

    #[test]
    fn line_ends_follow_the_policy() {
        let lf = b"5\nhello\n0\n\n";
        assert_eq!(
            decode_all(Strictness::Strict, lf, 64).unwrap_err(),
            ChunkError {
                kind: ChunkErrorKind::BareLf,
                offset: 1
            }
        );
        assert_eq!(
            decode_all(Strictness::Tolerant, lf, 64).unwrap().0,
            b"hello"
        );
        let bad_trailer = b"0\r\nno colon\r\n\r\n";
        assert!(decode_all(Strictness::Strict, bad_trailer, 64).is_err());
        assert!(decode_all(Strictness::Tolerant, bad_trailer, 64).is_ok());
        let err = decode_all(Strictness::Tolerant, b"3\r\nabcX\r\n", 64).unwrap_err();
        assert_eq!(err.kind, ChunkErrorKind::DataNotFollowedByCrlf);
        assert_eq!(err.offset, 6);
    }

    #[test]
    fn lines_are_bounded() {
        let mut d = ChunkedDecoder::new(Strictness::Strict, 8);
        let r = d.decode(b"5;abcdefgh\r\n");
        assert!(
            matches!(r, Chunked::Error { error, at: 8 } if error.kind == ChunkErrorKind::LineTooLong)
        );
        let mut d = ChunkedDecoder::new(Strictness::Strict, 8);
        assert!(matches!(
            d.decode(b"0\r\nA: 123456\r\n"),
            Chunked::Error { .. }
        ));
        let mut d = ChunkedDecoder::new(Strictness::Strict, 8);
        let r = d.decode(b"0\r\nA: 1234\r\nB: 1234\r\n\r\n");
        assert_eq!(r, Chunked::Done { consumed: 23 });
    }

    fn decide(headers: &[(&str, &str)], role: Role) -> Decision {
        let mut h = FramingHeaders::new();
        for (n, v) in headers {
            h.add(n.as_bytes(), v.as_bytes());
        }
        h.decide(role, 1)
    }

    #[test]
    fn header_decisions() {
        let ok = Role::Response {
            status: 200,
            answering: Answering::Other,
        };
        let d = decide(&[("Content-Length", "5, 5"), ("content-length", "5")], ok);
        assert_eq!(d.framing, Framing::ContentLength(5));
        assert_eq!(d.anomalies, Anomalies::default());
        let d = decide(&[("Content-Length", "5"), ("Content-Length", "6")], ok);
        assert_eq!(d.framing, Framing::ContentLength(5));
        assert!(d.anomalies.lengths_differ);
        let d = decide(&[("Content-Length", "-5")], ok);
        assert_eq!(d.framing, Framing::UntilClose);
        assert!(d.anomalies.first_length_invalid);
        let d = decide(
            &[("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
            ok,
        );
        assert_eq!(d.framing, Framing::Chunked);
        assert!(d.anomalies.length_and_encoding);
        let d = decide(&[("Transfer-Encoding", "chunked, gzip")], ok);
        assert_eq!(d.framing, Framing::UntilClose);
        assert!(d.anomalies.encoding_not_chunked_last);
        let d = decide(&[("Transfer-Encoding", "gzip, chunked")], Role::Request);
        assert_eq!(d.framing, Framing::Chunked);
        assert!(d.anomalies.encoding_not_only_chunked);
        let d = decide(&[], Role::Request);
        assert_eq!(d.framing, Framing::NoBody);
        let head = Role::Response {
            status: 200,
            answering: Answering::Head,
        };
        assert_eq!(
            decide(&[("Content-Length", "5")], head).framing,
            Framing::NoBody
        );
        for status in [100, 204, 304] {
            let r = Role::Response {
                status,
                answering: Answering::Other,
            };
            assert_eq!(
                decide(&[("Content-Length", "5")], r).framing,
                Framing::NoBody
            );
        }
        let connect = Role::Response {
            status: 200,
            answering: Answering::Connect,
        };
        assert_eq!(decide(&[], connect).framing, Framing::Tunnel);
    }
}
