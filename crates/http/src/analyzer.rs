//! Segments in, report out: one [`Conn`] per live TCP stream, closed connections turned into
//! [`Connection`] records with their close story.

use crate::conn::{Core, Parser};
use crate::model::{Close, Connection, End, Message, Report, Side};
use crate::reasm::{seq_lt, Piece, Reassembler};
use crate::report;
use keepsight_tcp::{flag, Segment};
use rustc_hash::FxHashMap;
use std::net::SocketAddr;

/// What to keep.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Keep every message (for `keepsight http --json` and the `http.*` fields); otherwise only
    /// messages with a verdict are kept, so memory stays bounded by live connections.
    pub keep_all_messages: bool,
}

struct Conn {
    core: Core,
    reasm: [Reassembler; 2],
    p: [Parser; 2],
    /// Direction 0 is the sender of the stream's first captured segment.
    addr: [SocketAddr; 2],
    first_frame: u32,
    first_ts: i64,
    last_ts: i64,
    syn_client: Option<usize>,
    fin: [Option<FinSeen>; 2],
    rst: Option<RstSeen>,
    ended: [bool; 2],
    /// At the client's FIN: when the request it was still waiting for was sent.
    client_fin_waiting_since: Option<i64>,
    /// At the server's FIN: a message of its was unfinished, or a request unanswered.
    server_fin_mid: bool,
}

/// A direction's first FIN.
#[derive(Clone, Copy)]
struct FinSeen {
    frame: u32,
    ts_ns: i64,
    /// What the FIN acknowledged (did the closer see the request?).
    ack: u32,
}

/// The connection's first RST.
#[derive(Clone, Copy)]
struct RstSeen {
    /// Direction that sent it.
    dir: usize,
    frame: u32,
}

/// Which close came first (ordered after the frame number when two share a frame).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum FirstClose {
    ServerFin,
    ClientFin,
    Reset,
}

impl Conn {
    fn new(s: &Segment<'_>, keep_all: bool) -> Self {
        let mut core = Core::new(s.stream, keep_all);
        core.mid_stream = !s.flags.syn();
        Conn {
            core,
            reasm: Default::default(),
            p: Default::default(),
            addr: [s.src, s.dst],
            first_frame: s.frame,
            first_ts: s.ts_ns,
            last_ts: s.ts_ns,
            syn_client: None,
            fin: [None, None],
            rst: None,
            ended: [false, false],
            client_fin_waiting_since: None,
            server_fin_mid: false,
        }
    }

    fn client(&self) -> usize {
        self.core.client_dir.or(self.syn_client).unwrap_or(0)
    }

    fn feed(&mut self, d: usize, seq: u32, len: u32, payload: &[u8], frame: u32, ts: i64) {
        if self.ended[d] || self.p[d].not_http() {
            return;
        }
        if self.reasm[d].next.is_none() {
            self.p[d].seq_end = seq;
        }
        let mut p = std::mem::take(&mut self.p[d]);
        let core = &mut self.core;
        self.reasm[d].segment(seq, len, payload, frame, ts, &mut |piece| {
            p.piece(piece, core, d)
        });
        self.p[d] = p;
    }

    fn end_dir(&mut self, d: usize, end: End, ts: i64, fin_seq: Option<u32>) {
        if self.ended[d] {
            return;
        }
        self.ended[d] = true;
        let mut p = std::mem::take(&mut self.p[d]);
        let core = &mut self.core;
        let mut out = |piece: Piece<'_>| p.piece(piece, core, d);
        self.reasm[d].flush(&mut out);
        // Bytes before the FIN that never showed up: a gap, so a body is not called short
        // because the capture missed its end.
        if let (Some(f), Some(n)) = (fin_seq, self.reasm[d].next) {
            if seq_lt(n, f) {
                out(Piece::Gap {
                    n: u64::from(f.wrapping_sub(n)),
                });
            }
        }
        p.end(end, ts, &mut self.core);
        self.p[d] = p;
    }

    /// Not HTTP and never will be: the connection began in the capture (SYN seen) and a
    /// direction's first bytes were not an HTTP message while the other's were not either.
    fn hopeless(&self) -> bool {
        self.syn_client.is_some()
            && (self.p[0].not_http() || self.p[1].not_http())
            && !self.p[0].is_http()
            && !self.p[1].is_http()
    }

