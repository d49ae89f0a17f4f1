//! `keepsight-watch`: the diagnosis of `keepsight diagnose`, fed packet by packet as they are
//! captured, speaking as soon as it can.
//!
//! A [`Watch`] takes live packets ([`keepsight_live::LivePacket`]) and runs them through the
//! same engine and analyses a capture file goes through (the packets are written as pcapng
//! blocks into an in-memory stream the engine reads, so nothing is dissected twice or another
//! way). Between packets a clock fires deadlines:
//!
//! - a heartbeat is an absence when it is missing, so a `missed_heartbeat` alert fires when
//!   the deadline passes (the last probe + period + tolerance the diagnosis learned, or
//!   `--period`), not when the next packet arrives;
//! - a stream that closed (reset, FIN) is summarized a short linger later, and every finding
//!   the diagnosis makes of it (reset and its cause, unanswered keep-alive probes, state loss,
//!   injected resets...) becomes an alert then.
//!
//! The clock is the capture's: the last packet's time plus the (monotonic) time elapsed since it
//! arrived. Live, that is the wall clock; a capture replayed from a file runs on its own time,
//! so a deadline that passed between two of its packets fires before the later one.
//!
//! The last `keep` (and at most `keep_bytes`) of packets stay in memory; each alert writes the
//! packets of its streams to a pcapng in the evidence directory, which `keepsight diagnose`
//! reads like any capture. Memory is bounded by the live streams and that ring.
//!
//! What it is not: it captures nothing (`keepsight-live` does), and it has no analysis of its
//! own (`keepsight-diagnose` and `keepsight-http` through `keepsight_report::analyses`).

pub mod exec;
pub mod metrics;
mod ring;

use keepsight_diagnose::{Finding, Listing, Options};
use keepsight_engine::capture::{CaptureError, CaptureReader};
use keepsight_engine::Engine;
use keepsight_live::{pcapng, Interface, LivePacket};
use keepsight_report::analyses::Analyses;
use ring::Ring;
use rustc_hash::{FxHashMap, FxHashSet};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How often (in capture time) the heartbeats of the streams that changed are looked at again.
const EVALUATE_EVERY_NS: i64 = 100_000_000;
/// How often (in capture time) the closed streams are looked for (it walks the live streams):
/// a close is alerted within the linger and this.
const SETTLE_EVERY_NS: i64 = 1_000_000_000;
/// How often (in capture time) the streams of one segment are looked at (it walks their list).
const SINGLES_EVERY_NS: i64 = 10_000_000_000;
/// How long a stream of one segment (a SYN nobody answered) may stay silent before it is
/// summarized: beyond the SYN retransmissions of a default Linux (1+2+4+8+16+32 s).
const SINGLE_IDLE_NS: i64 = 120_000_000_000;

/// How a watch behaves.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// How long packets stay in the evidence ring.
    pub keep_ns: i64,
    /// The most bytes of packets the ring holds.
    pub keep_bytes: usize,
    /// Where each alert's evidence pcapng goes (none without).
    pub evidence: Option<PathBuf>,
    /// How long after a stream closed it is summarized: its last segments (a final ACK, a
    /// retransmitted FIN) belong to it, and its evidence runs that much past the close.
    pub linger_ns: i64,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            keep_ns: 300_000_000_000,
            keep_bytes: 256 << 20,
            evidence: None,
            linger_ns: 2_000_000_000,
        }
    }
}

/// What raised an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A heartbeat deadline passed with no probe.
    Deadline,
    /// The diagnosis of a stream that settled (or of everything, at the end).
    Analysis,
}

impl Trigger {
    /// Its name in the JSON (`trigger`).
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Deadline => "deadline",
            Trigger::Analysis => "analysis",
        }
    }
}

/// One alert: a finding as `diagnose` writes it (its `evidence` names the pcapng written for
/// it), and what raised it.
#[derive(Clone, Debug)]
pub struct Alert {
    /// The finding; frame numbers count from the start of the watch.
    pub finding: Finding,
    /// What raised it.
    pub trigger: Trigger,
}

impl Alert {
    /// One line of text.
    pub fn text(&self) -> String {
        let f = &self.finding;
        let mut line = format!("{} {} {}", f.time, f.severity.as_str(), f.kind().as_str());
        if let Some(s) = f.stream {
            line.push_str(&format!(" stream {s}"));
        }
        if !f.frames.is_empty() {
            let frames: Vec<String> = f.frames.iter().map(u32::to_string).collect();
            line.push_str(&format!(" frames {}", frames.join(",")));
        }
        line.push_str(": ");
        line.push_str(&f.message);
        for e in &f.evidence {
            line.push_str(&format!(" [evidence {e}]"));
        }
        line
    }

