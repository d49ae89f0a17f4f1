//! Per-stream timeline data for the HTML report, aggregated while the capture streams by.
//!
//! The report draws a handful of streams in detail; which ones is known only at the end (from the
//! diagnosis). So every live stream keeps a small, fixed-size sketch: packet counts in at most
//! [`BUCKETS`] time buckets (merged pairwise and widened as the stream grows), its notable
//! packets (SYN, FIN, RST, keep-alive probes, retransmissions; capped per kind), its longest idle
//! gaps, and the intervals between repeats of its small payloads (the heartbeat candidates;
//! merged pairwise past [`POINTS`] points, keeping the longest interval of each pair so a late
//! beat always survives), whether each keep-alive probe got its keep-alive ACK, and its HTTP/1.x
//! exchanges (the first [`EXCHANGES`] and the latest in detail, all of them counted in the
//! packet buckets' time slots).
//!
//! HTTP exchanges are found cheaply, without the HTTP analyser's reassembly: a request is a
//! non-retransmitted segment whose payload begins with a request line (`METHOD target
//! HTTP/1.x`), a response one that begins with a status line; the response is paired with the
//! oldest unanswered request of the other direction. A request line split across segments or a
//! second message inside one segment (pipelining) is therefore not drawn; the page shows the
//! analyser's own counts next to the drawing, and every verdict it draws (framing faults, reuse
//! races) comes from the analyser. When a stream has been closed for a while it is retired: kept only if it
//! scores among the [`Timelines::new`] `keep` most eventful, else dropped. Memory is therefore
//! bounded by the live streams plus `keep` retired ones, never by the number of packets.

use keepsight_tcp::{flag, FirstSegment, FirstSegments, Held, Segment, TcpFlags};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;

/// Packet-count buckets per stream.
pub const BUCKETS: usize = 120;
/// Heartbeat interval points per payload signature.
pub const POINTS: usize = 256;
/// HTTP exchanges kept in detail per stream (the last slot always holds the latest).
pub const EXCHANGES: usize = 64;
/// Notable packets kept per kind and stream (the last slot always holds the latest).
const EVENTS_PER_KIND: usize = 24;
/// Payload signatures followed per stream direction (like the diagnoser's candidates).
const SIGS_PER_DIR: usize = 3;
/// Largest payload taken as a possible heartbeat (as in the diagnoser).
const MAX_BEAT_LEN: u32 = 64;
/// A closed stream is retired this long after its last packet (stray ACKs, retransmitted FINs).
const LINGER_NS: i64 = 30_000_000_000;
const SWEEP_EVERY: u64 = 1 << 16;

/// A packet a drawing points at: its frame number (a link to the evidence) and its time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Frame number, from 1.
    pub frame: u32,
    /// Capture time, ns since the epoch.
    pub ts_ns: i64,
}

/// Kinds of notable packets, as drawn on a timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A connection request or accept: where a connection starts.
    Syn,
    /// An orderly close by one side.
    Fin,
    /// A reset: the connection was torn down, often by a middlebox.
    Rst,
    /// tshark's `[TCP Keep-Alive]`: a kernel keep-alive probe or a retransmitted 1-byte beat.
    KeepAlive,
    /// Any retransmission: loss on the path, or a peer that stopped answering.
    Retransmission,
    /// A WebSocket close frame, after a `101` upgrade: who began the closing handshake.
    WsClose,
}

impl EventKind {
    /// The name the page's script draws the event by.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Syn => "syn",
            EventKind::Fin => "fin",
            EventKind::Rst => "rst",
            EventKind::KeepAlive => "keepalive",
            EventKind::Retransmission => "retransmission",
            EventKind::WsClose => "wsclose",
        }
    }
}

/// One notable packet on a stream's timeline.
#[derive(Clone, Copy, Debug)]
pub struct Event {
    /// When it was captured, ns since the epoch.
    pub ts_ns: i64,
    /// Its frame number, linked from the drawing.
    pub frame: u32,
    /// What kind of packet it is.
    pub kind: EventKind,
    /// Sent by the stream's first sender (endpoint A).
    pub from_a: bool,
    /// For a keep-alive probe: the peer's keep-alive ACK (tshark's
    /// `tcp.analysis.keep_alive_ack`), if one came.
    pub answer: Option<Seen>,
}

