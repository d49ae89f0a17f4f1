//! One TCP connection: two reassembled directions, their HTTP parsers, request/response pairing
//! and what is needed afterwards to tell who closed the connection and why.

use crate::framing::{Answering, ChunkErrorKind, Chunked, ChunkedDecoder, Strictness};
use crate::model::{End, Framing, Kind, Message, Verdict};
use crate::parse::{self, Match, Sniffed};
use crate::reasm::Piece;
use std::collections::VecDeque;

/// Idle gaps kept per connection for the report (the maximum is tracked for all).
const MAX_GAPS: usize = 64;
/// Requests waiting for a response, per connection (pipelining depth; beyond, the oldest are
/// dropped as unanswered).
const MAX_PENDING: usize = 1024;
/// Messages with verdicts kept per connection when not keeping all.
const MAX_KEPT: usize = 256;

/// Where a direction's parser is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum ParseState {
    #[default]
    Start,
    Headers,
    Body(u64),
    /// Inside a chunked body (the shared decoder, tolerant of bare LF).
    Chunked(ChunkedDecoder),
    UntilClose,
    /// Unexpected bytes: looking for the next message start. `true` when the bytes follow a
    /// complete message (so they are that message's excess).
    Scan(bool),
    Tunnel,
    NotHttp,
    /// Direction ended.
    Done,
}

/// Parser state of one direction.
#[derive(Default)]
pub(crate) struct Parser {
    st: ParseState,
    role: Option<Kind>,
    buf: Vec<u8>,
    line: Vec<u8>,
    cur: Option<Message>,
    /// Last finished message, kept until the next one starts: stray bytes after it are its
    /// excess.
    last: Option<Message>,
    /// Frame where stray bytes began, and how many were dropped from `buf` while scanning.
    scan_frame: u32,
    stray: u64,
    /// Frame and time of the current message's first byte.
    start: (u32, i64),
    /// Bytes since the start of the message (header bytes), for incomplete headers.
    head_bytes: u64,
    /// Sequence number just past the last byte handed to the parser.
    pub seq_end: u32,
}

/// A request waiting for its response.
#[derive(Clone, Copy)]
struct Pending {
    number: u32,
    method_head: bool,
    method_connect: bool,
    first_frame: u32,
    first_ts: i64,
    /// End frame/time of the request (0 until complete).
    end_frame: u32,
    end_ts: i64,
    /// Sequence number just past the request's headers (for "did the FIN acknowledge it").
    seq_end: u32,
    /// Idle time before this request (-1: not idle before it).
    idle_before: i64,
}

/// A request still waiting for its response, for telling who closed and why.
#[derive(Clone, Copy)]
pub(crate) struct Unanswered {
    /// Frame and time of the request's first byte.
    pub first_frame: u32,
    pub first_ts: i64,
    /// Sequence number just past the request's headers.
    pub seq_end: u32,
}

/// Shared state of a connection that both directions' parsers update.
pub(crate) struct Core {
    pub stream: u32,
    pub keep_all: bool,
    pub msgs: Vec<Message>,
    /// Messages as they end properly, for [`crate::Analyzer::take_completed`] (`None`
    /// unless asked for).
    pub completed: Option<Vec<Message>>,
    pending: VecDeque<Pending>,
    /// Request being answered by the response currently parsed.
    answering: Option<Pending>,
    pub requests: u32,
    pub responses: u32,
    pub client_dir: Option<usize>,
    pub version: Option<u8>,
    pub last_resp_end_ts: Option<i64>,
    pub last_resp_close: bool,
    pub last_resp_until_close: bool,
    pub last_req_close: bool,
    pub last_resp_conn_hdr: Option<String>,
    pub ka_timeout: Option<u64>,
    pub ka_max: Option<u64>,
    pub idle_gaps: Vec<i64>,
    pub max_idle: i64,
    pub faulty: u64,
    pub total: u64,
    /// The capture began after the connection opened (no SYN): a direction's first bytes may
    /// be the middle of a message, so unknown directions keep looking for a message start.
    pub mid_stream: bool,
    /// A 101 or a successful CONNECT: both directions stop being HTTP after it.
    pub tunnel: bool,
    /// Recently answered requests (number, response end frame), for requests still held
    /// back as their direction's `last` when their response ended.
    answered: VecDeque<(u32, u32)>,
}

