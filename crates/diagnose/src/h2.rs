//! HTTP/2 on a stream, as the diagnosis needs it: a stream is HTTP/2 when one side's first
//! payload is the client connection preface, or when the server speaks first with a SETTINGS
//! frame and the other side's first payload is the preface (gRPC servers do). Each direction's
//! in-order payload is cut into frames by keepsight-h2 and header blocks are decoded in
//! order; what the keep-alive analysis needs is recorded, bounded: PINGs and their ACKs,
//! GOAWAYs, each stream's request and outcome (gRPC method and status), the last frame.
//!
//! The input is in-order payload per direction; decrypted TLS plaintext (when keys exist)
//! would be fed the same way through [`H2Conn::push`].

use keepsight_h2::frame::flags;
use keepsight_h2::preface::{requests_h2c_upgrade, starts_preface};
use keepsight_h2::{
    Direction, FrameHeader, FrameType, HeaderBlocks, HeadersOutcome, InOrder, Item,
};

/// The most PINGs, GOAWAYs and streams kept per connection; later ones are only counted.
pub(crate) const MAX_PINGS: usize = 2048;
pub(crate) const MAX_GOAWAYS: usize = 8;
pub(crate) const MAX_STREAMS: usize = 1024;
/// Longest debug data or header value kept.
const MAX_TEXT: usize = 256;

/// Whether a stream is HTTP/2.
#[derive(Default)]
pub(crate) enum H2Mode {
    /// No payload yet.
    #[default]
    Undecided,
    /// Not HTTP/2 (or no longer followed: a gap, or bytes that are no frames).
    No,
    /// HTTP/2, with its record.
    Yes(Box<H2Conn>),
}

/// Where a frame was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct At {
    pub frame: u32,
    pub ts: i64,
}

/// A PING and its ACK.
#[derive(Debug, Clone)]
pub(crate) struct Ping {
    pub dir: u8,
    pub at: At,
    pub opaque: [u8; 8],
    pub ack: Option<At>,
    /// DATA or HEADERS flowed (either way) since the previous PING from the same side: what
    /// gRPC's "pings without data" policy counts.
    pub data_before: bool,
}

/// A GOAWAY.
#[derive(Debug, Clone)]
pub(crate) struct GoAway {
    pub dir: u8,
    pub at: At,
    pub last_stream_id: u32,
    pub error: u32,
    pub debug: String,
}

/// One HTTP/2 stream (a request; a gRPC call).
#[derive(Debug, Clone, Default)]
pub(crate) struct H2Stream {
    pub id: u32,
    pub method: Option<String>,
    pub path: Option<String>,
    pub grpc: bool,
    pub status: Option<u16>,
    pub grpc_status: Option<u32>,
    pub grpc_message: Option<String>,
    /// The frame that carried grpc-status (trailers).
    pub trailers: Option<At>,
    /// END_STREAM seen from each direction.
    pub ended: [bool; 2],
    /// RST_STREAM: from which direction, its error, where.
    pub rst: Option<(u8, u32, At)>,
}

impl H2Stream {
    /// Both sides ended it, or a reset did.
    pub(crate) fn finished(&self) -> bool {
        (self.ended[0] && self.ended[1]) || self.rst.is_some()
    }
}

#[derive(Default)]
struct DirState {
    /// An HTTP/1.1 head (the `Upgrade: h2c` request, the `101` answer) comes first: octets of
    /// its closing blank line matched so far, plus one (0: no head to skip).
    http1_head: u8,
    order: InOrder,
    frames: Option<Direction>,
    blocks: HeaderBlocks,
    last_ping_ts: Option<i64>,
}

/// One HTTP/2 connection's record.
#[derive(Default)]
pub(crate) struct H2Conn {
    dirs: [DirState; 2],
    /// The direction that sent the preface, once seen.
    pub client_dir: Option<u8>,
    pub pings: Vec<Ping>,
    pub pings_dropped: u32,
    pub goaways: Vec<GoAway>,
    pub streams: Vec<H2Stream>,
    pub streams_dropped: u32,
    /// The first and the last frame.
    pub first: Option<At>,
    pub last: Option<At>,
    /// The last DATA or HEADERS frame (either way).
    pub last_data: Option<At>,
    data_since_ping: [bool; 2],
    /// Why header blocks stopped being decoded, per direction.
    pub hpack_notes: [Option<String>; 2],
}

/// True when `payload` starts like a server's first frame: SETTINGS on stream 0, not an ACK,
/// with a whole number of settings.
fn server_settings_first(payload: &[u8]) -> bool {
    FrameHeader::parse(payload).is_some_and(|h| {
        h.ty == FrameType::SETTINGS && h.stream_id == 0 && h.flags == 0 && h.length % 6 == 0
    })
}