    /// One JSON object on one line: the finding's fields as `diagnose --json` writes them,
    /// and `trigger`.
    pub fn json(&self) -> String {
        // The finding's own order of fields (severity, kind, stream... as diagnose writes
        // them), then the trigger.
        let mut line = serde_json::to_string(&self.finding).unwrap_or_else(|_| "{}".into());
        line.pop();
        if line.len() > 1 {
            line.push(',');
        }
        line.push_str(&format!("\"trigger\":\"{}\"}}", self.trigger.as_str()));
        line
    }
}

/// The byte stream the engine reads: the watch appends whole blocks and asks for a frame only
/// after appending a packet block, so a read never finds it empty.
#[derive(Clone, Default)]
struct Feed(Arc<Mutex<VecDeque<u8>>>);

impl Read for Feed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut q = self.0.lock().map_err(|_| std::io::ErrorKind::Other)?;
        q.read(buf)
    }
}

/// A pending alert's evidence: written once its streams showed what came after (their next
/// packet, plus the linger), or when the watch ends.
struct Pending {
    path: PathBuf,
    streams: Vec<u32>,
    /// When to write it (capture clock); `None` until one of its streams shows a packet again.
    at_ns: Option<i64>,
    /// When it was made: written anyway once the ring no longer reaches back that far.
    made_ns: i64,
}

/// Counts for the summary.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Packets fed.
    pub packets: u64,
    /// Alerts by kind.
    pub alerts: BTreeMap<&'static str, u64>,
    /// Streams followed when the summary was made.
    pub live_streams: usize,
    /// Packets and bytes in the evidence ring.
    pub ring_packets: usize,
    /// Bytes in the evidence ring.
    pub ring_bytes: usize,
    /// Evidence files written.
    pub evidence_files: u64,
}

impl Summary {
    /// The summary in words, one fact a line.
    pub fn text(&self) -> String {
        let total: u64 = self.alerts.values().sum();
        let mut out = format!(
            "watch summary: {} packets, {} alerts, {} streams followed, {} evidence files; ring {} packets ({} bytes)\n",
            self.packets, total, self.live_streams, self.evidence_files, self.ring_packets, self.ring_bytes
        );
        for (k, n) in &self.alerts {
            out.push_str(&format!("  {k}: {n}\n"));
        }
        out
    }

    /// The summary as one JSON object.
    pub fn json(&self) -> String {
        serde_json::json!({
            "summary": {
                "packets": self.packets,
                "alerts": self.alerts,
                "live_streams": self.live_streams,
                "ring_packets": self.ring_packets,
                "ring_bytes": self.ring_bytes,
                "evidence_files": self.evidence_files,
            }
        })
        .to_string()
    }
}

/// A live diagnosis: feed it packets and clock ticks, collect its alerts.
pub struct Watch {
    opts: WatchOptions,
    feed: Feed,
    engine: Box<Engine>,
    analyses: Analyses,
    /// The interface blocks written so far (the head of every evidence file).
    head: Vec<u8>,
    /// A source's interface index → the index written.
    interfaces: Vec<Option<u32>>,
    written_interfaces: u32,
    ring: Ring,
    block: Vec<u8>,
    /// Streams fed since their heartbeat was last looked at.
    dirty: FxHashSet<u32>,
    /// Per stream with a heartbeat: the probe whose deadline is armed, and whether it fired.
    armed: FxHashMap<u32, (u32, bool)>,
    deadlines: BinaryHeap<Reverse<(i64, u32, u32)>>,
    evaluated_ns: i64,
    singles_at_ns: i64,
    settled_at_ns: i64,
    /// The capture clock: the latest packet time, and when (monotonic) it was seen.
    clock: Option<(i64, Instant)>,
    pending: Vec<Pending>,
    summary: Summary,
    warnings: Vec<String>,
}

impl Watch {
    /// A watch before its first packet; `diagnosis` configures the analysis as for `diagnose`
    /// (its key log, if any, decrypts TLS streams).
    pub fn new(diagnosis: Options, opts: WatchOptions) -> Result<Self, CaptureError> {
        let feed = Feed::default();
        let mut head = Vec::new();
        pcapng::section_header(&mut head);
        if let Ok(mut q) = feed.0.lock() {
            q.extend(head.iter().copied());
        }
        let reader = CaptureReader::from_read(Box::new(feed.clone()))?;
        let mut engine = Box::new(Engine::from_reader(reader));
        if let Some(keys) = &diagnosis.tls_keys {
            engine.set_tls_keylog(keys.clone());
        }
        Ok(Watch {
            ring: Ring::new(opts.keep_ns, opts.keep_bytes),
            opts,
            feed,
            engine,
            analyses: Analyses::new(diagnosis),
            head,
            interfaces: Vec::new(),
            written_interfaces: 0,
            block: Vec::with_capacity(1 << 16),
            dirty: FxHashSet::default(),
            armed: FxHashMap::default(),
            deadlines: BinaryHeap::new(),
            evaluated_ns: i64::MIN,
            singles_at_ns: i64::MIN,
            settled_at_ns: i64::MIN,
            clock: None,
            pending: Vec::new(),
            summary: Summary::default(),
            warnings: Vec::new(),
        })
    }

