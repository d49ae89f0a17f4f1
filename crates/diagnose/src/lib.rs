//! `keepsight-diagnose`: why did these long-lived TCP connections die?
//!
//! This crate is the analysis core of `keepsight diagnose`. It is fed TCP segments in capture
//! order ([`Segment`], built by the capture engine or by a test) and, per `tcp.stream`, finds:
//!
//! * application heartbeats without configuration (recurring small request/reply payloads with a
//!   stable signature), their period, jitter and reply latency, and the late, missed, slow,
//!   unanswered and retransmitted beats;
//! * what ended each connection (FIN or RST, by whom, how long after the last beat or data) and
//!   the causal chain when there is one (a late probe followed by the sender's own reset);
//! * TCP keep-alive probes, the `keepidle`/`keepintvl`/`keepcnt` they imply, and dead peers;
//! * idle gaps longer than common middlebox timeouts, the state-loss pattern (idle, then data
//!   nobody acknowledges) and resets forged by a middlebox (a TTL the sender never used);
//! * connection attempts that failed: SYNs nobody answered (a flood, a server down, a firewall
//!   dropping), SYNs refused by a reset, scans, and clients retrying a server after their
//!   connection died (see `connect`);
//! * with an application log, which log lines correspond to which frames.
//!
//! It produces a [`Report`] (stable JSON schema, see README.md, and a text rendering).
//!
//! What it is not: it reads no capture file and dissects nothing (that is `keepsight-engine`'s
//! job), and it does not redo TCP analysis: tshark's analysis flags arrive in
//! [`Segment::analysis`] and are only interpreted here. Memory is bounded by the streams alive at
//! once: each stream keeps online statistics and a bounded number of records, never its packets,
//! and is summarized and dropped soon after it closes.

mod apps;
pub mod civil;
mod conclusions;
mod connect;
mod ended;
mod event;
pub mod finding;
pub mod flags;
mod h2;
mod heartbeat;
pub mod http;
mod log;
pub mod middlebox;
mod mqtt;
pub mod options;
mod period;
mod reply_baseline;
pub mod report;
mod roles;
mod sig;
mod stats;
mod stream;
mod summarize;
mod template;

pub use finding::{Details, Finding, Kind, Severity};
pub use flags::{Flags, OptionError};
pub use log::{AppLog, LogOptions};
pub use options::Options;
pub use report::Report;

use keepsight_tcp::Segment;
use report::{round, secs, CaptureInfo, StreamReport};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::HashMap;
use stream::Stream;

/// Live streams by `tcp.stream`: small dense integers looked up once per packet, where FxHash
/// is much cheaper than SipHash (and a capture cannot hash-flood anything but its own analysis).
type StreamMap = FxHashMap<u32, Stream>;

/// How long a closed stream is kept for stray segments (final ACKs, retransmitted FINs) before it
/// is summarized and dropped.
const LINGER_NS: i64 = 30_000_000_000;
/// Segments between two sweeps for closed streams.
const SWEEP_EVERY: u64 = 1 << 16;
/// Capture times are kept within ±2^61 ns (±73 years around 1970).
const TS_LIMIT: i64 = 1 << 61;
/// Stream numbers tracked in the done-bitset (512 KiB at most).
const DONE_BITS: u32 = 1 << 22;

/// Which streams a finished [`Report`] lists in [`Report::streams`].
#[derive(Clone, Copy)]
pub enum Listing<'a> {
    /// Every stream (the JSON report lists them all).
    Every,
    /// The streams with something to tell (a heartbeat, kernel keep-alive, a TLS close, a reset
    /// after more than a handshake or with a finding of its own), those a reconnect storm may
    /// name, and those `also` names: a text, HTML or conversation view reads no other, and a
    /// million half-open streams of a SYN flood or closed connections of a busy server then
    /// cost nothing, or a compact record, after their summary.
    Notable {
        /// More streams to list (the ones a view draws).
        also: &'a dyn Fn(u32) -> bool,
    },
}