impl std::fmt::Debug for H2Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            H2Mode::Undecided => f.write_str("Undecided"),
            H2Mode::No => f.write_str("No"),
            H2Mode::Yes(c) => write!(f, "Yes({} frames' record)", c.pings.len() + c.streams.len()),
        }
    }
}

impl H2Mode {
    /// The first payload of direction `d` decides, for an undecided stream (`forced`: the
    /// stream is HTTP/2 whatever it starts with, by the user's word); then every in-order
    /// payload is fed. `seq` is the payload's sequence number.
    pub(crate) fn on_payload(
        &mut self,
        d: usize,
        seq: u32,
        payload: &[u8],
        frame: u32,
        ts: i64,
        forced: bool,
    ) {
        match self {
            H2Mode::No => {}
            H2Mode::Undecided => {
                let mut conn = H2Conn::default();
                if requests_h2c_upgrade(payload) {
                    // RFC 7540 §3.2: the request, the server's 101, then HTTP/2 both ways
                    // (the client's preface first).
                    conn.client_dir = Some(d as u8);
                    conn.dirs[d].http1_head = 1;
                    conn.dirs[d].frames = Some(Direction::client());
                    conn.dirs[1 - d].http1_head = 1;
                    conn.dirs[1 - d].frames = Some(Direction::server());
                } else if starts_preface(payload) {
                    conn.client_dir = Some(d as u8);
                    conn.dirs[d].frames = Some(Direction::client());
                } else if forced || server_settings_first(payload) {
                    conn.dirs[d].frames = Some(Direction::server());
                } else {
                    *self = H2Mode::No;
                    return;
                }
                let mut conn = Box::new(conn);
                *self = if conn.push(d, seq, payload, frame, ts) {
                    H2Mode::Yes(conn)
                } else {
                    H2Mode::No
                };
            }
            H2Mode::Yes(conn) => {
                if !conn.push(d, seq, payload, frame, ts) {
                    *self = H2Mode::No;
                }
            }
        }
    }

    /// Frees the frame buffers of a direction that ended (FIN), or both (RST).
    pub(crate) fn end(&mut self, d: Option<usize>) {
        if let H2Mode::Yes(c) = self {
            for (i, dir) in c.dirs.iter_mut().enumerate() {
                if d.is_none_or(|d| d == i) {
                    if let Some(f) = &mut dir.frames {
                        f.release();
                    }
                }
            }
        }
    }
}

impl H2Conn {
    /// Feeds in-order payload of direction `d`; false when the direction turns out not to
    /// carry HTTP/2 before any frame was seen (the stream is then not followed).
    pub(crate) fn push(&mut self, d: usize, seq: u32, payload: &[u8], frame: u32, ts: i64) -> bool {
        let at = At { frame, ts };
        let Some(data) = self.dirs[d].order.take(seq, payload) else {
            return true;
        };
        if data.is_empty() {
            return true;
        }
        let mut data = data;
        if self.dirs[d].http1_head > 0 {
            let dir = &mut self.dirs[d];
            // The server's head must be a 101: a refused upgrade stays HTTP/1.
            let fresh_server_head = dir.http1_head == 1 && self.client_dir != Some(d as u8);
            if fresh_server_head && !data.starts_with(b"HTTP/1.1 101") {
                return false;
            }
            match skip_head(&mut dir.http1_head, data) {
                Some(rest) => data = rest,
                None => return true,
            }
            if data.is_empty() {
                return true;
            }
        }
        let dir = &mut self.dirs[d];
        let frames = dir.frames.get_or_insert_with(|| {
            if starts_preface(data) {
                Direction::client()
            } else {
                Direction::server()
            }
        });
        if self.client_dir.is_none() && starts_preface(data) {
            self.client_dir = Some(d as u8);
        }
        let mut seen = Vec::new();
        let blocks = &mut dir.blocks;
        let role = frames.push(data, |item| {
            if let Item::Frame(f) = item {
                let outcome = blocks.on_frame(&f);
                seen.push(Seen::of(&f, outcome));
            }
        });
        if role == keepsight_h2::SegmentRole::Lost {
            return self.first.is_some();
        }
        if let Some(why) = self.dirs[d].blocks.broken() {
            self.hpack_notes[d].get_or_insert_with(|| why.to_string());
        }
        for s in seen {
            self.record(d, at, s);
        }
        true
    }