    /// A source announced interface `index`.
    pub fn interface(&mut self, index: u32, iface: &Interface) {
        let i = index as usize;
        if self.interfaces.len() <= i {
            self.interfaces.resize(i + 1, None);
        }
        if self.interfaces[i].is_some() {
            return;
        }
        let start = self.head.len();
        pcapng::interface(&mut self.head, iface.link_type, iface.snap_len, &iface.name);
        if let Ok(mut q) = self.feed.0.lock() {
            q.extend(self.head[start..].iter().copied());
        }
        self.interfaces[i] = Some(self.written_interfaces);
        self.written_interfaces += 1;
    }

    /// The capture clock now.
    pub fn now_ns(&self) -> Option<i64> {
        let (ts, at) = self.clock?;
        Some(ts.saturating_add(at.elapsed().as_nanos().min(i64::MAX as u128) as i64))
    }

    /// Feeds one packet; alerts whose deadline passed before it come first.
    pub fn packet(&mut self, p: &LivePacket, alerts: &mut Vec<Alert>) {
        let Some(Some(iface)) = self.interfaces.get(p.interface as usize).copied() else {
            self.warnings.push(format!(
                "packet on interface {} that was never announced",
                p.interface
            ));
            return;
        };
        let ts = p.ts_ns;
        let due = self
            .deadlines
            .peek()
            .is_some_and(|Reverse((d, _, _))| *d < ts);
        if due || ts.saturating_sub(self.evaluated_ns) >= EVALUATE_EVERY_NS {
            self.advance(ts, alerts);
        }
        let latest = self.clock.map_or(ts, |(c, _)| c.max(ts));
        self.clock = Some((latest, Instant::now()));
        self.block.clear();
        pcapng::packet(&mut self.block, iface, ts, p.orig_len, &p.data);
        if let Ok(mut q) = self.feed.0.lock() {
            q.extend(self.block.iter().copied());
        }
        self.summary.packets += 1;
        let stream = match self.engine.next_frame() {
            Ok(Some(frame)) => {
                self.analyses.on_frame(&frame);
                frame.tcp.as_ref().map(|t| t.stream)
            }
            Ok(None) => None,
            Err(e) => {
                self.warnings.push(format!("packet not read back: {e}"));
                None
            }
        };
        if let Some(s) = stream {
            self.dirty.insert(s);
            for p in &mut self.pending {
                if p.at_ns.is_none() && p.streams.contains(&s) {
                    p.at_ns = Some(ts.saturating_add(self.opts.linger_ns));
                }
            }
        }
        self.ring.push(ts, stream, &self.block);
    }

    /// Fires what is due by the clock now (no packet came for a while).
    pub fn tick(&mut self, alerts: &mut Vec<Alert>) {
        if let Some(now) = self.now_ns() {
            self.advance(now, alerts);
        }
    }

    /// Brings every deadline, settled stream and pending evidence up to `now` (capture clock).
    fn advance(&mut self, now: i64, alerts: &mut Vec<Alert>) {
        self.evaluated_ns = now;
        let dirty: Vec<u32> = self.dirty.drain().collect();
        for s in dirty {
            self.arm(s);
        }
        while let Some(&Reverse((deadline, stream, frame))) = self.deadlines.peek() {
            if deadline >= now {
                break;
            }
            self.deadlines.pop();
            // Only the probe still armed counts: a later beat re-armed the stream.
            if self.armed.get(&stream) != Some(&(frame, false)) {
                continue;
            }
            match self.analyses.diagnoser_mut().beat_due(stream) {
                Some(due) if due.beat_frame == frame && due.deadline_ns() < now => {
                    self.armed.insert(stream, (frame, true));
                    self.raise(due.overdue(now), Trigger::Deadline, now, alerts);
                }
                Some(due) if due.beat_frame == frame => {
                    // The period or tolerance learned moved the deadline later.
                    self.deadlines
                        .push(Reverse((due.deadline_ns(), stream, frame)));
                }
                _ => {
                    self.armed.remove(&stream);
                }
            }
        }
        let diagnoser = self.analyses.diagnoser_mut();
        if now.saturating_sub(self.singles_at_ns) >= SINGLES_EVERY_NS {
            self.singles_at_ns = now;
            diagnoser.settle_single(now, SINGLE_IDLE_NS);
        }
        if now.saturating_sub(self.settled_at_ns) >= SETTLE_EVERY_NS {
            self.settled_at_ns = now;
            let settled = diagnoser.settle_closed(now, self.opts.linger_ns);
            for f in settled {
                self.raise(f, Trigger::Analysis, now, alerts);
            }
        }
        self.ring.expire(now);
        let oldest = self.ring.oldest_ns().unwrap_or(now);
        let mut i = 0;
        while i < self.pending.len() {
            let p = &self.pending[i];
            // Written anyway once half the ring's span has passed: the packets from before
            // the silence must still be in it.
            if p.at_ns.is_some_and(|t| t <= now)
                || now.saturating_sub(p.made_ns) >= self.opts.keep_ns / 2
                || p.made_ns < oldest
            {
                let p = self.pending.swap_remove(i);
                self.write_evidence(&p.path, &p.streams);
            } else {
                i += 1;
            }
        }
    }