    /// Returns true when the connection is over.
    fn segment(&mut self, s: &Segment<'_>) -> bool {
        let d = usize::from(s.src != self.addr[0]);
        self.last_ts = self.last_ts.max(s.ts_ns);
        let mut seq = s.seq;
        if s.flags.syn() {
            if !s.flags.ack() {
                self.syn_client = Some(d);
            }
            seq = seq.wrapping_add(1);
            if self.reasm[d].next.is_none() {
                self.reasm[d].next = Some(seq);
                self.p[d].seq_end = seq;
            }
        }
        if s.len > 0 && !s.analysis.has(flag::KEEP_ALIVE) {
            self.feed(d, seq, s.len, s.payload, s.frame, s.ts_ns);
        }
        if s.flags.ack() && !self.ended[1 - d] && !self.p[1 - d].not_http() {
            let mut p = std::mem::take(&mut self.p[1 - d]);
            let core = &mut self.core;
            self.reasm[1 - d].peer_ack(s.ack, &mut |piece| p.piece(piece, core, 1 - d));
            self.p[1 - d] = p;
        }
        if s.flags.fin() && self.fin[d].is_none() {
            self.fin[d] = Some(FinSeen {
                frame: s.frame,
                ts_ns: s.ts_ns,
                ack: s.ack,
            });
            let client = self.client();
            if d == client {
                let mid = self.p[1 - d].mid_fault() || self.core.waiting();
                self.client_fin_waiting_since = if mid { self.core.waiting_since() } else { None };
            } else {
                self.server_fin_mid =
                    self.p[d].mid_fault() || self.core.first_unanswered().is_some();
            }
            let fin_seq = seq.wrapping_add(s.len);
            self.end_dir(d, End::Fin(s.frame), s.ts_ns, Some(fin_seq));
        }
        if s.flags.rst() && self.rst.is_none() {
            self.rst = Some(RstSeen {
                dir: d,
                frame: s.frame,
            });
            self.end_dir(0, End::Rst(s.frame), s.ts_ns, None);
            self.end_dir(1, End::Rst(s.frame), s.ts_ns, None);
        }
        self.rst.is_some() || (self.fin[0].is_some() && self.fin[1].is_some())
    }

    /// Who closed and why.
    fn close(&self) -> Close {
        let c = self.client();
        let s = 1 - c;
        let core = &self.core;
        let sfin = self.fin[s];
        let cfin = self.fin[c];
        let srst = self.rst.filter(|r| r.dir == s);
        // The reuse race: a request the server never answered, sent after (or crossing) the
        // server's idle close.
        if let (Some(req), Some(fin)) = (core.first_unanswered(), sfin) {
            let crossed = req.first_frame > fin.frame || seq_lt(fin.ack, req.seq_end);
            if crossed && !core.last_resp_close {
                return Close::ReuseRace {
                    request_frame: req.first_frame,
                    fin_frame: fin.frame,
                    rst_frame: srst.map(|r| r.frame),
                    idle_ns: fin.ts_ns - core.last_resp_end_ts.unwrap_or(self.first_ts),
                    sent_after_fin_ns: req.first_ts - fin.ts_ns,
                };
            }
        }
        let first = [
            sfin.map(|f| (f.frame, FirstClose::ServerFin)),
            cfin.map(|f| (f.frame, FirstClose::ClientFin)),
            self.rst.map(|r| (r.frame, FirstClose::Reset)),
        ]
        .into_iter()
        .flatten()
        .min();
        match first {
            None => Close::Open,
            // After a 101 or CONNECT the bytes are another protocol's: an idle FIN there is
            // no keep-alive timeout of the HTTP server's.
            Some((frame, _)) if core.tunnel => Close::Tunnel { frame },
            Some((frame, FirstClose::ServerFin)) => {
                let fts = sfin.map(|f| f.ts_ns).unwrap_or(0);
                if self.server_fin_mid {
                    Close::ServerClosedMidExchange { frame }
                } else if core.last_resp_until_close {
                    Close::ServerEndOfBody { frame }
                } else if core.last_resp_close {
                    if core.last_req_close {
                        Close::ClientAskedClose { frame }
                    } else if core.responses >= 2 {
                        Close::ServerRequestLimit {
                            frame,
                            after: core.responses,
                        }
                    } else {
                        Close::ServerSaidClose {
                            frame,
                            after: core.responses,
                        }
                    }
                } else {
                    Close::ServerIdleTimeout {
                        frame,
                        idle_ns: fts - core.last_resp_end_ts.unwrap_or(self.first_ts),
                    }
                }
            }
            Some((frame, FirstClose::ClientFin)) => {
                let fts = cfin.map(|f| f.ts_ns).unwrap_or(0);
                match self.client_fin_waiting_since {
                    Some(since) => Close::ClientGaveUp {
                        frame,
                        waited_ns: fts - since,
                    },
                    None => Close::ClientClose {
                        frame,
                        idle_ns: fts - core.last_resp_end_ts.unwrap_or(self.first_ts),
                    },
                }
            }
            Some((frame, FirstClose::Reset)) => {
                let d = self.rst.expect("rst is first").dir;
                Close::Reset {
                    by: if d == c { Side::Client } else { Side::Server },
                    frame,
                    while_waiting: core.waiting() || core.first_unanswered().is_some(),
                }
            }
        }
    }