/// One HTTP request and the response paired with it.
#[derive(Clone, Copy, Debug)]
pub struct Exchange {
    /// When the request's first segment was captured, ns since the epoch.
    pub req_ns: i64,
    /// The frame of the request's first segment.
    pub req_frame: u32,
    /// The request was sent by endpoint A.
    pub from_a: bool,
    /// The segment that began the response, if one came.
    pub resp: Option<Seen>,
}

fn is_request_start(p: &[u8]) -> bool {
    if !keepsight_http::starts_with_method(p) {
        return false;
    }
    // The request line must end, in this segment, with the version.
    let head = &p[..p.len().min(4096)];
    let Some(eol) = head.iter().position(|&b| b == b'\n') else {
        return false;
    };
    let line = head[..eol].strip_suffix(b"\r").unwrap_or(&head[..eol]);
    line.len() >= 9 && line[line.len() - 9..line.len() - 1] == *b" HTTP/1."
}

fn is_response_start(p: &[u8]) -> bool {
    p.len() >= 12
        && p.starts_with(b"HTTP/1.")
        && p[8] == b' '
        && p[9..12].iter().all(u8::is_ascii_digit)
}

/// An idle gap: the frames (and times) before and after it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gap {
    /// Time of the last packet before the silence, ns since the epoch.
    pub from_ns: i64,
    /// Time of the packet that ended it.
    pub to_ns: i64,
    /// Frame of the last packet before the silence.
    pub from_frame: u32,
    /// Frame of the packet that ended it.
    pub to_frame: u32,
}

impl Gap {
    /// How long the connection was silent, in ns (0 for out-of-order times).
    pub fn len_ns(&self) -> i64 {
        self.to_ns.saturating_sub(self.from_ns)
    }
}

/// One point of a heartbeat interval chart: `beats` consecutive repeats of a signature; the
/// time and frame are those of the one with the longest interval.
#[derive(Clone, Copy, Debug)]
pub struct Point {
    /// Time of the beat with the longest interval, ns since the epoch.
    pub ts_ns: i64,
    /// Frame of that beat.
    pub frame: u32,
    /// The longest interval among the beats, in ns: a late beat shows here.
    pub gap_max_ns: i64,
    /// The shortest interval among the beats, in ns.
    pub gap_min_ns: i64,
    /// How many beats the point stands for.
    pub beats: u32,
}

impl Point {
    fn merge(self, o: Point) -> Point {
        let (ts_ns, frame) = if o.gap_max_ns > self.gap_max_ns {
            (o.ts_ns, o.frame)
        } else {
            (self.ts_ns, self.frame)
        };
        Point {
            ts_ns,
            frame,
            gap_max_ns: self.gap_max_ns.max(o.gap_max_ns),
            gap_min_ns: self.gap_min_ns.min(o.gap_min_ns),
            beats: self.beats + o.beats,
        }
    }
}

/// Repeats of one small payload in one direction.
#[derive(Clone, Debug)]
pub struct Signature {
    /// Sent by endpoint A (the stream's first sender).
    pub from_a: bool,
    /// The payload length every repeat has.
    pub len: u32,
    /// The first bytes (up to 8) of the payload; for a masked WebSocket frame, its 2-byte header.
    pub key: Vec<u8>,
    /// Repeats seen.
    pub count: u64,
    /// Time of the first repeat, ns since the epoch.
    pub first_ns: i64,
    /// Frame of the first repeat.
    pub first_frame: u32,
    last_ns: i64,
    /// The interval chart's finished points (at most [`POINTS`]; each covers `per_point` beats).
    pub points: Vec<Point>,
    /// Beats per finished point (a power of two).
    pub per_point: u32,
    pending: Option<Point>,
}

impl Signature {
    fn add(&mut self, ts: i64, frame: u32) {
        self.count += 1;
        // Out-of-order times give no negative interval; saturating: times are not trusted.
        let gap = ts.saturating_sub(self.last_ns).max(0);
        self.last_ns = ts;
        let p = Point {
            ts_ns: ts,
            frame,
            gap_max_ns: gap,
            gap_min_ns: gap,
            beats: 1,
        };
        let p = match self.pending.take() {
            Some(q) => q.merge(p),
            None => p,
        };
        if p.beats < self.per_point {
            self.pending = Some(p);
            return;
        }
        if self.points.len() == POINTS {
            self.points = self.points.chunks(2).map(merge_all).collect();
            self.per_point *= 2;
            // The point just completed is now a half point: carry it over.
            self.pending = Some(p);
            return;
        }
        self.points.push(p);
    }

    /// The finished points plus the one in progress.
    pub fn all_points(&self) -> Vec<Point> {
        let mut v = self.points.clone();
        v.extend(self.pending);
        v
    }
}