    /// Looks at stream `s`'s heartbeat again and arms its deadline when the probe changed.
    fn arm(&mut self, s: u32) {
        match self.analyses.diagnoser_mut().beat_due(s) {
            Some(due) => {
                let same = self
                    .armed
                    .get(&s)
                    .is_some_and(|&(frame, _)| frame == due.beat_frame);
                if !same {
                    self.armed.insert(s, (due.beat_frame, false));
                    self.deadlines
                        .push(Reverse((due.deadline_ns(), s, due.beat_frame)));
                }
            }
            None => {
                self.armed.remove(&s);
            }
        }
    }

    /// Names the alert's evidence file, writes it now (or later, for a deadline: what comes
    /// after the silence belongs in it), counts it and hands it out.
    fn raise(&mut self, mut f: Finding, trigger: Trigger, now: i64, alerts: &mut Vec<Alert>) {
        let streams: Vec<u32> = f.streams().collect();
        if let (Some(dir), false) = (&self.opts.evidence, streams.is_empty()) {
            let n: u64 = self.summary.alerts.values().sum::<u64>() + 1;
            let path = dir.join(format!("alert-{n}-{}.pcapng", f.kind().as_str()));
            f.evidence = vec![path.display().to_string()];
            match trigger {
                Trigger::Deadline => self.pending.push(Pending {
                    path,
                    streams,
                    at_ns: None,
                    made_ns: now,
                }),
                Trigger::Analysis => self.write_evidence(&path, &streams),
            }
        }
        *self.summary.alerts.entry(f.kind().as_str()).or_default() += 1;
        alerts.push(Alert {
            finding: f,
            trigger,
        });
    }

    fn write_evidence(&mut self, path: &std::path::Path, streams: &[u32]) {
        let written = (|| {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
            use std::io::Write;
            out.write_all(&self.head)?;
            self.ring.write_streams(streams, &mut out)?;
            out.flush()
        })();
        match written {
            Ok(()) => self.summary.evidence_files += 1,
            Err(e) => self
                .warnings
                .push(format!("evidence {}: {e}", path.display())),
        }
    }

    /// Problems met along the way (an evidence file that could not be written), taken once.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// The counts so far.
    pub fn summary(&mut self) -> Summary {
        let mut s = self.summary.clone();
        s.live_streams = self.analyses.diagnoser_mut().live_streams();
        s.ring_packets = self.ring.len();
        s.ring_bytes = self.ring.bytes();
        s
    }

    /// Ends the watch at its last packet (a stream that ended): what the diagnosis still has
    /// to say of the streams still open (and of the whole, such as the HTTP analysis) as
    /// alerts, every pending evidence file written.
    pub fn finish(self, alerts: &mut Vec<Alert>) -> Summary {
        let end = self.clock.map_or(0, |(ts, _)| ts);
        self.finish_at(end, alerts)
    }

    /// [`Watch::finish`] at the capture clock's now (a live capture stopped a while after
    /// its last packet: a probe unanswered since then is unanswered).
    pub fn finish_now(self, alerts: &mut Vec<Alert>) -> Summary {
        let end = self.now_ns().unwrap_or(0);
        self.finish_at(end, alerts)
    }

    fn finish_at(mut self, now: i64, alerts: &mut Vec<Alert>) -> Summary {
        let mut summary = self.summary();
        let pending = std::mem::take(&mut self.pending);
        for p in &pending {
            self.write_evidence(&p.path, &p.streams);
        }
        let analyses = std::mem::replace(&mut self.analyses, Analyses::new(Options::default()));
        let report = analyses.diagnosis(now, Listing::Every);
        for f in report.findings {
            self.raise(f, Trigger::Analysis, now, alerts);
        }
        summary.alerts = self.summary.alerts.clone();
        summary.evidence_files = self.summary.evidence_files;
        summary
    }
}

#[cfg(test)]
mod tests;