    fn into_connection(mut self) -> Option<Connection> {
        for d in 0..2 {
            let ts = self.last_ts;
            self.end_dir(d, End::CaptureEnd, ts, None);
        }
        if !self.p[0].is_http() && !self.p[1].is_http() {
            return None;
        }
        let close = self.close();
        let c = self.client();
        let core = self.core;
        let version = core.version.unwrap_or(1);
        let persistence = report::persistence(
            version,
            core.last_resp_conn_hdr.as_deref(),
            core.responses > 0,
            core.ka_timeout,
            core.ka_max,
        );
        Some(Connection {
            stream: core.stream,
            client: self.addr[c],
            server: self.addr[1 - c],
            first_frame: self.first_frame,
            first_ts_ns: self.first_ts,
            last_ts_ns: self.last_ts,
            saw_syn: self.syn_client.is_some(),
            version,
            requests: core.requests,
            responses: core.responses,
            idle_gaps_ns: core.idle_gaps,
            max_idle_ns: core.max_idle,
            connection_header: core.last_resp_conn_hdr,
            keep_alive_timeout_s: core.ka_timeout,
            keep_alive_max: core.ka_max,
            persistence,
            close,
            message_count: core.total,
            faulty_count: core.faulty,
            messages: core.msgs,
        })
    }
}

/// A connection that has carried no payload yet (handshake, bare ACKs, keep-alive probes): all
/// that a [`Conn`] would hold of it, in 32 bytes instead of ~2 KB. Most streams of a SYN flood
/// or a scan never carry any; one that does becomes a [`Conn`] with exactly this state.
#[derive(Clone, Copy)]
struct Quiet {
    first_ts: i64,
    last_ts: i64,
    first_frame: u32,
    /// Each direction's next sequence number once its SYN was seen (`Reassembler::next`).
    next: [u32; 2],
    /// `NEXT0`, `NEXT1`: `next` is set; `SYN_CLIENT` with `CLIENT1`: the SYN's sender;
    /// `MID_STREAM`: the first segment was no SYN; `FIRST_LOWER`: the first sender is the lower
    /// address (direction 0).
    bits: u8,
}

const NEXT0: u8 = 1;
const NEXT1: u8 = 2;
const SYN_CLIENT: u8 = 4;
const CLIENT1: u8 = 8;
const MID_STREAM: u8 = 16;
const FIRST_LOWER: u8 = 32;

/// Whether a segment leaves a connection without payload as it is (`Quiet`): no data to
/// parse, no FIN or RST to end a direction.
fn is_quiet(s: &Segment<'_>) -> bool {
    (s.len == 0 || s.analysis.has(flag::KEEP_ALIVE)) && !s.flags.fin() && !s.flags.rst()
}

impl Quiet {
    /// The state [`Conn::new`] and [`Conn::segment`] leave after this quiet first segment.
    fn new(s: &Segment<'_>) -> Quiet {
        let mut q = Quiet {
            first_ts: s.ts_ns,
            last_ts: s.ts_ns,
            first_frame: s.frame,
            next: [0; 2],
            bits: if s.flags.syn() { 0 } else { MID_STREAM }
                | if s.src <= s.dst { FIRST_LOWER } else { 0 },
        };
        q.segment(s);
        q
    }

    /// The addresses in direction order.
    fn addr(&self, s: &Segment<'_>) -> [SocketAddr; 2] {
        let (lower, upper) = if s.src <= s.dst {
            (s.src, s.dst)
        } else {
            (s.dst, s.src)
        };
        if self.bits & FIRST_LOWER != 0 {
            [lower, upper]
        } else {
            [upper, lower]
        }
    }