fn merge_all(c: &[Point]) -> Point {
    c[1..].iter().fold(c[0], |a, &b| a.merge(b))
}

/// Everything kept about one stream.
#[derive(Clone, Debug)]
pub struct Track {
    /// `tcp.stream` of the stream drawn.
    pub stream: u32,
    /// Source of the stream's first segment.
    pub a: SocketAddr,
    /// Time of the stream's first packet, ns since the epoch.
    pub first_ns: i64,
    /// Time of its latest packet.
    pub last_ns: i64,
    /// Packets seen, all of them (the buckets count them over time).
    pub packets: u64,
    /// Width of one bucket, ns; bucket i starts at `first_ns + i * bucket_ns`.
    pub bucket_ns: i64,
    /// Packets per bucket: the timeline's density strip.
    pub buckets: Vec<u32>,
    /// Notable packets kept, in capture order (capped per kind).
    pub events: Vec<Event>,
    /// Notable packets not kept (over the per-kind cap), per kind.
    pub events_dropped: u64,
    /// The longest idle gaps, longest first (at most 3).
    pub gaps: Vec<Gap>,
    /// Small repeated payloads (heartbeat candidates) with their interval charts.
    pub sigs: Vec<Signature>,
    /// Keep-alive probes seen (all of them, kept or not).
    pub ka_probes: u32,
    /// Of those, the probes the peer answered with a keep-alive ACK.
    pub ka_answered: u32,
    /// Per direction (index 1 = sent by A): where in `events` its latest unanswered probe is.
    ka_open: [Option<usize>; 2],
    /// Per direction: its latest probe is still unanswered (for the counts).
    ka_waiting: [bool; 2],
    /// HTTP exchanges in detail (at most [`EXCHANGES`]).
    pub exchanges: Vec<Exchange>,
    /// HTTP requests seen, all of them.
    pub requests: u64,
    /// HTTP requests per packet bucket.
    pub request_buckets: Vec<u32>,
    /// A `101 Switching Protocols` answer was seen: the bytes after it are WebSocket frames
    /// (or another upgraded protocol's), whose close frames the timeline marks.
    pub upgraded: bool,
    /// The stream's previous packet, where an idle gap would start.
    prev: Option<Seen>,
    closed_at: Option<i64>,
    /// Signatures not followed (more distinct small payloads than [`SIGS_PER_DIR`]).
    sigs_full: [bool; 2],
}

impl Track {
    /// The track after its first segment.
    fn replayed(seg: &Segment<'_>) -> Track {
        let mut t = Track::new(seg);
        t.on_segment(seg);
        t
    }

    fn new(seg: &Segment<'_>) -> Track {
        Track {
            stream: seg.stream,
            a: seg.src,
            first_ns: seg.ts_ns,
            last_ns: seg.ts_ns,
            packets: 0,
            bucket_ns: 1_000_000,
            buckets: Vec::new(),
            events: Vec::new(),
            events_dropped: 0,
            gaps: Vec::new(),
            sigs: Vec::new(),
            ka_probes: 0,
            ka_answered: 0,
            ka_open: [None; 2],
            ka_waiting: [false; 2],
            exchanges: Vec::new(),
            requests: 0,
            request_buckets: Vec::new(),
            upgraded: false,
            prev: None,
            closed_at: None,
            sigs_full: [false; 2],
        }
    }

