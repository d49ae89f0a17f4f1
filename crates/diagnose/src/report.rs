//! The diagnosis result: JSON-serializable (schema documented in this crate's README.md) and
//! rendered as a human report ordered by severity.

use crate::finding::{Finding, Kind, Severity};
use serde::Serialize;
use std::net::SocketAddr;

/// A capture time, ns since the epoch, shown (and serialized) as RFC 3339 UTC with
/// microseconds: 8 bytes per time in a report of a million streams, not a 27-byte string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UtcTime(pub i64);

impl UtcTime {
    /// The time as it is shown: truncated to the microsecond (what reading the shown text back
    /// gives), without formatting and parsing it.
    pub fn shown_ns(self) -> i64 {
        self.0 - self.0.rem_euclid(1_000)
    }
}

impl std::fmt::Display for UtcTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::civil::fmt_utc(self.0))
    }
}

impl Serialize for UtcTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The two ends of a stream (serialized as `"address:port"` strings).
#[derive(Debug, Clone, Serialize)]
pub struct Endpoints {
    /// The side that opened the connection.
    pub client: SocketAddr,
    /// The side that accepted it.
    pub server: SocketAddr,
    /// How client and server were told apart: `handshake`, `ports` or `first_packet`.
    pub roles_from: &'static str,
}

/// How a stream ended.
#[derive(Debug, Clone, Serialize)]
pub struct Close {
    /// `fin` or `rst`.
    pub kind: &'static str,
    /// `client`, `server`.
    pub by: &'static str,
    /// Frame of the FIN or RST.
    pub frame: u32,
    /// Its time (UTC, RFC 3339).
    pub time: UtcTime,
    /// Seconds from the last heartbeat probe to the close, when there is a heartbeat.
    pub after_last_beat_s: Option<f64>,
    /// Seconds from the last payload byte (either side) to the close.
    pub after_last_data_s: Option<f64>,
    /// On a TLS stream: how TLS was shut down (absent on other streams).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Box<TlsClose>>,
}

/// How a TLS connection was shut down, read from its records without keys.
#[derive(Debug, Clone, Serialize)]
pub struct TlsClose {
    /// The negotiated version (`TLSv1.3`; `TLS` when no Server Hello was seen).
    pub version: &'static str,
    /// Sides whose last record before their FIN was an alert: close_notify (encrypted, a
    /// fatal alert looks the same on the wire).
    pub close_notify_by: Vec<&'static str>,
    /// Sides that sent their FIN without an alert first (a bare FIN).
    pub bare_fin_by: Vec<&'static str>,
    /// Sides that sent TLS records after the peer's FIN (the peer's socket may answer RST).
    pub after_peer_fin_by: Vec<&'static str>,
    /// Sides whose FIN cut a record they were sending (see `tls_truncation`).
    pub cut_by: Vec<&'static str>,
    /// RFC 6520 heartbeat records (content type 24), both directions.
    pub heartbeat_records: u64,
}

/// A latency distribution, milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Median.
    pub median: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// The application heartbeat found on a stream.
#[derive(Debug, Clone, Serialize)]
pub struct Heartbeat {
    /// `client` or `server`.
    pub sender: &'static str,
    /// Probe payload (hex); for probes longer than 8 bytes, the stable 8-byte prefix.
    pub probe_hex: String,
    /// Probe payload length, bytes.
    pub probe_len: u32,
    /// Reply payload (hex), when the probes are answered.
    pub reply_hex: Option<String>,
    /// Period between probes: inferred, or `--period`.
    pub period_s: f64,
    /// Typical deviation of on-time beats from the period (median absolute deviation).
    pub jitter_s: f64,
    /// Largest deviation still counted as on time.
    pub tolerance_s: f64,
    /// Reply latency, when the probes are answered.
    pub reply_latency_ms: Option<Latency>,
    /// Probes seen.
    pub beats: u64,
    /// Replies seen.
    pub replies: u64,
    /// Whether the period came from `--period` rather than from the traffic.
    pub period_given: bool,
    /// On a TLS stream the probe is a record, matched by its clear header (content type,
    /// version, length) and timing: `application_data` or `heartbeat` (RFC 6520). Absent on
    /// other streams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_record: Option<&'static str>,
}