/// The streaming diagnoser: feed it segments in capture order, then call [`Diagnoser::finish`].
pub struct Diagnoser {
    opts: Options,
    /// Where TLS records are decrypted (with [`Options::tls_keys`]), for every stream.
    plaintext: Vec<u8>,
    live: StreamMap,
    /// Streams of one segment so far, kept as that segment.
    singles: keepsight_tcp::FirstSegments,
    /// Streams already summarized, by number (a bit each), so late stragglers are not taken for
    /// new streams.
    done: Vec<u64>,
    /// Summarized streams numbered beyond the bitset (an engine numbers densely from 0, so this
    /// stays empty in practice; it keeps a stray huge number from costing memory).
    done_sparse: FxHashSet<u32>,
    reports: Vec<StreamReport>,
    /// Streams that ended with nothing to tell but how, when the caller lists only notable
    /// streams ([`Diagnoser::lists_notable`]); rebuilt into `reports` at the end when listed.
    ended: Vec<ended::Ended>,
    /// Whether ordinary ends are kept as [`ended::Ended`] records.
    compact_ends: bool,
    findings: Vec<Finding>,
    per_kind: HashMap<Kind, usize>,
    idle_tally: Vec<summarize::IdleTally>,
    services: heartbeat::Services,
    /// Connection attempts: unanswered, refused, scans, retries.
    connects: connect::Connects,
    dropped: u64,
    segments: u64,
    late_segments: u64,
    first_ts: Option<i64>,
    last_ts: i64,
    streams_seen: u64,
}

impl Diagnoser {
    /// A diagnoser before the first segment.
    pub fn new(opts: Options) -> Self {
        Diagnoser {
            plaintext: Vec::new(),
            idle_tally: vec![Default::default(); opts.middleboxes.len()],
            services: Default::default(),
            connects: Default::default(),
            opts,
            live: StreamMap::default(),
            singles: Default::default(),
            done: Vec::new(),
            done_sparse: Default::default(),
            reports: Vec::new(),
            ended: Vec::new(),
            compact_ends: false,
            findings: Vec::new(),
            per_kind: HashMap::new(),
            dropped: 0,
            segments: 0,
            late_segments: 0,
            first_ts: None,
            last_ts: i64::MIN,
            streams_seen: 0,
        }
    }

    /// Tells the diagnoser that it will be finished with [`Listing::Notable`]: the streams that
    /// end with nothing to tell but how are then kept in a compact record of ~100 bytes instead
    /// of their report (a busy server's capture is mostly such streams). The report is the same
    /// whatever the listing; only memory differs.
    pub fn lists_notable(mut self) -> Self {
        self.compact_ends = true;
        self
    }

    fn is_done(&self, stream: u32) -> bool {
        if stream >= DONE_BITS {
            return self.done_sparse.contains(&stream);
        }
        self.done
            .get(stream as usize / 64)
            .is_some_and(|w| w & (1 << (stream % 64)) != 0)
    }

    fn mark_done(&mut self, stream: u32) {
        if stream >= DONE_BITS {
            self.done_sparse.insert(stream);
            return;
        }
        let w = stream as usize / 64;
        if self.done.len() <= w {
            self.done.resize(w + 1, 0);
        }
        self.done[w] |= 1 << (stream % 64);
    }

    /// Feeds one TCP segment, in capture order (any stream). Returns what became of it with
    /// respect to the one-segment streams this diagnoser keeps ([`keepsight_tcp::Held`]), for
    /// analyses fed the same segments that leave those streams to it.
    pub fn on_segment(&mut self, seg: &Segment<'_>) -> keepsight_tcp::Held {
        self.segments += 1;
        if !(-TS_LIMIT..=TS_LIMIT).contains(&seg.ts_ns) {
            // Differences of clamped times cannot overflow; such a time is garbage anyway.
            let mut s = *seg;
            s.ts_ns = seg.ts_ns.clamp(-TS_LIMIT, TS_LIMIT);
            return self.on_segment_inner(&s, seg);
        }
        self.on_segment_inner(seg, seg)
    }