    fn on_segment(&mut self, seg: &Segment<'_>) {
        let ts = seg.ts_ns;
        self.packets += 1;
        self.last_ns = self.last_ns.max(ts);
        self.count(ts);
        if let Some(prev) = self.prev {
            if ts > prev.ts_ns {
                self.note_gap(Gap {
                    from_ns: prev.ts_ns,
                    to_ns: ts,
                    from_frame: prev.frame,
                    to_frame: seg.frame,
                });
            }
        }
        self.prev = Some(Seen {
            frame: seg.frame,
            ts_ns: ts,
        });
        let from_a = seg.src == self.a;
        let mut ev = |kind| {
            self.event(kind, ts, seg.frame, from_a);
        };
        if seg.flags.syn() {
            ev(EventKind::Syn);
        }
        if seg.flags.fin() {
            ev(EventKind::Fin);
        }
        if seg.flags.rst() {
            ev(EventKind::Rst);
        }
        let ka = seg.analysis.has(flag::KEEP_ALIVE);
        if ka {
            self.ka_probes += 1;
            let at = self.event(EventKind::KeepAlive, ts, seg.frame, from_a);
            self.ka_open[usize::from(from_a)] = at;
            self.ka_waiting[usize::from(from_a)] = true;
        } else if seg.analysis.has(flag::ANY_RETRANSMISSION) {
            self.event(EventKind::Retransmission, ts, seg.frame, from_a);
        }
        if seg.analysis.has(flag::KEEP_ALIVE_ACK) {
            // It answers the other side's latest probe.
            let other = usize::from(!from_a);
            if std::mem::take(&mut self.ka_waiting[other]) {
                self.ka_answered += 1;
            }
            if let Some(i) = self.ka_open[other].take() {
                if let Some(e) = self.events.get_mut(i) {
                    e.answer = Some(Seen {
                        frame: seg.frame,
                        ts_ns: ts,
                    });
                }
            }
        }
        if seg.flags.has(TcpFlags::FIN | TcpFlags::RST) {
            self.closed_at.get_or_insert(ts);
        }
        let retx = seg.analysis.has(flag::ANY_RETRANSMISSION);
        if seg.len > 0 && seg.len <= MAX_BEAT_LEN && !retx && !ka && !seg.payload.is_empty() {
            self.beat(seg, from_a);
        }
        if !retx && !ka && seg.payload.len() >= 12 && !self.upgraded {
            self.http(seg.payload, ts, seg.frame, from_a);
        }
        // A close frame (FIN bit and opcode 8) at the start of a segment; control frames are
        // short and sent alone, so the segment start is where they are.
        if self.upgraded && !retx && seg.payload.first() == Some(&0x88) {
            self.event(EventKind::WsClose, ts, seg.frame, from_a);
        }
    }

    fn http(&mut self, p: &[u8], ts: i64, frame: u32, from_a: bool) {
        if is_request_start(p) {
            self.requests += 1;
            let i = (ts.saturating_sub(self.first_ns).max(0) / self.bucket_ns) as usize;
            if self.request_buckets.len() <= i {
                self.request_buckets.resize(i + 1, 0);
            }
            self.request_buckets[i] = self.request_buckets[i].saturating_add(1);
            let x = Exchange {
                req_ns: ts,
                req_frame: frame,
                from_a,
                resp: None,
            };
            if self.exchanges.len() < EXCHANGES {
                self.exchanges.push(x);
            } else if let Some(last) = self.exchanges.last_mut() {
                // Keep the first ones and the latest, as for the notable packets.
                *last = x;
            }
        } else if is_response_start(p) {
            self.upgraded |= p.get(9..13) == Some(b"101 ");
            if let Some(x) = self
                .exchanges
                .iter_mut()
                .find(|x| x.from_a != from_a && x.resp.is_none())
            {
                x.resp = Some(Seen { frame, ts_ns: ts });
            }
        }
    }

    fn count(&mut self, ts: i64) {
        let off = ts.saturating_sub(self.first_ns).max(0);
        let mut i = off / self.bucket_ns;
        while i >= BUCKETS as i64 {
            self.buckets = self.buckets.chunks(2).map(|c| c.iter().sum()).collect();
            if !self.request_buckets.is_empty() {
                self.request_buckets = self
                    .request_buckets
                    .chunks(2)
                    .map(|c| c.iter().sum())
                    .collect();
            }
            self.bucket_ns = self.bucket_ns.saturating_mul(2);
            i = off / self.bucket_ns;
        }
        let i = i as usize;
        if self.buckets.len() <= i {
            self.buckets.resize(i + 1, 0);
        }
        self.buckets[i] = self.buckets[i].saturating_add(1);
    }

    fn note_gap(&mut self, g: Gap) {
        if self.gaps.len() == 3 && self.gaps[2].len_ns() >= g.len_ns() {
            return;
        }
        self.gaps.push(g);
        self.gaps.sort_by_key(|g| std::cmp::Reverse(g.len_ns()));
        self.gaps.truncate(3);
    }

    /// Keeps a notable packet; returns where it was stored.
    fn event(&mut self, kind: EventKind, ts_ns: i64, frame: u32, from_a: bool) -> Option<usize> {
        let e = Event {
            ts_ns,
            frame,
            kind,
            from_a,
            answer: None,
        };
        let same = self.events.iter().filter(|e| e.kind == kind).count();
        if same < EVENTS_PER_KIND {
            self.events.push(e);
            return Some(self.events.len() - 1);
        }
        // Keep the first ones and, in the last slot, the latest: how it began and how it ended.
        self.events_dropped += 1;
        let i = self.events.iter().rposition(|e| e.kind == kind)?;
        self.events[i] = e;
        // The probe replaced there can no longer be answered on the page.
        for open in &mut self.ka_open {
            if *open == Some(i) {
                *open = None;
            }
        }
        Some(i)
    }