/// Kernel TCP keep-alive seen on a stream, with the settings inferred from it.
#[derive(Debug, Clone, Serialize)]
pub struct TcpKeepalive {
    /// `client` or `server`: who sent the probes.
    pub sender: &'static str,
    /// Inferred `keepidle`: silence before the first probe.
    pub idle_s: Option<f64>,
    /// Inferred `keepintvl`: spacing of probes that follow one another without new data.
    pub interval_s: Option<f64>,
    /// Probes seen.
    pub probes: u64,
    /// Probes nobody answered.
    pub unanswered: u64,
    /// Inferred `keepcnt`: unanswered probes before the sender gave up (seen only when it did).
    pub count: Option<u32>,
    /// idle + interval * count (Linux default count 9 when not seen).
    pub worst_case_detection_s: Option<f64>,
}

/// One stream's summary. A report keeps one per stream of the capture, so it holds no string
/// and boxes what most streams lack: 184 bytes.
#[derive(Debug, Clone, Serialize)]
pub struct StreamReport {
    /// The `tcp.stream` number.
    pub stream: u32,
    /// Its client and server.
    pub endpoints: Endpoints,
    /// Time of its first frame (UTC, RFC 3339).
    pub start: UtcTime,
    /// Time of its last frame.
    pub end: UtcTime,
    /// Its first frame.
    pub first_frame: u32,
    /// Its last frame.
    pub last_frame: u32,
    /// Frames seen.
    pub packets: u64,
    /// How it ended, if it did within the capture.
    pub close: Option<Box<Close>>,
    /// Longest time without a packet.
    pub max_idle_s: f64,
    /// The frames before and after the longest idle gap.
    pub max_idle_frames: [u32; 2],
    /// The heartbeat, if the stream carried one.
    pub heartbeat: Option<Box<Heartbeat>>,
    /// Kernel keep-alive, per side that sent it.
    pub tcp_keepalive: Vec<TcpKeepalive>,
}

/// What was read.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureInfo {
    /// Time of the first frame (UTC, RFC 3339).
    pub start: Option<String>,
    /// Time of the last frame.
    pub end: Option<String>,
    /// From the first frame to the last.
    pub duration_s: f64,
    /// TCP segments analysed.
    pub segments: u64,
    /// TCP streams seen.
    pub streams: u64,
    /// Segments for streams that had already been closed and summarized (ignored).
    pub late_segments: u64,
}

/// How the application log lined up with the capture.
#[derive(Debug, Clone, Serialize)]
pub struct LogSummary {
    /// The file, as given to `--log` (absent when the log was given as text).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
    /// The format its lines are written in (`logback`, `json`; `json+rfc3164` when mixed, most
    /// lines first).
    pub format: String,
    /// Lines read.
    pub lines: u64,
    /// Lines naming an error, restart, reset, timeout...
    pub event_lines: u64,
    /// Event lines matched to capture events.
    pub matched: u64,
    /// Estimated (capture clock - log clock), seconds, after the given time zone.
    pub clock_offset_s: Option<f64>,
    /// For a log stamped with its zone to the millisecond or finer, the offset is measured
    /// line by line (the median is `clock_offset_s`): the spread of those measurements
    /// (largest - smallest), seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_offset_spread_s: Option<f64>,
    /// Finest time step of the log's stamps, seconds (1 for `HH:MM:SS`).
    pub granularity_s: f64,
    /// Event lines with no capture event around them (the first 20): what the log saw that the
    /// wire does not show here.
    pub unmatched: Vec<UnmatchedLine>,
    /// The log's time zone (`+08:00`), or `None` when searched for and nothing lined up.
    pub zone: Option<String>,
    /// Where `zone` came from: `option` (`--log-tz`), `stamp` (the lines carry their own
    /// offset) or `search` (the zone under which the log lines up with the most events).
    pub zone_from: &'static str,
}

/// An event line of the log nothing in the capture explains.
#[derive(Debug, Clone, Serialize)]
pub struct UnmatchedLine {
    /// Line number, from 1.
    pub line: u32,
    /// The line, as written.
    pub text: String,
}

/// One cause of connection deaths and the side that acted (`causes[]` in the JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cause {
    /// The finding kind that explains the deaths.
    pub cause: Kind,
    /// `client`, `server`, `middlebox`, or null when no side can be named.
    pub by: Option<&'static str>,
    /// Distinct connections (streams) it ended.
    pub connections: usize,
    /// The streams it ended.
    pub streams: Vec<u32>,
    /// Index of its sentence in `summary`.
    pub summary: usize,
}