    /// [`Conn::segment`] on a quiet segment.
    fn segment(&mut self, s: &Segment<'_>) {
        let d = usize::from(s.src != self.addr(s)[0]);
        self.last_ts = self.last_ts.max(s.ts_ns);
        if s.flags.syn() {
            if !s.flags.ack() {
                self.bits = (self.bits & !CLIENT1) | SYN_CLIENT | if d == 1 { CLIENT1 } else { 0 };
            }
            let set = if d == 0 { NEXT0 } else { NEXT1 };
            if self.bits & set == 0 {
                self.bits |= set;
                self.next[d] = s.seq.wrapping_add(1);
            }
        }
    }

    /// The connection as [`Conn`], for its first segment with payload, FIN or RST.
    fn into_conn(self, s: &Segment<'_>, keep_all: bool) -> Conn {
        let mut core = Core::new(s.stream, keep_all);
        core.mid_stream = self.bits & MID_STREAM != 0;
        let mut conn = Conn {
            core,
            reasm: Default::default(),
            p: Default::default(),
            addr: self.addr(s),
            first_frame: self.first_frame,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            syn_client: (self.bits & SYN_CLIENT != 0)
                .then_some(usize::from(self.bits & CLIENT1 != 0)),
            fin: [None, None],
            rst: None,
            ended: [false, false],
            client_fin_waiting_since: None,
            server_fin_mid: false,
        };
        for (d, set) in [NEXT0, NEXT1].into_iter().enumerate() {
            if self.bits & set != 0 {
                conn.reasm[d].next = Some(self.next[d]);
                conn.p[d].seq_end = self.next[d];
            }
        }
        conn
    }
}

/// What the analyzer holds for one stream.
#[derive(Default)]
enum Slot {
    /// No segment yet.
    #[default]
    Unseen,
    /// No payload yet.
    Quiet(Quiet),
    Live(Box<Conn>),
    /// Over, or not HTTP: late ACKs and retransmitted FINs must not start a new record.
    Over,
}

/// Streams numbered up to this are kept in a vector indexed by number (the engine numbers
/// densely from 0); a stray larger number goes to a map instead of growing the vector.
const DENSE_STREAMS: u32 = 1 << 22;

/// The slot of `stream`, made when new.
#[inline]
fn slot<'a>(
    dense: &'a mut Vec<Slot>,
    sparse: &'a mut FxHashMap<u32, Slot>,
    stream: u32,
) -> &'a mut Slot {
    if stream < DENSE_STREAMS {
        let i = stream as usize;
        if dense.len() <= i {
            dense.resize_with(i + 1, Slot::default);
        }
        &mut dense[i]
    } else {
        sparse.entry(stream).or_default()
    }
}

/// Feeds segments in capture order; [`Analyzer::finish`] returns the report.
pub struct Analyzer {
    opts: Options,
    /// By stream number.
    streams: Vec<Slot>,
    sparse: FxHashMap<u32, Slot>,
    /// Streams with a `Quiet` or `Live` slot.
    live: usize,
    done: Vec<Connection>,
    /// Messages that ended properly in the last segment fed, when asked for.
    completed: Option<Vec<Message>>,
}

impl Analyzer {
    /// An analyzer before the first segment.
    pub fn new(opts: Options) -> Self {
        Analyzer {
            opts,
            streams: Vec::new(),
            sparse: FxHashMap::default(),
            live: 0,
            done: Vec::new(),
            completed: None,
        }
    }

    /// An analyzer that also hands over each message as soon as it ends properly (a
    /// single-pass view, as tshark's first pass has it: a request does not know its response
    /// yet): see [`Analyzer::take_completed`].
    pub fn reporting_completed(mut self) -> Self {
        self.completed = Some(Vec::new());
        self
    }

    /// Moves the messages that ended properly in the last segment fed (with
    /// [`Analyzer::reporting_completed`]; none otherwise) to the end of `into`, in order.
    pub fn take_completed(&mut self, into: &mut Vec<Message>) {
        if let Some(done) = &mut self.completed {
            into.append(done);
        }
    }

    /// True while `stream` is followed as HTTP (or may still turn out to be): its payload
    /// may belong to a message.
    pub fn follows(&self, stream: u32) -> bool {
        let slot = if stream < DENSE_STREAMS {
            self.streams.get(stream as usize)
        } else {
            self.sparse.get(&stream)
        };
        matches!(slot, Some(Slot::Live(_)))
    }