    fn record(&mut self, d: usize, at: At, f: Seen) {
        self.first.get_or_insert(at);
        self.last = Some(at);
        let h = f.header;
        match h.ty {
            FrameType::DATA | FrameType::HEADERS => {
                self.last_data = Some(at);
                self.data_since_ping = [true, true];
            }
            _ => {}
        }
        match h.ty {
            FrameType::PING => {
                let Some(opaque) = f.ping else { return };
                if h.has(flags::ACK) {
                    // The ACK answers the latest unanswered PING from the other side with the
                    // same data.
                    if let Some(p) = self
                        .pings
                        .iter_mut()
                        .rev()
                        .find(|p| p.dir as usize != d && p.opaque == opaque && p.ack.is_none())
                    {
                        p.ack = Some(at);
                    }
                    return;
                }
                if self.pings.len() >= MAX_PINGS {
                    self.pings_dropped += 1;
                    return;
                }
                let data_before = self.dirs[d].last_ping_ts.is_none() || self.data_since_ping[d];
                self.data_since_ping[d] = false;
                self.dirs[d].last_ping_ts = Some(at.ts);
                self.pings.push(Ping {
                    dir: d as u8,
                    at,
                    opaque,
                    ack: None,
                    data_before,
                });
            }
            FrameType::GOAWAY => {
                if let (Some((last, error, debug)), true) =
                    (f.goaway, self.goaways.len() < MAX_GOAWAYS)
                {
                    self.goaways.push(GoAway {
                        dir: d as u8,
                        at,
                        last_stream_id: last,
                        error,
                        debug,
                    });
                }
            }
            FrameType::RST_STREAM => {
                if let Some(s) = self.stream(h.stream_id) {
                    s.rst.get_or_insert((d as u8, f.rst_error.unwrap_or(0), at));
                }
            }
            FrameType::HEADERS | FrameType::DATA | FrameType::CONTINUATION => {
                if h.stream_id == 0 {
                    return;
                }
                let end = h.ty != FrameType::CONTINUATION && h.has(flags::END_STREAM);
                let Some(s) = self.stream(h.stream_id) else {
                    return;
                };
                if end {
                    s.ended[d] = true;
                }
                if let Some(list) = f.headers {
                    for (n, v) in list {
                        match n.as_str() {
                            ":method" => s.method = Some(v),
                            ":path" => s.path = Some(v),
                            ":status" => s.status = v.parse().ok(),
                            "content-type" if v.starts_with("application/grpc") => s.grpc = true,
                            "grpc-status" => {
                                s.grpc_status = v.parse().ok();
                                s.trailers = Some(at);
                            }
                            "grpc-message" => s.grpc_message = Some(v),
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The record of stream `id`, made when first seen (none past [`MAX_STREAMS`]).
    fn stream(&mut self, id: u32) -> Option<&mut H2Stream> {
        if let Some(i) = self.streams.iter().rposition(|s| s.id == id) {
            return Some(&mut self.streams[i]);
        }
        if self.streams.len() >= MAX_STREAMS {
            self.streams_dropped += 1;
            return None;
        }
        self.streams.push(H2Stream {
            id,
            ..H2Stream::default()
        });
        self.streams.last_mut()
    }
}

/// Skips an HTTP/1 head through its blank line. `state` is 1 + the octets of "\r\n\r\n"
/// matched so far, across calls; it becomes 0 once the head is over. Returns the bytes after
/// the head, or `None` while the head goes on.
fn skip_head<'a>(state: &mut u8, data: &'a [u8]) -> Option<&'a [u8]> {
    const END: &[u8; 4] = b"\r\n\r\n";
    for (i, &b) in data.iter().enumerate() {
        let matched = usize::from(*state - 1);
        *state = if b == END[matched] {
            *state + 1
        } else if b == b'\r' {
            2
        } else {
            1
        };
        if *state == 5 {
            *state = 0;
            return Some(&data[i + 1..]);
        }
    }
    None
}

/// What the record needs of one frame, copied out of the reassembler's buffers.
struct Seen {
    header: FrameHeader,
    ping: Option<[u8; 8]>,
    goaway: Option<(u32, u32, String)>,
    rst_error: Option<u32>,
    /// Header fields that matter (pseudo-headers, content type, gRPC status), values cut to
    /// [`MAX_TEXT`].
    headers: Option<Vec<(String, String)>>,
}

impl Seen {
    fn of(f: &keepsight_h2::Frame<'_>, outcome: HeadersOutcome) -> Seen {
        let cut = |b: &[u8]| {
            let s = String::from_utf8_lossy(&b[..b.len().min(MAX_TEXT)]);
            s.into_owned()
        };
        let headers = match outcome {
            HeadersOutcome::Decoded(list) => Some(
                list.iter()
                    .filter(|(n, _)| {
                        n.starts_with(':')
                            || matches!(*n, "content-type" | "grpc-status" | "grpc-message")
                    })
                    .map(|(n, v)| (n.to_string(), cut(v.as_bytes())))
                    .collect(),
            ),
            _ => None,
        };
        Seen {
            header: f.header,
            ping: f.ping(),
            goaway: f
                .goaway()
                .map(|g| (g.last_stream_id, g.error.0, cut(g.debug))),
            rst_error: f.rst_stream_error().map(|e| e.0),
            headers,
        }
    }
}