impl Core {
    pub(crate) fn new(stream: u32, keep_all: bool) -> Self {
        Core {
            stream,
            keep_all,
            msgs: Vec::new(),
            completed: None,
            pending: VecDeque::new(),
            answering: None,
            requests: 0,
            responses: 0,
            client_dir: None,
            version: None,
            last_resp_end_ts: None,
            last_resp_close: false,
            last_resp_until_close: false,
            last_req_close: false,
            last_resp_conn_hdr: None,
            ka_timeout: None,
            ka_max: None,
            idle_gaps: Vec::new(),
            max_idle: 0,
            faulty: 0,
            total: 0,
            mid_stream: false,
            tunnel: false,
            answered: VecDeque::new(),
        }
    }

    /// A message is final (the next one started, or its direction ended): keep it if asked.
    fn keep(&mut self, mut m: Message) {
        if m.kind == Kind::Request && m.response_in.is_none() {
            if let Some(&(_, f)) = self.answered.iter().find(|a| a.0 == m.number) {
                m.response_in = Some(f);
            }
        }
        self.total += 1;
        if m.is_faulty() {
            self.faulty += 1;
        }
        // Bounded mode keeps faulty messages only, and at most MAX_KEPT of them per
        // connection (counts stay exact): a hostile peer cannot grow memory without bound.
        if self.keep_all || (!m.verdicts.is_empty() && self.msgs.len() < MAX_KEPT) {
            self.msgs.push(m);
        }
    }

    /// The first request still waiting for a response, as of now.
    pub(crate) fn first_unanswered(&self) -> Option<Unanswered> {
        self.pending.front().map(|p| Unanswered {
            first_frame: p.first_frame,
            first_ts: p.first_ts,
            seq_end: p.seq_end,
        })
    }

    /// When the request now being answered (or the first unanswered one) was sent.
    pub(crate) fn waiting_since(&self) -> Option<i64> {
        self.answering
            .map(|p| p.first_ts)
            .or_else(|| self.pending.front().map(|p| p.first_ts))
    }

    pub(crate) fn waiting(&self) -> bool {
        !self.pending.is_empty() || self.answering.is_some()
    }
}

impl Parser {
    pub(crate) fn is_http(&self) -> bool {
        self.role.is_some()
    }
    pub(crate) fn not_http(&self) -> bool {
        self.st == ParseState::NotHttp
    }
    /// Feeds one reassembled piece.
    pub(crate) fn piece(&mut self, p: Piece<'_>, core: &mut Core, d: usize) {
        match p {
            Piece::Data {
                bytes,
                frame,
                ts_ns,
            } => {
                self.seq_end = self.seq_end.wrapping_add(bytes.len() as u32);
                // Restarting after stray bytes hands back the bytes to parse again; a loop
                // rather than recursion keeps hostile input from growing the stack.
                let mut again = self.run(bytes, frame, ts_ns, core, d, true);
                while let Some(v) = again {
                    again = self.run(&v, frame, ts_ns, core, d, false);
                }
            }
            Piece::Gap { n, .. } => {
                self.seq_end = self.seq_end.wrapping_add(n as u32);
                self.gap(n);
            }
        }
    }

    fn gap(&mut self, n: u64) {
        let note = |m: &mut Option<Message>, used: u64| {
            if let Some(m) = m.as_mut() {
                m.body_bytes += used;
                m.verdicts.push(Verdict::CaptureGap { bytes: n });
            }
        };
        match self.st {
            ParseState::Body(rem) if n <= rem => {
                note(&mut self.cur, n);
                self.st = ParseState::Body(rem - n);
            }
            ParseState::UntilClose => note(&mut self.cur, n),
            ParseState::Chunked(mut chunks) => {
                if chunks.skip_data(n) {
                    note(&mut self.cur, n);
                    self.st = ParseState::Chunked(chunks);
                } else {
                    self.lose(n);
                }
            }
            ParseState::Tunnel | ParseState::NotHttp | ParseState::Done => {}
            // Nothing known yet: wait for a message start after the hole.
            ParseState::Start | ParseState::Headers if self.role.is_none() => {
                self.buf.clear();
                self.st = ParseState::Start;
            }
            ParseState::Start | ParseState::Scan(_) if self.role.is_some() => {
                self.buf.clear();
                self.st = ParseState::Scan(false);
            }
            _ => self.lose(n),
        }
    }

