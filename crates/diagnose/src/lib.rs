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
//! * with an application log, which log lines correspond to which frames.
//!
//! It produces a [`Report`] (stable JSON schema, see README.md, and a text rendering).
//!
//! What it is not: it reads no capture file and dissects nothing (that is `keepsight-engine`'s
//! job), and it does not redo TCP analysis: tshark's analysis flags arrive in
//! [`Segment::analysis`] and are only interpreted here. Memory is bounded by the streams alive at
//! once: each stream keeps online statistics and a bounded number of records, never its packets,
//! and is summarized and dropped soon after it closes.

pub mod civil;
mod heartbeat;
pub mod log;
pub mod middlebox;
pub mod options;
pub mod report;
mod stats;
mod stream;
mod summarize;

pub use log::{AppLog, LogOptions};
pub use options::Options;
pub use report::{Finding, Kind, Report, Severity};

use keepsight_tcp::Segment;
use report::{human, round, secs, CaptureInfo, StreamReport};
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

/// The streaming diagnoser: feed it segments in capture order, then call [`Diagnoser::finish`].
pub struct Diagnoser {
    opts: Options,
    live: StreamMap,
    /// Streams already summarized, by number (a bit each), so late stragglers are not taken for
    /// new streams.
    done: Vec<u64>,
    /// Summarized streams numbered beyond the bitset (an engine numbers densely from 0, so this
    /// stays empty in practice; it keeps a stray huge number from costing memory).
    done_sparse: FxHashSet<u32>,
    reports: Vec<StreamReport>,
    findings: Vec<Finding>,
    per_kind: HashMap<Kind, usize>,
    idle_tally: Vec<summarize::IdleTally>,
    services: heartbeat::Services,
    dropped: u64,
    segments: u64,
    late_segments: u64,
    first_ts: Option<i64>,
    last_ts: i64,
    streams_seen: u64,
}

