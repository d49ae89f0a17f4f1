//! Segments in, report out: one [`Conn`] per live TCP stream, closed connections turned into
//! [`Connection`] records with their close story.

use crate::conn::{Core, Parser};
use crate::model::{Close, Connection, End, Message, Report, Side};
use crate::reasm::{seq_lt, Piece, Reassembler};
use crate::report;
use keepsight_tcp::{flag, Segment};
use rustc_hash::{FxHashMap, FxHashSet};
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

/// Feeds segments in capture order; [`Analyzer::finish`] returns the report.
pub struct Analyzer {
    opts: Options,
    live: FxHashMap<u32, Box<Conn>>,
    /// Streams already over, or not HTTP: late ACKs and retransmitted FINs must not start a
    /// new record.
    over: FxHashSet<u32>,
    done: Vec<Connection>,
}

impl Analyzer {
    /// An analyzer before the first segment.
    pub fn new(opts: Options) -> Self {
        Analyzer {
            opts,
            live: FxHashMap::default(),
            over: FxHashSet::default(),
            done: Vec::new(),
        }
    }

    /// Connections currently tracked.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// Feeds one TCP segment, in capture order (any stream).
    pub fn segment(&mut self, s: &Segment<'_>) {
        let conn = match self.live.get_mut(&s.stream) {
            Some(c) => c,
            None => {
                if self.over.contains(&s.stream) {
                    return;
                }
                // A connection seen without payload yet costs a map entry only when it could
                // carry HTTP: anything with a SYN or data.
                self.live
                    .entry(s.stream)
                    .or_insert_with(|| Box::new(Conn::new(s, self.opts.keep_all_messages)))
            }
        };
        let over = conn.segment(s);
        if !over && conn.hopeless() {
            // Forget it: later segments of this stream cost one set lookup instead of a walk
            // through a large per-connection state (most of a mixed capture is not HTTP).
            self.live.remove(&s.stream);
            self.over.insert(s.stream);
            return;
        }
        if over {
            let conn = self.live.remove(&s.stream).expect("present");
            self.over.insert(s.stream);
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
        for c in self.live.values_mut() {
            c.core.msgs.drain(..).for_each(|m| sink(&m));
        }
    }

    /// Ends every connection still open at the capture's end and builds the report.
    pub fn finish(mut self) -> Report {
        let mut rest: Vec<_> = self.live.drain().collect();
        rest.sort_by_key(|(k, _)| *k);
        for (_, c) in rest {
            if let Some(c) = c.into_connection() {
                self.done.push(c);
            }
        }
        self.done.sort_by_key(|c| c.stream);
        report::build(self.done)
    }
}