    /// Lost sync (a gap inside a header or chunk line): give up on the current message and look
    /// for the next message start.
    fn lose(&mut self, n: u64) {
        if let Some(mut m) = self.cur.take() {
            m.verdicts.push(Verdict::CaptureGap { bytes: n });
            self.last = Some(m);
        }
        self.buf.clear();
        self.st = if self.role.is_some() {
            ParseState::Scan(false)
        } else {
            ParseState::NotHttp
        };
    }

    /// Parses `bytes`; returns bytes to parse again when a message start was found in stray
    /// bytes.
    fn run(
        &mut self,
        mut bytes: &[u8],
        frame: u32,
        ts: i64,
        core: &mut Core,
        d: usize,
        mut seg_start: bool,
    ) -> Option<Vec<u8>> {
        while !bytes.is_empty() {
            match self.st {
                ParseState::Done | ParseState::NotHttp | ParseState::Tunnel => return None,
                ParseState::Start if core.tunnel => {
                    self.st = ParseState::Tunnel;
                    return None;
                }
                ParseState::Start => {
                    // Blank lines between messages are tolerated (RFC 9112 §2.2).
                    let skip = bytes
                        .iter()
                        .position(|&c| c != b'\r' && c != b'\n')
                        .unwrap_or(bytes.len());
                    bytes = &bytes[skip..];
                    if bytes.is_empty() {
                        return None;
                    }
                    self.buf.clear();
                    self.head_bytes = 0;
                    self.st = ParseState::Headers;
                    self.start = (frame, ts);
                }
                ParseState::Headers => {
                    let old = self.buf.len();
                    let room = parse::MAX_HEADER.saturating_sub(old);
                    let take = bytes.len().min(room);
                    self.buf.extend_from_slice(&bytes[..take]);
                    // Decide early whether this is HTTP at all, so other protocols cost little.
                    let kind = match self.role {
                        Some(k) => match parse::start_match(&self.buf, k, false) {
                            Match::Yes => Some(k),
                            Match::NeedMore => None,
                            Match::No => {
                                // Not a message start after a message: stray bytes.
                                self.st = ParseState::Scan(true);
                                self.scan_frame = self.start.0;
                                self.stray = 0;
                                if let Some(v) = self.scan(&[], frame) {
                                    return Some(v);
                                }
                                bytes = &bytes[take..];
                                continue;
                            }
                        },
                        None => match parse::sniff(&self.buf) {
                            Sniffed::Is(k) => {
                                self.role = Some(k);
                                if core.client_dir.is_none() {
                                    core.client_dir =
                                        Some(if k == Kind::Request { d } else { 1 - d });
                                }
                                Some(k)
                            }
                            Sniffed::NeedMore => None,
                            Sniffed::NotHttp if core.mid_stream => {
                                // Captured mid-connection: these may be the tail of a body.
                                // Try again at the next segment start.
                                self.st = ParseState::Start;
                                self.buf.clear();
                                return None;
                            }
                            Sniffed::NotHttp => {
                                self.st = ParseState::NotHttp;
                                self.buf = Vec::new();
                                return None;
                            }
                        },
                    };
                    let end = match kind {
                        Some(_) => parse::header_end(&self.buf, old.saturating_sub(2)),
                        None => None,
                    };
                    let Some(end) = end else {
                        self.head_bytes += take as u64;
                        if take < bytes.len() {
                            // Header section too large to follow.
                            self.lose(0);
                            bytes = &bytes[take..];
                            continue;
                        }
                        return None;
                    };
                    bytes = &bytes[end - old..];
                    if let Some(m) = self.last.take() {
                        core.keep(m);
                    }
                    self.head_done(
                        kind.expect("end found only with a kind"),
                        end,
                        frame,
                        ts,
                        core,
                    );
                    seg_start = false;
                }
                ParseState::Body(rem) => {
                    if seg_start && self.next_response_here(bytes, core) {
                        self.finish_cur(End::NextMessage(frame), ts, core);
                        continue;
                    }
                    let n = (bytes.len() as u64).min(rem);
                    bytes = &bytes[n as usize..];
                    if let Some(m) = self.cur.as_mut() {
                        m.body_bytes += n;
                    }
                    self.st = ParseState::Body(rem - n);
                    if rem == n {
                        self.complete(frame, ts, core);
                    }
                }
                ParseState::UntilClose => {
                    if let Some(m) = self.cur.as_mut() {
                        m.body_bytes += bytes.len() as u64;
                    }
                    return None;
                }
                ParseState::Chunked(chunks) => {
                    bytes = self.chunked(chunks, bytes, frame, ts, core);
                }
                ParseState::Scan(_) => return self.scan(bytes, frame),
            }
        }
        None
    }