    /// `raw`: the segment as given (a one-segment stream is kept as it came, for the analyses
    /// it is handed back to), `seg` with its time clamped.
    fn on_segment_inner(&mut self, seg: &Segment<'_>, raw: &Segment<'_>) -> keepsight_tcp::Held {
        use keepsight_tcp::Held;
        if self.first_ts.is_none() {
            self.first_ts = Some(seg.ts_ns);
        }
        self.last_ts = self.last_ts.max(seg.ts_ns);
        self.connects.on_segment(seg);
        if self.is_done(seg.stream) {
            self.late_segments += 1;
            return Held::Fed;
        }
        let opts = &self.opts;
        let (s, held) = match self.live.get_mut(&seg.stream) {
            Some(s) => (s, Held::Fed),
            None => match self.singles.take(seg.stream) {
                Some(first) => {
                    let s = self.live.entry(seg.stream).or_insert(Stream::replayed(
                        &clamped(&first),
                        opts,
                        &mut self.plaintext,
                    ));
                    (s, Held::Replayed(first))
                }
                None => {
                    self.streams_seen += 1;
                    if keepsight_tcp::FirstSegment::fits(seg) && self.singles.push(raw) {
                        self.maybe_sweep(seg.ts_ns);
                        return Held::Kept;
                    }
                    let s = self
                        .live
                        .entry(seg.stream)
                        .or_insert_with(|| Stream::new(seg));
                    (s, Held::Fed)
                }
            },
        };
        s.on_segment(seg, opts, &mut self.plaintext);
        self.maybe_sweep(seg.ts_ns);
        held
    }