/// Everything `keepsight diagnose` says about one capture.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Schema version of this JSON; bumped on incompatible changes.
    pub schema: u32,
    /// What was read.
    pub capture: CaptureInfo,
    /// The conclusions, in words, most important first.
    pub summary: Vec<String>,
    /// What ended the connections: one entry per cause and side, each pointing at its sentence
    /// in `summary`.
    pub causes: Vec<Cause>,
    /// Every stream, in `tcp.stream` order.
    pub streams: Vec<StreamReport>,
    /// Every finding, most severe first.
    pub findings: Vec<Finding>,
    /// The first (or only) `--log`.
    pub log: Option<LogSummary>,
    /// Every log, in `--log` order, when more than one was given (each with its own format,
    /// zone and clock offset).
    #[serde(skip_serializing_if = "fewer_than_two")]
    pub logs: Vec<LogSummary>,
    /// Findings not kept because a per-stream or per-kind cap was reached.
    pub findings_dropped: u64,
    /// Every beat of each stream's heartbeat, by stream and time, with its verdict: only with
    /// [`crate::Options::record_beats`] (empty otherwise). Not part of the JSON, whose
    /// `streams[].heartbeat` counts them; a per-beat table lists them.
    #[serde(skip)]
    pub beats: Vec<Beat>,
}

/// Orders `beats` by stream and probe time and marks each with what `findings` say of it:
/// the probe a `late_heartbeat` or `missed_heartbeat` finding ends at (its second frame), the
/// probe a `slow_heartbeat_reply` finding names (its first).
pub(crate) fn judge_beats(beats: &mut [Beat], findings: &[Finding]) {
    use crate::finding::Details;
    beats.sort_unstable_by_key(|b| (b.stream, b.probe_ns, b.probe_frame));
    let find = |beats: &mut [Beat], stream: Option<u32>, frame: Option<&u32>| {
        let (stream, frame) = (stream?, *frame?);
        let at = beats.partition_point(|b| b.stream < stream);
        let i = beats[at..]
            .iter()
            .take_while(|b| b.stream == stream)
            .position(|b| b.probe_frame == frame)?;
        Some(at + i)
    };
    for f in findings {
        match &f.details {
            Details::LateHeartbeat(l) => {
                if let Some(i) = find(beats, f.stream, f.frames.get(1)) {
                    beats[i].late = true;
                    beats[i].late_by_s = Some(l.late_by_s);
                }
            }
            Details::MissedHeartbeat(m) if !m.stopped => {
                if let Some(i) = find(beats, f.stream, f.frames.get(1)) {
                    beats[i].missed_before = m.missed.clamp(0, u32::MAX as i64) as u32;
                }
            }
            Details::SlowHeartbeatReply(_) => {
                if let Some(i) = find(beats, f.stream, f.frames.first()) {
                    beats[i].slow_reply = true;
                }
            }
            _ => {}
        }
    }
}

/// One beat of a stream's heartbeat: the probe, its reply, and what the diagnosis said of it
/// (the flags repeat the stream's `late_heartbeat`, `missed_heartbeat` and
/// `slow_heartbeat_reply` findings at the beat they name).
#[derive(Debug, Clone, PartialEq)]
pub struct Beat {
    /// `tcp.stream`.
    pub stream: u32,
    /// The beat's place in its stream's heartbeat, from 1.
    pub index: u32,
    /// `client` or `server`: who sent the probe.
    pub sender: &'static str,
    /// The probe's frame number.
    pub probe_frame: u32,
    /// The probe's capture time, ns since the epoch.
    pub probe_ns: i64,
    /// The reply's frame number and capture time, when the peer answered this probe.
    pub reply: Option<(u32, i64)>,
    /// Time since the previous probe, ns (`None` for the first beat).
    pub interval_ns: Option<i64>,
    /// The probe came late (a `late_heartbeat` finding ends at it).
    pub late: bool,
    /// How late: the interval minus the period, seconds (as the finding's `late_by_s`).
    pub late_by_s: Option<f64>,
    /// Beats missing just before this probe (a `missed_heartbeat` finding ends at it).
    pub missed_before: u32,
    /// The reply was slow (a `slow_heartbeat_reply` finding names this probe).
    pub slow_reply: bool,
}

fn fewer_than_two(v: &[LogSummary]) -> bool {
    v.len() < 2
}

pub(crate) use keepsight_time::secs_f64 as secs;

/// Rounds for display and JSON stability (µs resolution for seconds).
pub(crate) fn round(v: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (v * p).round() / p
}