    /// Short-body resynchronisation: a CL body still short, a segment starting like a status
    /// line, and the client waiting for a newer response — the server has moved on.
    fn next_response_here(&self, bytes: &[u8], core: &Core) -> bool {
        self.role == Some(Kind::Response)
            && !core.pending.is_empty()
            && bytes.len() >= 12
            && bytes.starts_with(b"HTTP/1.")
            && bytes[8] == b' '
            && bytes[9..12].iter().all(u8::is_ascii_digit)
    }

    /// Stray bytes: keeps them (bounded) until a message start shows up. Returns the bytes from
    /// that start on.
    fn scan(&mut self, new: &[u8], frame: u32) -> Option<Vec<u8>> {
        let role = self.role?;
        if self.buf.len() + new.len() > parse::MAX_SCAN {
            // Keep only a tail long enough to hold a partial method or "HTTP/1.".
            let keep = 16.min(self.buf.len());
            self.stray += (self.buf.len() - keep) as u64;
            self.buf.drain(..self.buf.len() - keep);
            if new.len() > parse::MAX_SCAN {
                self.stray += (self.buf.len() + new.len() - 16) as u64;
                self.buf.clear();
                self.buf.extend_from_slice(&new[new.len() - 16..]);
                return None;
            }
        }
        self.buf.extend_from_slice(new);
        let mut i = 0;
        while i < self.buf.len() {
            // Only a start at a line beginning (or at the first stray byte) is believable.
            let at_line = i == 0 || self.buf[i - 1] == b'\n' || self.st == ParseState::Scan(true);
            if at_line {
                match parse::start_match(&self.buf[i..], role, true) {
                    Match::Yes => {
                        let excess = self.stray + i as u64;
                        let attribute = self.st == ParseState::Scan(true);
                        if let (true, Some(m)) = (attribute, self.last.as_mut()) {
                            if let Framing::ContentLength(declared) = m.framing {
                                m.verdicts.push(Verdict::BodyLongerThanLength {
                                    declared,
                                    excess,
                                    excess_frame: self.scan_frame,
                                    next_frame: Some(frame),
                                });
                            }
                        }
                        let rest = self.buf.split_off(i);
                        self.buf.clear();
                        self.stray = 0;
                        self.st = ParseState::Start;
                        return Some(rest);
                    }
                    Match::NeedMore => return None,
                    Match::No => {}
                }
            }
            i += 1;
        }
        None
    }