    fn beat(&mut self, seg: &Segment<'_>, from_a: bool) {
        let p = seg.payload;
        // A masked WebSocket ping/pong changes its bytes with the mask: its header is the key.
        let masked_ws = p.len() >= 6 && matches!(p[0], 0x89 | 0x8a) && p[1] & 0x80 != 0;
        let key: &[u8] = if masked_ws {
            &p[..2]
        } else {
            &p[..p.len().min(8)]
        };
        let ts = seg.ts_ns;
        if let Some(s) = self
            .sigs
            .iter_mut()
            .find(|s| s.from_a == from_a && s.len == seg.len && s.key == key)
        {
            s.add(ts, seg.frame);
            return;
        }
        let dir = usize::from(from_a);
        if self.sigs.iter().filter(|s| s.from_a == from_a).count() >= SIGS_PER_DIR {
            self.sigs_full[dir] = true;
            return;
        }
        self.sigs.push(Signature {
            from_a,
            len: seg.len,
            key: key.to_vec(),
            count: 1,
            first_ns: ts,
            first_frame: seg.frame,
            last_ns: ts,
            points: Vec::new(),
            per_point: 1,
            pending: None,
        });
    }

    /// How much there is to see on this stream, to choose which retired streams to keep.
    pub fn score(&self) -> u64 {
        let has = |k| self.events.iter().any(|e| e.kind == k);
        let mut s = 0;
        if has(EventKind::Rst) {
            s += 8;
        }
        if has(EventKind::KeepAlive) {
            s += 4;
        }
        if has(EventKind::Retransmission) {
            s += 2;
        }
        if self
            .gaps
            .first()
            .is_some_and(|g| g.len_ns() >= 60_000_000_000)
        {
            s += 3;
        }
        // A recurring payload with one interval far longer than the shortest: a late beat.
        if self.sigs.iter().any(|g| {
            g.count >= 3 && {
                let pts = g.all_points();
                let max = pts.iter().map(|p| p.gap_max_ns).max().unwrap_or(0);
                let min = pts.iter().map(|p| p.gap_min_ns).min().unwrap_or(0);
                max > min + min / 5
            }
        }) {
            s += 3;
        }
        s
    }

    /// The heartbeat signature matching a probe the diagnoser found (hex prefix and length).
    pub fn heartbeat(&self, from_a: bool, probe_hex: &str, probe_len: u32) -> Option<&Signature> {
        let prefix = hex_bytes(probe_hex);
        self.sigs
            .iter()
            .filter(|s| s.from_a == from_a && s.len == probe_len)
            .find(|s| {
                let n = s.key.len().min(prefix.len());
                s.key[..n] == prefix[..n]
            })
    }
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// The streaming collector: feed every TCP segment in capture order, then [`Timelines::finish`].
pub struct Timelines {
    keep: usize,
    // Fx: stream numbers are small integers and these are looked up for every segment.
    live: FxHashMap<u32, Track>,
    /// Streams of one segment so far, kept as that segment (a flood's SYNs): the track is
    /// made from it when a second comes, or at the end.
    singles: FirstSegments,
    retired: FxHashSet<u32>,
    /// Retired tracks kept, with a min-heap on (score, reverse stream) to evict the least eventful.
    kept: HashMap<u32, Track>,
    heap: BinaryHeap<std::cmp::Reverse<(u64, std::cmp::Reverse<u32>)>>,
    segments: u64,
    /// Retired streams dropped because `keep` better ones were kept.
    pub dropped: u64,
}

impl Timelines {
    /// `keep`: how many retired streams to keep at most (the report draws fewer).
    pub fn new(keep: usize) -> Self {
        Timelines {
            keep: keep.max(1),
            live: FxHashMap::default(),
            singles: FirstSegments::default(),
            retired: FxHashSet::default(),
            kept: HashMap::new(),
            heap: BinaryHeap::new(),
            segments: 0,
            dropped: 0,
        }
    }