/// Human duration: `58.0 s`, `0.37 ms`, `2 h 0 min`.
pub fn human(ns: i64) -> String {
    let a = ns.unsigned_abs();
    let sign = if ns < 0 { "-" } else { "" };
    if a < 1_000 {
        format!("{sign}{a} ns")
    } else if a < 1_000_000 {
        format!("{sign}{:.0} µs", a as f64 / 1e3)
    } else if a < 1_000_000_000 {
        let ms = a as f64 / 1e6;
        if ms < 10.0 {
            format!("{sign}{ms:.2} ms")
        } else {
            format!("{sign}{ms:.0} ms")
        }
    } else if a < 600 * 1_000_000_000 {
        format!("{sign}{:.1} s", a as f64 / 1e9)
    } else if a < 7200 * 1_000_000_000 {
        format!("{sign}{:.1} min", a as f64 / 60e9)
    } else {
        format!("{sign}{:.1} h", a as f64 / 3600e9)
    }
}

impl Report {
    /// The human report: conclusions, then findings by severity (the most frequent kinds are
    /// summarized after a few examples), then the streams that have something to show.
    pub fn render_text(&self, max_per_kind: usize) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let c = &self.capture;
        let _ = writeln!(
            out,
            "keepsight diagnose: {} segments, {} TCP streams, {} ({} .. {})",
            c.segments,
            c.streams,
            human((c.duration_s * 1e9) as i64),
            c.start.as_deref().unwrap_or("-"),
            c.end.as_deref().unwrap_or("-"),
        );
        out.push('\n');
        if self.summary.is_empty() {
            out.push_str("Nothing wrong found: no reset, late beat or dead peer.\n");
        } else {
            out.push_str("What happened\n");
            for s in &self.summary {
                let _ = writeln!(out, "  * {s}");
            }
        }
        if !self.findings.is_empty() {
            out.push_str("\nFindings (most severe first)\n");
            let mut shown: std::collections::HashMap<(Severity, Kind), usize> = Default::default();
            let mut totals: std::collections::HashMap<(Severity, Kind), usize> = Default::default();
            for f in &self.findings {
                *totals.entry((f.severity, f.kind())).or_default() += 1;
            }
            let mut last: Option<(Severity, Kind)> = None;
            for f in &self.findings {
                let key = (f.severity, f.kind());
                if last.is_some_and(|l| l != key) {
                    let l = last.unwrap_or(key);
                    let n = shown.get(&l).copied().unwrap_or(0);
                    let t = totals.get(&l).copied().unwrap_or(0);
                    if t > n {
                        let _ = writeln!(out, "  ... and {} more {} findings", t - n, l.1.as_str());
                    }
                }
                last = Some(key);
                let n = shown.entry(key).or_default();
                if *n >= max_per_kind {
                    continue;
                }
                *n += 1;
                let stream = f.stream.map(|s| format!(" stream {s}")).unwrap_or_default();
                let frames = if f.frames.is_empty() {
                    String::new()
                } else {
                    let list: Vec<String> =
                        f.frames.iter().take(12).map(|x| x.to_string()).collect();
                    format!(" [frames {}]", list.join(", "))
                };
                let _ = writeln!(
                    out,
                    "  {:<8} {}{stream} at {}{frames}\n           {}",
                    f.severity.as_str().to_uppercase(),
                    f.kind().as_str(),
                    f.time,
                    f.message
                );
                if !f.evidence.is_empty() {
                    let _ = writeln!(out, "           evidence: {}", f.evidence.join(", "));
                }
            }
            if let Some(l) = last {
                let n = shown.get(&l).copied().unwrap_or(0);
                let t = totals.get(&l).copied().unwrap_or(0);
                if t > n {
                    let _ = writeln!(out, "  ... and {} more {} findings", t - n, l.1.as_str());
                }
            }
            if self.findings_dropped > 0 {
                let _ = writeln!(
                    out,
                    "  ({} findings not kept: caps reached)",
                    self.findings_dropped
                );
            }
        }
        let hb: Vec<&StreamReport> = self
            .streams
            .iter()
            .filter(|s| s.heartbeat.is_some())
            .collect();
        if !hb.is_empty() {
            out.push_str("\nHeartbeats\n");
            for s in hb.iter().take(max_per_kind.max(1) * 4) {
                if let Some(h) = &s.heartbeat {
                    let lat = h
                        .reply_latency_ms
                        .as_ref()
                        .map(|l| format!(", reply {} ms median / {} ms max", l.median, l.max))
                        .unwrap_or_else(|| ", no reply".to_string());
                    let reply = h
                        .reply_hex
                        .as_deref()
                        .map(|r| format!(" -> {r}"))
                        .unwrap_or_default();
                    let close = s
                        .close
                        .as_ref()
                        .map(|c| {
                            let tls = c.tls.as_ref().map(|t| {
                                let notify = match t.close_notify_by.as_slice() {
                                    [] => "no close_notify".to_string(),
                                    by => format!("close_notify from the {}", by.join(" and the ")),
                                };
                                format!(" after {} ({})", notify, t.version)
                            });
                            format!(
                                ", closed by {} {} (frame {}){}",
                                c.by,
                                c.kind.to_uppercase(),
                                c.frame,
                                tls.unwrap_or_default()
                            )
                        })
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "  stream {}: {} {} -> {}: probe {}{reply} every {} (jitter {}), {} beats{lat}{close}",
                        s.stream,
                        h.sender,
                        if h.sender == "client" { &s.endpoints.client } else { &s.endpoints.server },
                        if h.sender == "client" { &s.endpoints.server } else { &s.endpoints.client },
                        match h.tls_record {
                            Some(kind) => format!("TLS {kind} record {} ({} bytes)", h.probe_hex, h.probe_len),
                            None => h.probe_hex.clone(),
                        },
                        human((h.period_s * 1e9) as i64),
                        human((h.jitter_s * 1e9) as i64),
                        h.beats
                    );
                }
            }
            if hb.len() > max_per_kind.max(1) * 4 {
                let _ = writeln!(
                    out,
                    "  ... and {} more streams with a heartbeat",
                    hb.len() - max_per_kind.max(1) * 4
                );
            }
        }
        let ka: Vec<(&StreamReport, &TcpKeepalive)> = self
            .streams
            .iter()
            .flat_map(|s| s.tcp_keepalive.iter().map(move |k| (s, k)))
            .collect();
        if !ka.is_empty() {
            out.push_str("\nTCP keep-alive\n");
            for (s, k) in ka.iter().take(max_per_kind.max(1) * 4) {
                let f = |v: Option<f64>| v.map(|x| format!("{x} s")).unwrap_or_else(|| "?".into());
                let _ = writeln!(
                    out,
                    "  stream {}: {} probes after {} idle, every {}; {} probes, {} unanswered{}",
                    s.stream,
                    k.sender,
                    f(k.idle_s),
                    f(k.interval_s),
                    k.probes,
                    k.unanswered,
                    k.worst_case_detection_s
                        .map(|w| format!(
                            "; a dead peer is noticed after at most {}",
                            human((w * 1e9) as i64)
                        ))
                        .unwrap_or_default()
                );
            }
            if ka.len() > max_per_kind.max(1) * 4 {
                let _ = writeln!(
                    out,
                    "  ... and {} more streams with keep-alive probes",
                    ka.len() - max_per_kind.max(1) * 4
                );
            }
        }
        let logs: Vec<&LogSummary> = if self.logs.len() > 1 {
            self.logs.iter().collect()
        } else {
            self.log.iter().collect()
        };
        for l in logs {
            let _ = writeln!(
                out,
                "\nApplication log{}: {} lines ({}), {} name an error or restart, {} matched to the capture{}{}",
                if self.logs.len() > 1 {
                    format!(" {}", l.file)
                } else {
                    String::new()
                },
                l.lines,
                l.reading(),
                l.event_lines,
                l.matched,
                l.clock_offset_s
                    .map(|o| format!(
                        " (capture clock - log clock ≈ {o:+.2} s{}, log granularity {} s)",
                        l.clock_offset_spread_s
                            .map(|s| format!(", spread {} over the lines", human((s * 1e9) as i64)))
                            .unwrap_or_default(),
                        l.granularity_s
                    ))
                    .unwrap_or_default(),
                l.clock_words().map(|w| format!("; {w}")).unwrap_or_default()
            );
            for u in &l.unmatched {
                let _ = writeln!(
                    out,
                    "  no capture event around log line {}: {}",
                    u.line, u.text
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(370_000), "370 µs");
        assert_eq!(human(2_500_000), "2.50 ms");
        assert_eq!(human(58_000_000_000), "58.0 s");
        assert_eq!(human(7_200_000_000_000), "2.0 h");
        assert_eq!(human(-1_500_000_000), "-1.5 s");
    }
}