    fn head_done(&mut self, kind: Kind, end: usize, frame: u32, ts: i64, core: &mut Core) {
        let head = parse::parse_head(&self.buf[..end], kind);
        self.buf.clear();
        let Some(head) = head else {
            // Looked like HTTP but is not parseable: resync at the next message start.
            self.st = ParseState::Scan(false);
            return;
        };
        let mut verdicts = Vec::new();
        let h_conn = head.connection.clone();
        let mut number = 0;
        let mut answering = None;
        let framing = match kind {
            Kind::Request => {
                core.requests += 1;
                number = core.requests;
                let method = head.method.as_deref().unwrap_or("");
                // Idle time: from the end of the last response to this request, when nothing
                // else was outstanding.
                // (Counted when the request is answered: a request the server never saw did
                // not survive its idle time.)
                let idle_before = match (core.last_resp_end_ts, core.waiting()) {
                    (Some(t), false) => self.start.1 - t,
                    _ => -1,
                };
                core.last_req_close = parse::has_token(h_conn.as_deref(), "close");
                if core.pending.len() >= MAX_PENDING {
                    core.pending.pop_front();
                }
                core.pending.push_back(Pending {
                    number,
                    method_head: method == "HEAD",
                    method_connect: method == "CONNECT",
                    first_frame: self.start.0,
                    first_ts: self.start.1,
                    end_frame: 0,
                    end_ts: 0,
                    seq_end: self.seq_end,
                    idle_before,
                });
                if core.version.is_none() {
                    core.version = Some(head.version);
                }
                parse::framing(&head, Answering::Other, &mut verdicts)
            }
            Kind::Response => {
                let code = head.code.unwrap_or(0);
                let interim = (100..200).contains(&code) && code != 101;
                let req = if interim {
                    core.pending.front().copied()
                } else {
                    core.pending.pop_front()
                };
                match req {
                    Some(p) => number = p.number,
                    None => verdicts.push(Verdict::ResponseWithoutRequest),
                }
                let answers = match req {
                    Some(p) if p.method_head => Answering::Head,
                    Some(p) if p.method_connect => Answering::Connect,
                    _ => Answering::Other,
                };
                let f = parse::framing(&head, answers, &mut verdicts);
                if !interim {
                    if let Some(p) = req.filter(|p| p.idle_before >= 0) {
                        core.max_idle = core.max_idle.max(p.idle_before);
                        if core.idle_gaps.len() < MAX_GAPS {
                            core.idle_gaps.push(p.idle_before);
                        }
                    }
                    core.responses += 1;
                    answering = Some(req);
                    core.version = Some(head.version);
                    core.last_resp_close = parse::has_token(h_conn.as_deref(), "close")
                        || (head.version == 0
                            && !parse::has_token(h_conn.as_deref(), "keep-alive"));
                    core.last_resp_until_close = f == Framing::UntilClose;
                    core.last_resp_conn_hdr = h_conn;
                    if let Some(ka) = head.keep_alive.as_deref() {
                        let (t, mx) = parse::keep_alive_params(ka);
                        core.ka_timeout = t.or(core.ka_timeout);
                        core.ka_max = mx.or(core.ka_max);
                    }
                }
                f
            }
        };
        if let Some(req) = answering {
            core.answering = req;
        }
        let mut m = parse::message(head, core.stream, self.start.0, self.start.1);
        m.header_frame = frame;
        m.number = number;
        m.framing = framing;
        m.verdicts.extend(verdicts);
        self.cur = Some(m);
        self.st = match self.cur.as_ref().map(|m| m.framing) {
            Some(Framing::ContentLength(0)) | Some(Framing::NoBody) => {
                self.complete(frame, ts, core);
                return;
            }
            Some(Framing::ContentLength(n)) => ParseState::Body(n),
            Some(Framing::Chunked) => ParseState::Chunked(ChunkedDecoder::new(
                Strictness::Tolerant,
                parse::MAX_LINE as u32,
            )),
            Some(Framing::UntilClose) => ParseState::UntilClose,
            Some(Framing::Tunnel) | None => {
                core.tunnel = true;
                self.complete(frame, ts, core);
                self.st = ParseState::Tunnel;
                return;
            }
        };
    }

    /// The current message ended properly in `frame`.
    fn complete(&mut self, frame: u32, ts: i64, core: &mut Core) {
        self.st = ParseState::Start;
        let Some(mut m) = self.cur.take() else {
            return;
        };
        m.frame = frame;
        m.ts_ns = ts;
        self.pair(&mut m, core, true);
        if let Some(done) = &mut core.completed {
            done.push(m.clone());
        }
        self.last = Some(m);
    }