    /// The one-segment streams kept so far, in stream order: an analysis that leaves them to
    /// this diagnoser (see [`Diagnoser::on_segment`]) takes them from here before
    /// [`Diagnoser::finish`].
    pub fn one_segment_streams(&self) -> impl Iterator<Item = &keepsight_tcp::FirstSegment> + '_ {
        self.singles.iter()
    }

    fn maybe_sweep(&mut self, now: i64) {
        if self.segments & (SWEEP_EVERY - 1) == 0 {
            self.sweep(now);
        }
    }

    /// Summarizes and drops the streams closed long enough ago.
    fn sweep(&mut self, now: i64) {
        self.connects.sweep();
        let closed: Vec<u32> = self
            .live
            .iter()
            .filter(|(_, s)| {
                s.closed_at
                    .is_some_and(|c| now - c > LINGER_NS && now - s.last_ts > LINGER_NS)
            })
            .map(|(&k, _)| k)
            .collect();
        // In stream order, not the map's: what one summary learns (a service's heartbeat) is
        // used by the next, so the order must not depend on the hasher.
        let mut closed = closed;
        closed.sort_unstable();
        for k in closed {
            if let Some(s) = self.live.remove(&k) {
                let end = s.last_ts;
                self.summarize(s, end);
                self.mark_done(k);
            }
        }
    }

    /// Moves the compact records `wanted` accepts back into the reports, whole.
    fn restore_ended(&mut self, wanted: impl Fn(&ended::Ended) -> bool) {
        let reports = &mut self.reports;
        self.ended.retain(|e| {
            if wanted(e) {
                reports.push(e.report());
                false
            } else {
                true
            }
        });
    }

    fn unanswered_after(&self) -> i64 {
        self.opts.timeout_ns.unwrap_or(1_000_000_000)
    }

    fn summarize(&mut self, s: Stream, end_ts: i64) {
        self.summarize_keeping(s, end_ts, &|_| true);
    }

    /// [`Diagnoser::summarize`], keeping the report only when `keep` says so or it says more
    /// than where and when (a close, a heartbeat or keep-alive): the findings are the same.
    fn summarize_keeping(
        &mut self,
        mut s: Stream,
        end_ts: i64,
        keep: &dyn Fn(&StreamReport) -> bool,
    ) {
        s.settle(end_ts, self.unanswered_after());
        let mut out = Vec::new();
        let r = summarize::summarize(
            &s,
            &self.opts,
            &mut out,
            &mut self.idle_tally,
            &mut self.services,
        );
        if keep(&r) || r.close.is_some() || r.heartbeat.is_some() || !r.tcp_keepalive.is_empty() {
            match self
                .compact_ends
                .then(|| ended::Ended::compact(&r))
                .flatten()
            {
                Some(e) => self.ended.push(e),
                None => self.reports.push(r),
            }
        }
        for f in out {
            self.push_finding(f);
        }
    }

    fn push_finding(&mut self, f: Finding) {
        let n = self.per_kind.entry(f.kind()).or_default();
        if *n >= self.opts.max_findings_per_kind {
            self.dropped += 1;
            return;
        }
        *n += 1;
        self.findings.push(f);
    }

    /// Adds a finding made by another analysis of the same capture (HTTP), before `finish`, so
    /// it is capped, ordered, summarized and matched to the log like the others.
    pub fn add_finding(&mut self, f: Finding) {
        self.push_finding(f);
    }

    /// Lines the application log up with the findings that a log may mention (resets and
    /// everything above info, except idle tallies and other log lines); adds the matches.
    fn match_logs(&mut self, logs: &[AppLog], capture_start_ns: i64) -> Vec<report::LogSummary> {
        if logs.is_empty() {
            return Vec::new();
        }
        let mut events: Vec<log::CapEvent> = self
            .findings
            .iter()
            .filter(|f| {
                !matches!(
                    f.kind(),
                    Kind::IdleBeyondMiddleboxTimeout
                        | Kind::LogMatch
                        | Kind::SynUnanswered
                        | Kind::ConnectionRefused
                        | Kind::Scan
                        | Kind::ReconnectStorm
                ) && f.severity != Severity::Info
                    || f.kind() == Kind::ConnectionReset
            })
            .map(|f| log::CapEvent {
                ts: f.ts_ns,
                noticed: f
                    .noticed_ns
                    .unwrap_or_else(|| log::overdue::noticed_span(f)),
                stream: f.stream,
                frames: f.frames.clone(),
                kind: f.kind(),
                what: format!(
                    "{} (stream {})",
                    f.kind().as_str(),
                    f.stream.map(|s| s.to_string()).unwrap_or_default()
                ),
            })
            .collect();
        // Each stream's two ends, so that a line naming a port matches that stream only.
        let ends: Vec<log::conn::StreamEnds> = self
            .reports
            .iter()
            .map(|r| log::conn::StreamEnds {
                stream: r.stream,
                client: r.endpoints.client,
                server: r.endpoints.server,
                first_ns: r.start.shown_ns(),
                last_ns: r.end.shown_ns(),
            })
            .collect();
        let mut summaries = Vec::with_capacity(logs.len());
        for log in logs {
            let c = log::correlate(log, &mut events, capture_start_ns, &ends);
            for mut f in c.findings {
                if let (Details::LogMatch(m), true) = (&mut f.details, logs.len() > 1) {
                    m.log_file = Some(log.name.clone());
                }
                self.push_finding(f);
            }
            summaries.push(c.summary);
        }
        summaries
    }

    /// Summarizes every stream still open at `capture_end_ns` and builds the report, which
    /// lists every stream ([`Report::streams`]).
    pub fn finish(self, capture_end_ns: i64) -> Report {
        self.finish_listing(capture_end_ns, Listing::Every)
    }

    /// [`Diagnoser::finish`], listing in [`Report::streams`] only the streams `listing` asks
    /// for. Everything else in the report (findings, summary, causes, the text's heartbeat and
    /// keep-alive sections) is the same whatever the listing.
    pub fn finish_listing(mut self, capture_end_ns: i64, listing: Listing<'_>) -> Report {
        let end = capture_end_ns.clamp(-TS_LIMIT, TS_LIMIT).max(self.last_ts);
        let concluded = std::mem::take(&mut self.connects).conclude(end);
        // A storm's finding names the connection of the same client and server that ended
        // before it, and a log line is matched to any stream's ends: those reports stay.
        let storm_pairs = concluded.storm_pairs();
        let every = matches!(listing, Listing::Every) || !self.opts.logs.is_empty();
        let also = match listing {
            Listing::Every => None,
            Listing::Notable { also } => Some(also),
        };
        if !every {
            // The same listing whether or not the caller said so up front (only memory
            // differs): the ordinary ends kept whole so far join the compact ones.
            self.compact_ends = true;
            let ended = &mut self.ended;
            self.reports.retain(|r| match ended::Ended::compact(r) {
                Some(e) => {
                    ended.push(e);
                    false
                }
                None => true,
            });
        }
        let keep = |r: &StreamReport| {
            every
                || also.is_some_and(|also| also(r.stream))
                || storm_pairs.contains(&(r.endpoints.client.ip(), r.endpoints.server))
        };
        let mut live: Vec<Stream> = std::mem::take(&mut self.live).into_values().collect();
        live.sort_by_key(|s| s.id);
        // Streams that show their own heartbeat first, so the short ones can lean on them.
        for s in &live {
            if let Some(h) = heartbeat::choose(s, &self.opts) {
                self.services.learn(s, &h);
            }
        }
        for s in live {
            self.summarize_keeping(s, end, &keep);
        }
        // One segment shows no heartbeat: these neither learn nor lean on a service's.
        let mut singles = std::mem::take(&mut self.singles);
        for first in singles.drain() {
            let s = Stream::replayed(&clamped(&first), &self.opts, &mut self.plaintext);
            self.summarize_keeping(s, end, &keep);
        }
        drop(singles);
        // The ordinary ends a storm's finding or the log needs come back as reports.
        self.restore_ended(|e| every || storm_pairs.contains(&e.pair()));
        // Stream numbers are unique: the unstable sort gives the same order without the
        // stable sort's buffer of half the reports.
        self.reports.sort_unstable_by_key(|r| r.stream);
        let tallies = std::mem::take(&mut self.idle_tally);
        let boxes = self.opts.middleboxes.clone();
        for (i, (t, m)) in tallies.iter().zip(boxes.iter()).enumerate() {
            // Boxes sharing a timeout tally the same streams: one finding names them all.
            if i > 0 && boxes[i - 1].idle_timeout_s == m.idle_timeout_s {
                continue;
            }
            let same: Vec<&str> = boxes[i..]
                .iter()
                .take_while(|b| b.idle_timeout_s == m.idle_timeout_s)
                .map(|b| b.name)
                .collect();
            if let Some(f) = t.finding(m, &same) {
                self.push_finding(f);
            }
        }

        for f in concluded.finish(&self.reports, &self.findings) {
            self.push_finding(f);
        }

        let start = self.first_ts;
        let logs = std::mem::take(&mut self.opts.logs);
        let log_summaries = self.match_logs(&logs, start.unwrap_or(end));
        let log_summary = log_summaries.first().cloned();
        // And those a notable listing shows: the ones `also` names, and resets with more than
        // a handshake or a finding of their own (a view lists the connections that were reset).
        let named: FxHashSet<u32> = self.findings.iter().filter_map(|f| f.stream).collect();
        let before = self.reports.len();
        self.restore_ended(|e| {
            also.is_some_and(|also| also(e.stream()))
                || e.reset() && (e.packets() > 3 || named.contains(&e.stream()))
        });
        if self.reports.len() > before {
            self.reports.sort_unstable_by_key(|r| r.stream);
        }

        self.findings.sort_by(|a, b| {
            (a.severity, a.kind(), a.ts_ns, a.stream).cmp(&(
                b.severity,
                b.kind(),
                b.ts_ns,
                b.stream,
            ))
        });
        let (summary, causes) =
            conclusions::conclusions(&self.findings, &self.reports, &log_summaries);
        Report {
            schema: 1,
            capture: CaptureInfo {
                start: start.map(civil::fmt_utc),
                end: start.map(|_| civil::fmt_utc(end)),
                duration_s: start.map(|s| round(secs(end - s), 6)).unwrap_or(0.0),
                segments: self.segments,
                streams: self.streams_seen,
                late_segments: self.late_segments,
            },
            summary,
            causes,
            streams: self.reports,
            findings: self.findings,
            log: log_summary,
            logs: log_summaries,
            findings_dropped: self.dropped,
        }
    }
}

/// A kept first segment again, its time clamped as [`Diagnoser::on_segment`] clamps.
fn clamped(first: &keepsight_tcp::FirstSegment) -> Segment<'static> {
    let mut s = first.segment();
    s.ts_ns = s.ts_ns.clamp(-TS_LIMIT, TS_LIMIT);
    s
}

#[cfg(test)]
mod tests;