    /// Adds one TCP segment to its stream's track (a new track for a new stream).
    pub fn on_segment(&mut self, seg: &Segment<'_>) {
        self.segments += 1;
        if let Some(t) = self.live.get_mut(&seg.stream) {
            t.on_segment(seg);
        } else if !self.retired.contains(&seg.stream) {
            if let Some(first) = self.singles.take(seg.stream) {
                let mut t = Track::replayed(&first.segment());
                t.on_segment(seg);
                self.live.insert(seg.stream, t);
            } else if !(FirstSegment::fits(seg) && self.singles.push(seg)) {
                self.live.insert(seg.stream, Track::replayed(seg));
            }
        }
        if self.segments.is_multiple_of(SWEEP_EVERY) {
            self.sweep(seg.ts_ns);
        }
    }

    /// [`Timelines::on_segment`] behind an analysis that keeps the one-segment streams
    /// (`held`, see `keepsight_tcp::Held`): those are not kept here too, and come back at their
    /// second segment or at [`Timelines::finish_with`]. The same tracks as [`Timelines::on_segment`]
    /// (which takes the same streams as one-segment ones, by the same rule).
    pub fn on_segment_held(&mut self, seg: &Segment<'_>, held: &Held) {
        self.segments += 1;
        match held {
            Held::Kept => {}
            Held::Replayed(first) => {
                let mut t = Track::replayed(&first.segment());
                t.on_segment(seg);
                self.live.insert(seg.stream, t);
            }
            Held::Fed => {
                if let Some(t) = self.live.get_mut(&seg.stream) {
                    t.on_segment(seg);
                } else if !self.retired.contains(&seg.stream) {
                    self.live.insert(seg.stream, Track::replayed(seg));
                }
            }
        }
        if self.segments.is_multiple_of(SWEEP_EVERY) {
            self.sweep(seg.ts_ns);
        }
    }

    fn sweep(&mut self, now: i64) {
        let done: Vec<u32> = self
            .live
            .values()
            .filter(|t| t.closed_at.is_some() && now - t.last_ns > LINGER_NS)
            .map(|t| t.stream)
            .collect();
        for k in done {
            if let Some(t) = self.live.remove(&k) {
                self.retired.insert(k);
                self.retire(t);
            }
        }
    }

    fn retire(&mut self, t: Track) {
        let key = std::cmp::Reverse((t.score(), std::cmp::Reverse(t.stream)));
        if self.kept.len() >= self.keep {
            match self.heap.peek() {
                Some(least) if key < *least => {}
                _ => {
                    self.dropped += 1;
                    return;
                }
            }
            // The new one is more eventful than the least kept: that one goes.
            if let Some(std::cmp::Reverse((_, std::cmp::Reverse(s)))) = self.heap.pop() {
                self.kept.remove(&s);
                self.dropped += 1;
            }
        }
        self.heap.push(key);
        self.kept.insert(t.stream, t);
    }

    /// Streams currently followed (live and kept), for memory accounting.
    pub fn tracked(&self) -> usize {
        self.live.len() + self.kept.len()
    }

    /// [`Timelines::finish`] after [`Timelines::on_segment_held`]: `held` are the one-segment
    /// streams the other analysis still keeps.
    pub fn finish_with<'a>(
        mut self,
        held: impl Iterator<Item = &'a FirstSegment>,
    ) -> (HashMap<u32, Track>, u64) {
        let mut live: Vec<Track> = std::mem::take(&mut self.live).into_values().collect();
        live.sort_by_key(|t| t.stream);
        for t in live {
            self.retire(t);
        }
        for first in held {
            self.retire(Track::replayed(&first.segment()));
        }
        (self.kept, self.dropped)
    }