    /// Connections currently tracked.
    pub fn live(&self) -> usize {
        self.live
    }

    /// [`Analyzer::segment`] behind an analysis that keeps the one-segment streams
    /// (`keepsight_tcp::Held`): a stream's first segment comes when its second does. A stream of
    /// one segment carries no payload, so it is no HTTP: leaving it out changes no report.
    pub fn segment_held(&mut self, s: &Segment<'_>, held: &keepsight_tcp::Held) {
        match held {
            keepsight_tcp::Held::Kept => {}
            keepsight_tcp::Held::Replayed(first) => {
                self.segment(&first.segment());
                self.segment(s);
            }
            keepsight_tcp::Held::Fed => self.segment(s),
        }
    }

    /// Feeds one TCP segment, in capture order (any stream).
    pub fn segment(&mut self, s: &Segment<'_>) {
        let keep_all = self.opts.keep_all_messages;
        let slot = slot(&mut self.streams, &mut self.sparse, s.stream);
        match slot {
            Slot::Over => return,
            Slot::Live(_) => {}
            Slot::Unseen => {
                self.live += 1;
                *slot = if is_quiet(s) {
                    Slot::Quiet(Quiet::new(s))
                } else {
                    Slot::Live(Box::new(Conn::new(s, keep_all)))
                };
                if matches!(slot, Slot::Quiet(_)) {
                    return;
                }
            }
            Slot::Quiet(q) => {
                if is_quiet(s) {
                    q.segment(s);
                    return;
                }
                let conn = q.into_conn(s, keep_all);
                *slot = Slot::Live(Box::new(conn));
            }
        }
        let Slot::Live(conn) = slot else {
            unreachable!("a live slot")
        };
        if let Some(done) = &mut self.completed {
            conn.core.completed.get_or_insert_with(Vec::new);
            done.clear();
            let over = conn.segment(s);
            if let Some(mine) = &mut conn.core.completed {
                done.append(mine);
            }
            self.after_segment(s.stream, over);
            return;
        }
        let over = conn.segment(s);
        self.after_segment(s.stream, over);
    }

    /// Forgets a connection that ended or is no HTTP.
    fn after_segment(&mut self, stream: u32, over: bool) {
        let slot = slot(&mut self.streams, &mut self.sparse, stream);
        let Slot::Live(conn) = slot else {
            return;
        };
        if !over && conn.hopeless() {
            // Forget it: later segments of this stream cost one lookup instead of a walk
            // through a large per-connection state (most of a mixed capture is not HTTP).
            *slot = Slot::Over;
            self.live -= 1;
            return;
        }
        if over {
            let Slot::Live(conn) = std::mem::replace(slot, Slot::Over) else {
                unreachable!("a live slot")
            };
            self.live -= 1;
            if let Some(c) = conn.into_connection() {
                self.done.push(c);
            }
        }
    }

    /// For a caller that consumes messages during the pass and needs no report of what came
    /// before (`keepsight expert` counts their first lines): hands every message kept so far
    /// to `sink`, each connection's in order, and forgets them together with the connections
    /// already over, so memory follows the live connections instead of the messages.
    /// [`Analyzer::finish`] then reports on the rest only. A request handed over before its
    /// response ended lacks `response_in`.
    pub fn drain_messages(&mut self, sink: &mut dyn FnMut(&Message)) {
        for c in self.done.drain(..) {
            c.messages.iter().for_each(&mut *sink);
        }
        let sparse = self.sparse.values_mut();
        for slot in self.streams.iter_mut().chain(sparse) {
            if let Slot::Live(c) = slot {
                c.core.msgs.drain(..).for_each(|m| sink(&m));
            }
        }
    }

    /// Ends every connection still open at the capture's end and builds the report.
    pub fn finish(mut self) -> Report {
        let mut sparse: Vec<_> = self.sparse.drain().collect();
        sparse.sort_by_key(|(k, _)| *k);
        let rest = self
            .streams
            .into_iter()
            .chain(sparse.into_iter().map(|(_, slot)| slot));
        // A quiet connection carried no payload: it is not HTTP.
        for slot in rest {
            if let Slot::Live(c) = slot {
                if let Some(c) = c.into_connection() {
                    self.done.push(c);
                }
            }
        }
        // One connection per stream: the unstable sort gives the same order without the stable
        // sort's buffer of half the connections.
        self.done.sort_unstable_by_key(|c| c.stream);
        report::build(self.done)
    }
}