impl Diagnoser {
    pub fn new(opts: Options) -> Self {
        Diagnoser {
            idle_tally: vec![Default::default(); opts.middleboxes.len()],
            services: Default::default(),
            opts,
            live: StreamMap::default(),
            done: Vec::new(),
            done_sparse: Default::default(),
            reports: Vec::new(),
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

    pub fn on_segment(&mut self, seg: &Segment<'_>) {
        self.segments += 1;
        if !(-TS_LIMIT..=TS_LIMIT).contains(&seg.ts_ns) {
            // Differences of clamped times cannot overflow; such a time is garbage anyway.
            let mut s = *seg;
            s.ts_ns = seg.ts_ns.clamp(-TS_LIMIT, TS_LIMIT);
            return self.on_segment_inner(&s);
        }
        self.on_segment_inner(seg)
    }

    fn on_segment_inner(&mut self, seg: &Segment<'_>) {
        if self.first_ts.is_none() {
            self.first_ts = Some(seg.ts_ns);
        }
        self.last_ts = self.last_ts.max(seg.ts_ns);
        if self.is_done(seg.stream) {
            self.late_segments += 1;
            return;
        }
        let opts = &self.opts;
        let s = match self.live.get_mut(&seg.stream) {
            Some(s) => s,
            None => {
                self.streams_seen += 1;
                self.live
                    .entry(seg.stream)
                    .or_insert_with(|| Stream::new(seg))
            }
        };
        s.on_segment(seg, opts);
        if self.segments & (SWEEP_EVERY - 1) == 0 {
            self.sweep(seg.ts_ns);
        }
    }

    /// Summarizes and drops the streams closed long enough ago.
    fn sweep(&mut self, now: i64) {
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

    fn unanswered_after(&self) -> i64 {
        self.opts.timeout_ns.unwrap_or(1_000_000_000)
    }

    fn summarize(&mut self, mut s: Stream, end_ts: i64) {
        s.settle(end_ts, self.unanswered_after());
        let mut out = Vec::new();
        let r = summarize::summarize(
            &s,
            &self.opts,
            &mut out,
            &mut self.idle_tally,
            &mut self.services,
        );
        self.reports.push(r);
        for f in out {
            self.push_finding(f);
        }
    }

    fn push_finding(&mut self, f: Finding) {
        let n = self.per_kind.entry(f.kind).or_default();
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

    /// Summarizes every stream still open at `capture_end_ns` and builds the report.
    pub fn finish(mut self, capture_end_ns: i64) -> Report {
        let end = capture_end_ns.clamp(-TS_LIMIT, TS_LIMIT).max(self.last_ts);
        let mut live: Vec<Stream> = std::mem::take(&mut self.live).into_values().collect();
        live.sort_by_key(|s| s.id);
        // Streams that show their own heartbeat first, so the short ones can lean on them.
        for s in &live {
            if let Some(h) = heartbeat::choose(s, &self.opts) {
                self.services.learn(s, &h);
            }
        }
        for s in live {
            self.summarize(s, end);
        }
        self.reports.sort_by_key(|r| r.stream);
        let tallies = std::mem::take(&mut self.idle_tally);
        for (t, m) in tallies.iter().zip(self.opts.middleboxes.clone().iter()) {
            if let Some(f) = t.finding(m) {
                self.push_finding(f);
            }
        }

        let start = self.first_ts;
        let mut log_summary = None;
        if let Some(log) = self.opts.log.take() {
            let mut events: Vec<log::CapEvent> = self
                .findings
                .iter()
                .filter(|f| {
                    !matches!(f.kind, Kind::IdleBeyondMiddleboxTimeout | Kind::LogMatch)
                        && f.severity != Severity::Info
                        || f.kind == Kind::ConnectionReset
                })
                .map(|f| log::CapEvent {
                    ts: f.ts_ns,
                    noticed: f.noticed_ns.unwrap_or((f.ts_ns, f.ts_ns)),
                    stream: f.stream,
                    frames: f.frames.clone(),
                    kind: f.kind.as_str(),
                    what: format!(
                        "{} (stream {})",
                        f.kind.as_str(),
                        f.stream.map(|s| s.to_string()).unwrap_or_default()
                    ),
                })
                .collect();
            let c = log::correlate(&log, &mut events, start.unwrap_or(end));
            for f in c.findings {
                self.push_finding(f);
            }
            log_summary = Some(c.summary);
        }

        self.findings.sort_by(|a, b| {
            (a.severity, a.kind, a.ts_ns, a.stream).cmp(&(b.severity, b.kind, b.ts_ns, b.stream))
        });
        let summary = conclusions(&self.findings, &self.reports, log_summary.as_ref());
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
            streams: self.reports,
            findings: self.findings,
            log: log_summary,
            findings_dropped: self.dropped,
        }
    }
}

fn num(f: &Finding, key: &str) -> Option<f64> {
    f.data.get(key).and_then(|v| v.as_f64())
}

fn median_f(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied()
}

/// The few sentences a reader needs first: what killed the connections, and where to look.
fn conclusions(
    findings: &[Finding],
    streams: &[StreamReport],
    log: Option<&report::LogSummary>,
) -> Vec<String> {
    let mut out = Vec::new();
    let of = |k: Kind| findings.iter().filter(move |f| f.kind == k);
    let deadline: Vec<&Finding> = of(Kind::ResetAfterHeartbeatDeadline).collect();
    let late_probe: Vec<&&Finding> = deadline
        .iter()
        .filter(|f| f.data.get("cause").and_then(|c| c.as_str()) == Some("late_probe"))
        .collect();
    if !late_probe.is_empty() {
        let ex = late_probe[0];
        let late = median_f(
            late_probe
                .iter()
                .filter_map(|f| num(f, "late_by_s"))
                .collect(),
        );
        let lat = median_f(
            late_probe
                .iter()
                .filter_map(|f| num(f, "reply_latency_ms"))
                .collect(),
        );
        let by_sender = late_probe
            .iter()
            .filter(|f| {
                f.data.get("by").and_then(|b| b.as_str())
                    == streams
                        .iter()
                        .find(|s| Some(s.stream) == f.stream)
                        .and_then(|s| s.heartbeat.as_ref())
                        .map(|h| h.sender)
            })
            .count();
        let sender = streams
            .iter()
            .find(|s| Some(s.stream) == ex.stream)
            .and_then(|s| s.heartbeat.as_ref())
            .map(|h| h.sender)
            .unwrap_or("sender");
        let receiver = if sender == "client" {
            "server"
        } else {
            "client"
        };
        let secs_txt = |k: &str| {
            num(ex, k)
                .map(|v| human((v * 1e9) as i64))
                .unwrap_or_else(|| "?".into())
        };
        let ms_txt = |v: Option<f64>| {
            v.map(|v| human((v * 1e6) as i64))
                .unwrap_or_else(|| "?".into())
        };
        let example = format!(
            "e.g. stream {}: probe sent {} after the previous, expected every {}; reply after {}; {} reset {} later",
            ex.stream.map(|s| s.to_string()).unwrap_or_default(),
            secs_txt("gap_s"),
            secs_txt("expected_period_s"),
            ms_txt(num(ex, "reply_latency_ms")),
            ex.data.get("by").and_then(|b| b.as_str()).unwrap_or("?"),
            ms_txt(num(ex, "reset_after_reply_ms")),
        );
        out.push(if by_sender * 2 >= late_probe.len() {
            format!(
                "{} connection(s) were reset by the {sender} right after one of its own heartbeat probes went out late (typically {} late; {example}). \
                 The {receiver} answered in {} (median), so the network was fine: the {sender}'s scheduler fired late and the {sender} then gave up on its own connection. \
                 Check the {sender}'s timer/scheduler (GC or VM pauses, a blocked event loop, CPU starvation), not the network.",
                late_probe.len(),
                late.map(|l| human((l * 1e9) as i64)).unwrap_or_else(|| "?".into()),
                ms_txt(lat),
            )
        } else {
            format!(
                "{} connection(s) were reset by the {receiver} after the {sender}'s heartbeat probe came late (typically {} late; {example}). \
                 The {receiver} enforced its deadline; the probes were scheduled late: check the {sender}'s scheduler, not the network.",
                late_probe.len(),
                late.map(|l| human((l * 1e9) as i64)).unwrap_or_else(|| "?".into()),
            )
        });
    }
    let other_deadline = deadline.len() - late_probe.len();
    if other_deadline > 0 {
        out.push(format!(
            "{other_deadline} connection(s) were reset after a heartbeat probe that was not answered in time (see reset_after_heartbeat_deadline): look at the answering side and the path."
        ));
    }
    let n = |k: Kind| of(k).count();
    let ka = n(Kind::KeepaliveUnanswered);
    if ka > 0 {
        let dead: Vec<&report::TcpKeepalive> = streams
            .iter()
            .flat_map(|s| s.tcp_keepalive.iter())
            .filter(|k| k.unanswered > 0)
            .collect();
        let med = |f: &dyn Fn(&report::TcpKeepalive) -> Option<f64>| {
            median_f(dead.iter().filter_map(|k| f(k)).collect())
        };
        let settings = match (med(&|k| k.idle_s), med(&|k| k.interval_s), med(&|k| k.worst_case_detection_s)) {
            (Some(i), Some(v), Some(w)) => format!(
                " The probing side waits {} of silence, then probes every {}: a dead peer is noticed only after about {}; lower the keep-alive idle time below the shortest idle timeout of any NAT/firewall on the path if the connections must survive one.",
                human((i * 1e9) as i64),
                human((v * 1e9) as i64),
                human((w * 1e9) as i64)
            ),
            _ => String::new(),
        };
        out.push(format!(
            "{ka} connection(s) had TCP keep-alive probes go unanswered: the peer was gone or a middlebox had dropped the connection (keepalive_unanswered).{settings}"
        ));
    }
    let sl = n(Kind::MiddleboxStateLoss);
    if sl > 0 {
        out.push(format!(
            "{sl} connection(s) show middlebox state loss: after a long idle period the data was never acknowledged (middlebox_state_loss) — keep connections busier than the NAT/firewall idle timeout."
        ));
    }
    let inj = n(Kind::InjectedReset);
    if inj > 0 {
        out.push(format!("{inj} reset(s) carry a TTL their claimed sender never used: forged by a middlebox (injected_reset)."));
    }
    let un = n(Kind::UnansweredHeartbeat);
    if un > 0 {
        out.push(format!(
            "{un} heartbeat probe(s) went unanswered (unanswered_heartbeat)."
        ));
    }
    let rt = n(Kind::RetransmittedHeartbeat);
    if rt > 0 {
        out.push(format!(
            "{rt} heartbeat probe(s) were retransmitted (tshark may show them as [TCP Keep-Alive]; they are retransmitted heartbeats): packet loss on the path delayed those beats."
        ));
    }
    let flag = |f: &Finding, k: &str| f.data.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
    let late_only = of(Kind::LateHeartbeat)
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let missed = of(Kind::MissedHeartbeat)
        .filter(|f| !flag(f, "stopped"))
        .count();
    let stopped = of(Kind::MissedHeartbeat)
        .filter(|f| flag(f, "stopped"))
        .count();
    if late_only + missed > 0 {
        out.push(format!(
            "{late_only} late and {missed} missed heartbeat(s) that the connection survived."
        ));
    }
    if stopped > 0 {
        out.push(format!(
            "{stopped} heartbeat(s) stopped well before their connection ended: the sender stopped beating on a connection it may already consider dead."
        ));
    }
    let slow = n(Kind::SlowHeartbeatReply);
    if slow > 0 {
        out.push(format!(
            "{slow} slow heartbeat repl(ies) (slow_heartbeat_reply)."
        ));
    }
    let half_open = of(Kind::ConnectionReset)
        .filter(|f| flag(f, "half_open"))
        .count();
    if half_open > 0 {
        out.push(format!(
            "{half_open} reset(s) answered a packet on a connection the resetting side had already dropped (half-open connection): look at that side's earlier history."
        ));
    }
    let races = of(Kind::ConnectionReset)
        .filter(|f| flag(f, "close_race"))
        .count();
    if races > 0 {
        out.push(format!(
            "{races} reset(s) were keep-alive close races: one side sent data on a connection the other had already closed (FIN) — the sender should retire idle connections before the peer's idle timeout."
        ));
    }
    let unexplained = of(Kind::ConnectionReset)
        .filter(|f| {
            f.severity == Severity::Warning && !flag(f, "half_open") && !flag(f, "close_race")
        })
        .count();
    if unexplained > 0 {
        out.push(format!("{unexplained} other reset(s) without a heartbeat or keep-alive explanation (connection_reset)."));
    }
    let mut examples = Vec::new();
    // Error lines first: they are what the reader came with.
    let mut log_matches: Vec<&Finding> = of(Kind::LogMatch).collect();
    log_matches.sort_by_key(|m| {
        let t = m
            .data
            .get("log_text")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        !(t.contains("error") || t.contains("fail"))
    });
    for m in log_matches.into_iter().take(3) {
        let text = m
            .data
            .get("log_text")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let kinds: Vec<&str> = m
            .data
            .get("matched_kinds")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|k| k.as_str()).collect())
            .unwrap_or_default();
        // The most telling of the matched events names the line.
        const PHRASES: [(&str, &str); 10] = [
            (
                "reset_after_heartbeat_deadline",
                "the reset after a late or unanswered heartbeat",
            ),
            (
                "keepalive_unanswered",
                "keep-alive giving up on a dead peer",
            ),
            ("middlebox_state_loss", "the connection lost in a middlebox"),
            ("injected_reset", "a forged reset"),
            ("unanswered_heartbeat", "an unanswered heartbeat"),
            ("late_heartbeat", "a late heartbeat"),
            ("slow_heartbeat_reply", "a slow heartbeat reply"),
            ("missed_heartbeat", "missed heartbeats"),
            ("retransmitted_heartbeat", "a retransmitted heartbeat"),
            ("connection_reset", "a reset"),
        ];
        let what = PHRASES
            .iter()
            .find(|(k, _)| kinds.contains(k))
            .map(|(_, p)| *p)
            .unwrap_or("an event");
        let frames: Vec<String> = m.frames.iter().take(6).map(|f| f.to_string()).collect();
        examples.push(format!(
            "log line {} \"{}\" is {what} on stream {} (frames {})",
            m.data.get("line").and_then(|v| v.as_u64()).unwrap_or(0),
            text,
            m.stream.map(|s| s.to_string()).unwrap_or_default(),
            frames.join(", ")
        ));
    }
    if let Some(l) = log {
        if !examples.is_empty() {
            out.push(format!("In the application log: {}.", examples.join("; ")));
        }
        if l.event_lines > 0 {
            out.push(format!(
                "{} of {} error/restart lines of the application log line up with capture events{}.",
                l.matched,
                l.event_lines,
                l.clock_offset_s.map(|o| format!(" (clocks differ by {o:+.2} s)")).unwrap_or_default()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