    /// Every stream still open goes through the same selection; returns the kept tracks.
    pub fn finish(mut self) -> (HashMap<u32, Track>, u64) {
        // Keys are unique, so which tracks are kept does not depend on the order they come in.
        let singles = std::mem::take(&mut self.singles);
        self.finish_with(singles.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepsight_tcp::AnalysisFlags;

    fn seg(
        frame: u32,
        ts_s: f64,
        from_a: bool,
        payload: &'static [u8],
        fl: u16,
    ) -> Segment<'static> {
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let (src, dst) = if from_a { (a, b) } else { (b, a) };
        Segment {
            frame,
            ts_ns: (ts_s * 1e9) as i64,
            stream: 7,
            src,
            dst,
            flags: TcpFlags(fl),
            seq: 0,
            ack: 0,
            len: payload.len() as u32,
            payload,
            window: 1000,
            ttl: 64,
            analysis: AnalysisFlags::default(),
        }
    }

    /// Leaving the one-segment streams to the diagnoser keeps the same tracks as keeping them
    /// here: lone SYNs, a second segment after other streams, data, a reset, eviction.
    #[test]
    fn held_streams_make_the_same_tracks_as_kept_ones() {
        let mut segs = Vec::new();
        for stream in 0..12u32 {
            let mut s = seg(stream + 1, f64::from(stream), true, b"", TcpFlags::SYN);
            s.stream = stream;
            s.src.set_port(6000 + stream as u16);
            segs.push(s);
        }
        for (i, stream) in [3u32, 5, 8, 11].into_iter().enumerate() {
            let t = 20.0 + i as f64;
            let payload: &'static [u8] = if stream == 5 { b"hello" } else { b"" };
            let fl = if stream == 8 {
                TcpFlags::RST
            } else {
                TcpFlags::SYN | TcpFlags::ACK
            };
            let mut s = seg(100 + stream, t, false, payload, fl);
            s.stream = stream;
            s.dst.set_port(6000 + stream as u16);
            segs.push(s);
        }
        let mut own = Timelines::new(3);
        let mut held = Timelines::new(3);
        let mut d = keepsight_diagnose::Diagnoser::new(keepsight_diagnose::Options::default());
        for s in &segs {
            own.on_segment(s);
            let h = d.on_segment(s);
            held.on_segment_held(s, &h);
        }
        let show = |(kept, dropped): (HashMap<u32, Track>, u64)| {
            let mut v: Vec<_> = kept.into_iter().collect();
            v.sort_by_key(|(k, _)| *k);
            format!("{v:?} {dropped}")
        };
        let (a, b) = (
            show(own.finish()),
            show(held.finish_with(d.one_segment_streams())),
        );
        assert!(a.contains("kind: Rst") && !a.ends_with(" 0"), "{a}");
        assert_eq!(a, b);
    }

    #[test]
    fn late_beat_survives_merging_and_buckets_stay_bounded() {
        let mut tl = Timelines::new(4);
        let mut t = 0.0;
        let mut frame = 1;
        // 2000 beats every 1 s, one of them 1.7 s late, then a RST.
        for i in 0..2000 {
            t += if i == 1234 { 1.7 } else { 1.0 };
            tl.on_segment(&seg(frame, t, true, b"\x01", TcpFlags::ACK | TcpFlags::PSH));
            frame += 1;
            tl.on_segment(&seg(
                frame,
                t + 0.001,
                false,
                b"\x41",
                TcpFlags::ACK | TcpFlags::PSH,
            ));
            frame += 1;
        }
        tl.on_segment(&seg(frame, t + 0.002, true, b"", TcpFlags::RST));
        let (kept, dropped) = tl.finish();
        assert_eq!(dropped, 0);
        let tr = &kept[&7];
        assert!(tr.buckets.len() <= BUCKETS);
        assert_eq!(
            tr.buckets.iter().map(|&c| u64::from(c)).sum::<u64>(),
            tr.packets
        );
        let hb = tr.heartbeat(true, "01", 1).expect("probe signature");
        assert_eq!(hb.count, 2000);
        let pts = hb.all_points();
        assert!(pts.len() <= POINTS + 1);
        assert_eq!(pts.iter().map(|p| u64::from(p.beats)).sum::<u64>(), 1999);
        let late = pts.iter().max_by_key(|p| p.gap_max_ns).unwrap();
        assert!((late.gap_max_ns as f64 / 1e9 - 1.7).abs() < 1e-6);
        // Frame of the late probe: beat i sits at frame 2i+1.
        assert_eq!(late.frame, 2 * 1234 + 1);
        assert!(tr.events.iter().any(|e| e.kind == EventKind::Rst));
        assert!((tr.gaps[0].len_ns() as f64 / 1e9 - 1.699).abs() < 1e-6);
    }

    #[test]
    fn keepalive_probes_are_paired_with_their_acks() {
        let mut tl = Timelines::new(4);
        let mut frame = 0;
        let mut send = |tl: &mut Timelines, t: f64, from_a: bool, an: u32| {
            frame += 1;
            let mut s = seg(frame, t, from_a, b"", TcpFlags::ACK);
            s.analysis = AnalysisFlags(an);
            tl.on_segment(&s);
        };
        // Two answered probes, then three unanswered, then one from B answered by A.
        for i in 0..2 {
            send(&mut tl, 1.0 + f64::from(i), true, flag::KEEP_ALIVE);
            send(&mut tl, 1.1 + f64::from(i), false, flag::KEEP_ALIVE_ACK);
        }
        for i in 0..3 {
            send(&mut tl, 5.0 + f64::from(i), true, flag::KEEP_ALIVE);
        }
        send(&mut tl, 9.0, false, flag::KEEP_ALIVE);
        send(&mut tl, 9.1, true, flag::KEEP_ALIVE_ACK);
        let (kept, _) = tl.finish();
        let t = &kept[&7];
        assert_eq!((t.ka_probes, t.ka_answered), (6, 3));
        let ka: Vec<(bool, Option<u32>)> = t
            .events
            .iter()
            .filter(|e| e.kind == EventKind::KeepAlive)
            .map(|e| (e.from_a, e.answer.map(|a| a.frame)))
            .collect();
        assert_eq!(
            ka,
            [
                (true, Some(2)),
                (true, Some(4)),
                (true, None),
                (true, None),
                (true, None),
                (false, Some(9))
            ]
        );
    }

    #[test]
    fn websocket_close_frames_are_marked_after_an_upgrade_only() {
        let mut tl = Timelines::new(4);
        const CLOSE: &[u8] = &[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8];
        tl.on_segment(&seg(1, 0.0, false, CLOSE, TcpFlags::ACK));
        tl.on_segment(&seg(
            2,
            1.0,
            true,
            b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            TcpFlags::ACK,
        ));
        tl.on_segment(&seg(
            3,
            1.1,
            false,
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
            TcpFlags::ACK,
        ));
        tl.on_segment(&seg(4, 2.0, true, CLOSE, TcpFlags::ACK));
        tl.on_segment(&seg(5, 2.1, false, b"HTTP/1.1 ", TcpFlags::ACK));
        let (kept, _) = tl.finish();
        let t = &kept[&7];
        let marks: Vec<u32> = t
            .events
            .iter()
            .filter(|e| e.kind == EventKind::WsClose)
            .map(|e| e.frame)
            .collect();
        assert_eq!(marks, [4]);
        assert_eq!(EventKind::WsClose.name(), "wsclose");
    }

    #[test]
    fn http_exchanges_are_found_and_capped() {
        assert!(is_request_start(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(is_request_start(b"POST /x?y HTTP/1.0\n"));
        // A body that happens to begin with a method, or a request line split across segments.
        assert!(!is_request_start(b"GET ready, set, go\r\n"));
        assert!(!is_request_start(b"GET /a-very-long-path"));
        assert!(is_response_start(b"HTTP/1.1 200 OK\r\n"));
        assert!(!is_response_start(b"HTTP/1.1 2xx OK\r\n"));
        let mut tl = Timelines::new(4);
        let n = EXCHANGES as u32 + 36;
        for i in 0..n {
            let t = f64::from(i);
            tl.on_segment(&seg(
                2 * i + 1,
                t,
                true,
                b"GET /a HTTP/1.1\r\n\r\n",
                TcpFlags::ACK,
            ));
            tl.on_segment(&seg(
                2 * i + 2,
                t + 0.01,
                false,
                b"HTTP/1.1 204 No Content\r\n\r\n",
                TcpFlags::ACK,
            ));
        }
        let (kept, _) = tl.finish();
        let t = &kept[&7];
        assert_eq!(t.requests, u64::from(n));
        assert_eq!(t.exchanges.len(), EXCHANGES);
        assert_eq!(
            t.request_buckets.iter().map(|&c| u64::from(c)).sum::<u64>(),
            u64::from(n)
        );
        assert!(t.request_buckets.len() <= BUCKETS);
        // The first ones and the latest, each with its response.
        assert_eq!(t.exchanges[0].req_frame, 1);
        assert_eq!(t.exchanges[0].resp.map(|r| r.frame), Some(2));
        let last = t.exchanges.last().unwrap();
        assert_eq!(last.req_frame, 2 * (n - 1) + 1);
        assert_eq!(last.resp.map(|r| r.frame), Some(2 * n));
    }

    #[test]
    fn retired_streams_are_capped_keeping_the_eventful() {
        let mut tl = Timelines::new(2);
        for s in 0..10u32 {
            let mut a = seg(1, 1.0, true, b"", TcpFlags::SYN);
            a.stream = s;
            tl.on_segment(&a);
            let mut b = seg(
                2,
                2.0,
                true,
                b"",
                if s == 3 { TcpFlags::RST } else { TcpFlags::FIN },
            );
            b.stream = s;
            tl.on_segment(&b);
        }
        let (kept, dropped) = tl.finish();
        assert_eq!(kept.len(), 2);
        assert_eq!(dropped, 8);
        assert!(kept.contains_key(&3), "the reset stream is kept");
    }
}