    /// Pairing bookkeeping at the end of a message (complete or not).
    fn pair(&mut self, m: &mut Message, core: &mut Core, complete: bool) {
        match m.kind {
            Kind::Request => {
                if let Some(p) = core.pending.iter_mut().find(|p| p.number == m.number) {
                    p.end_frame = m.frame;
                    p.end_ts = m.ts_ns;
                }
            }
            Kind::Response => {
                let interim = m.code.is_some_and(|c| (100..200).contains(&c) && c != 101);
                if interim {
                    return;
                }
                let Some(p) = core.answering.take() else {
                    return;
                };
                if complete {
                    core.last_resp_end_ts = Some(m.ts_ns);
                }
                if !complete || p.end_frame == 0 {
                    return;
                }
                m.request_in = Some(p.end_frame);
                m.time_ns = Some(m.ts_ns - p.end_ts);
                // The request is final already (kept, or its direction's `last`).
                if let Some(r) = core
                    .msgs
                    .iter_mut()
                    .rev()
                    .take(64)
                    .find(|r| r.kind == Kind::Request && r.number == m.number)
                {
                    r.response_in = Some(m.frame);
                } else {
                    if core.answered.len() >= 64 {
                        core.answered.pop_front();
                    }
                    core.answered.push_back((m.number, m.frame));
                }
            }
        }
    }

    /// The current message ends without its proper end.
    fn finish_cur(&mut self, end: End, end_ts: i64, core: &mut Core) {
        let st = self.st;
        self.st = ParseState::Start;
        let Some(mut m) = self.cur.take() else {
            return;
        };
        let cut = end == End::CaptureEnd;
        match st {
            ParseState::Body(_) => {
                let declared = m.content_length.unwrap_or(0);
                m.verdicts.push(if cut {
                    Verdict::CutByCaptureEnd {
                        received: m.body_bytes,
                    }
                } else {
                    Verdict::BodyShorterThanLength {
                        declared,
                        received: m.body_bytes,
                        ended: end,
                    }
                });
            }
            ParseState::Chunked(_) => m.verdicts.push(if cut {
                Verdict::CutByCaptureEnd {
                    received: m.body_bytes,
                }
            } else {
                Verdict::UnterminatedChunked {
                    received: m.body_bytes,
                    ended: end,
                }
            }),
            ParseState::UntilClose => {
                if cut {
                    m.verdicts.push(Verdict::CutByCaptureEnd {
                        received: m.body_bytes,
                    });
                } else {
                    // The close is the body's end: this message is complete.
                    let (f, t) = match end {
                        End::Fin(f) | End::Rst(f) => (f, end_ts),
                        _ => (m.header_frame, m.first_ts_ns),
                    };
                    m.frame = f;
                    m.ts_ns = t;
                    self.pair(&mut m, core, true);
                    self.last = Some(m);
                    return;
                }
            }
            _ => {}
        }
        self.pair(&mut m, core, false);
        self.last = Some(m);
    }
}

impl Parser {
    /// Chunked body: returns the bytes after what this step consumed. The decoder decides;
    /// this keeps the text of the current framing line for an `InvalidChunk` verdict.
    fn chunked<'b>(
        &mut self,
        mut chunks: ChunkedDecoder,
        bytes: &'b [u8],
        frame: u32,
        ts: i64,
        core: &mut Core,
    ) -> &'b [u8] {
        let step = chunks.decode(bytes);
        let (framing_end, used) = match step {
            Chunked::Data(ref r) => (r.start, r.end),
            Chunked::NeedMore => (bytes.len(), bytes.len()),
            Chunked::Done { consumed } => (consumed, consumed),
            Chunked::Error { at, .. } => (at, at),
        };
        self.note_line(&bytes[..framing_end]);
        if let Some(m) = self.cur.as_mut() {
            m.body_bytes += used as u64;
        }
        match step {
            Chunked::Data(_) | Chunked::NeedMore => {
                self.st = ParseState::Chunked(chunks);
                &bytes[used..]
            }
            Chunked::Done { .. } => {
                self.line.clear();
                self.complete(frame, ts, core);
                &bytes[used..]
            }
            Chunked::Error { error, at } => {
                let rest = &bytes[at..];
                let skip = if error.kind == ChunkErrorKind::DataNotFollowedByCrlf {
                    self.line.clear();
                    self.line
                        .extend_from_slice(b"<chunk data not followed by CRLF> ");
                    self.line.extend_from_slice(&rest[..rest.len().min(16)]);
                    1
                } else {
                    // The rest of the bad line belongs to it (shown, counted, skipped).
                    let (part, skip) = match rest.iter().position(|&b| b == b'\n') {
                        Some(p) => (&rest[..p], p + 1),
                        None => (rest, rest.len()),
                    };
                    self.note_line(part);
                    if self.line.last() == Some(&b'\r') {
                        self.line.pop();
                    }
                    skip
                };
                if let Some(m) = self.cur.as_mut() {
                    m.body_bytes += skip as u64;
                }
                self.bad_chunk(frame, core);
                &rest[skip..]
            }
        }
    }

    /// Keeps the start of the last framing line in `framing` (after its last LF), for
    /// verdict text; bounded, so long lines cost nothing.
    fn note_line(&mut self, framing: &[u8]) {
        const SHOWN: usize = 64;
        let tail = match framing.iter().rposition(|&b| b == b'\n') {
            Some(p) => {
                self.line.clear();
                &framing[p + 1..]
            }
            None => framing,
        };
        let room = SHOWN.saturating_sub(self.line.len());
        self.line.extend_from_slice(&tail[..tail.len().min(room)]);
    }

    fn bad_chunk(&mut self, frame: u32, core: &mut Core) {
        let line = parse::show(&self.line);
        self.line.clear();
        if let Some(mut m) = self.cur.take() {
            m.verdicts.push(Verdict::InvalidChunk { frame, line });
            self.pair(&mut m, core, false);
            self.last = Some(m);
        }
        self.buf.clear();
        self.st = ParseState::Scan(false);
    }

    /// True when the direction is inside a message that needs more bytes (not a
    /// close-delimited body, whose end is the close).
    pub(crate) fn mid_fault(&self) -> bool {
        matches!(
            self.st,
            ParseState::Headers | ParseState::Body(_) | ParseState::Chunked(_)
        )
    }

    /// The direction ended (FIN, RST or end of capture).
    pub(crate) fn end(&mut self, end: End, ts: i64, core: &mut Core) {
        match self.st {
            ParseState::Headers => {
                if let Some(role) = self.role {
                    if parse::start_match(&self.buf, role, false) != Match::No {
                        if let Some(m) = self.last.take() {
                            core.keep(m);
                        }
                        let mut m = parse::message(
                            parse::Head {
                                kind: Some(role),
                                ..parse::Head::default()
                            },
                            core.stream,
                            self.start.0,
                            self.start.1,
                        );
                        if end != End::CaptureEnd {
                            m.verdicts.push(Verdict::HeadersIncomplete {
                                received: self.buf.len() as u64,
                                ended: end,
                            });
                            core.keep(m);
                        }
                    }
                }
            }
            ParseState::Body(_) | ParseState::Chunked(_) | ParseState::UntilClose => {
                if let Some(m) = self.last.take() {
                    core.keep(m);
                }
                self.finish_cur(end, ts, core);
            }
            ParseState::Scan(true) => {
                let excess = self.stray + self.buf.len() as u64;
                if let (Some(m), true) = (self.last.as_mut(), excess > 0) {
                    if let Framing::ContentLength(declared) = m.framing {
                        m.verdicts.push(Verdict::BodyLongerThanLength {
                            declared,
                            excess,
                            excess_frame: self.scan_frame,
                            next_frame: None,
                        });
                    }
                }
            }
            _ => {}
        }
        if let Some(m) = self.last.take() {
            core.keep(m);
        }
        if let Some(m) = self.cur.take() {
            core.keep(m);
        }
        self.buf = Vec::new();
        self.line = Vec::new();
        if self.st != ParseState::NotHttp {
            self.st = ParseState::Done;
        }
    }
}
