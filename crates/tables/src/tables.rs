//! The tables: their columns, and how a report (or a segment) fills a row.

use crate::column::{opt, req, Row, Spec, Table, Type};
use crate::model::{Capture, Error, Isns, Written};
use keepsight_diagnose::finding::Details;
use keepsight_diagnose::report::{Beat, StreamReport};
use keepsight_diagnose::{Finding, Report};
use parquet::data_type::ByteArray;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The columns every table starts with: where the row comes from and which connection it is
/// about (the 5-tuple's protocol is always `tcp`; the ISNs join one connection seen by two
/// captures, where addresses may have been rewritten on the path).
macro_rules! key_columns {
    ($($rest:expr),* $(,)?) => {
        &[
            req("capture_id", Type::Str),
            req("file", Type::Str),
            opt("stream", Type::I32),
            opt("client_ip", Type::Str),
            opt("client_port", Type::I32),
            opt("server_ip", Type::Str),
            opt("server_port", Type::I32),
            req("transport", Type::Str),
            opt("client_isn", Type::I64),
            opt("server_isn", Type::I64),
            $($rest),*
        ]
    };
}

const STREAMS: &[Spec] = key_columns![
    req("start", Type::Timestamp),
    req("end", Type::Timestamp),
    req("first_frame", Type::I32),
    req("last_frame", Type::I32),
    req("packets", Type::I64),
    req("roles_from", Type::Str),
    opt("close_kind", Type::Str),
    opt("close_by", Type::Str),
    opt("close_frame", Type::I32),
    opt("close_time", Type::Timestamp),
    opt("after_last_beat_s", Type::F64),
    opt("after_last_data_s", Type::F64),
    req("max_idle_s", Type::F64),
    opt("heartbeat_sender", Type::Str),
    opt("heartbeat_probe_hex", Type::Str),
    opt("heartbeat_reply_hex", Type::Str),
    opt("heartbeat_period_s", Type::F64),
    opt("heartbeat_jitter_s", Type::F64),
    opt("heartbeat_tolerance_s", Type::F64),
    opt("heartbeat_beats", Type::I64),
    opt("heartbeat_replies", Type::I64),
    opt("reply_latency_median_s", Type::F64),
    opt("reply_latency_p99_s", Type::F64),
    opt("reply_latency_max_s", Type::F64),
    opt("keepalive_sender", Type::Str),
    opt("keepalive_idle_s", Type::F64),
    opt("keepalive_interval_s", Type::F64),
    opt("keepalive_count", Type::I32),
];

const FINDINGS: &[Spec] = key_columns![
    req("rank", Type::I32),
    req("severity", Type::Str),
    req("kind", Type::Str),
    req("time", Type::Timestamp),
    req("frames", Type::I32List),
    req("message", Type::Str),
    opt("by", Type::Str),
    req("details", Type::Str),
];

const HEARTBEATS: &[Spec] = key_columns![
    req("beat", Type::I32),
    req("sender", Type::Str),
    req("probe_frame", Type::I32),
    req("probe_time", Type::Timestamp),
    opt("reply_frame", Type::I32),
    opt("reply_time", Type::Timestamp),
    opt("latency_s", Type::F64),
    opt("interval_s", Type::F64),
    req("late", Type::Bool),
    opt("late_by_s", Type::F64),
    req("missed_before", Type::I32),
    req("slow_reply", Type::Bool),
];

const LOG_MATCHES: &[Spec] = key_columns![
    req("rank", Type::I32),
    opt("log_file", Type::Str),
    req("line", Type::I32),
    req("log_text", Type::Str),
    req("time", Type::Timestamp),
    req("frames", Type::I32List),
    req("matched_kinds", Type::StrList),
    req("at_deadline", Type::Bool),
    req("clock_offset_s", Type::F64),
    opt("delay_s", Type::F64),
];

const SEGMENTS: &[Spec] = key_columns![
    req("frame", Type::I32),
    req("time", Type::Timestamp),
    req("src_ip", Type::Str),
    req("src_port", Type::I32),
    req("dst_ip", Type::Str),
    req("dst_port", Type::I32),
    req("flags", Type::I32),
    req("seq", Type::I64),
    req("ack", Type::I64),
    req("raw_seq", Type::I64),
    req("raw_ack", Type::I64),
    req("len", Type::I32),
    req("window", Type::I64),
    req("ttl", Type::I32),
    req("analysis", Type::I64),
];

/// A table file under its hidden name until [`Pending::publish`] renames it into place.
struct Pending {
    table: &'static str,
    tmp: PathBuf,
    path: PathBuf,
    t: Table,
}

impl Pending {
    fn create(
        dir: &Path,
        capture: &Capture,
        table: &'static str,
        date: &str,
        specs: &'static [Spec],
    ) -> Result<Self, Error> {
        let part = capture.partition(dir, table, date);
        std::fs::create_dir_all(&part).map_err(|e| Error::io(&part, e))?;
        let path = part.join(format!("{}.parquet", capture.id));
        // A reader globbing `*.parquet` never sees the hidden name.
        let tmp = part.join(format!(".{}.parquet.tmp", capture.id));
        let t = Table::create(&tmp, table, specs)?;
        Ok(Pending {
            table,
            tmp,
            path,
            t,
        })
    }

    fn publish(self) -> Result<Written, Error> {
        let rows = self.t.finish()?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        Ok(Written {
            table: self.table,
            path: self.path,
            rows,
        })
    }
}

/// The key columns' values, made once: a capture's (every row) and a stream's (its rows).
pub(crate) struct Keys {
    capture_id: ByteArray,
    file: ByteArray,
    tcp: ByteArray,
    /// The last stream asked for, whose rows come together (beats, segments).
    last: Option<(u32, StreamKey)>,
}

/// A stream's key: its 5-tuple (client, server) and ISNs.
#[derive(Clone)]
struct StreamKey {
    ends: Option<(ByteArray, u16, ByteArray, u16)>,
    isns: (Option<u32>, Option<u32>),
}

impl Keys {
    fn new(capture: &Capture) -> Self {
        Keys {
            capture_id: ByteArray::from(capture.id.as_str()),
            file: ByteArray::from(capture.file.as_str()),
            tcp: ByteArray::from("tcp"),
            last: None,
        }
    }

    /// The key columns of a row about `stream` between `ends` (client, server).
    fn row<'t>(
        &mut self,
        row: Row<'t>,
        stream: Option<u32>,
        ends: Option<(SocketAddr, SocketAddr)>,
        isns: Isns<'_>,
    ) -> Row<'t> {
        let row = row.shared(Some(&self.capture_id)).shared(Some(&self.file));
        let Some(id) = stream else {
            return row
                .u32(None)
                .str(None)
                .u32(None)
                .str(None)
                .u32(None)
                .shared(Some(&self.tcp))
                .i64(None)
                .i64(None);
        };
        if self.last.as_ref().is_none_or(|(s, _)| *s != id) {
            let key = StreamKey {
                ends: ends.map(|(c, s)| {
                    (
                        ByteArray::from(c.ip().to_string().as_str()),
                        c.port(),
                        ByteArray::from(s.ip().to_string().as_str()),
                        s.port(),
                    )
                }),
                isns: isns(id),
            };
            self.last = Some((id, key));
        }
        let Some((_, k)) = &self.last else {
            return row;
        };
        let e = k.ends.as_ref();
        row.u32(Some(id))
            .shared(e.map(|e| &e.0))
            .u32(e.map(|e| u32::from(e.1)))
            .shared(e.map(|e| &e.2))
            .u32(e.map(|e| u32::from(e.3)))
            .shared(Some(&self.tcp))
            .i64(k.isns.0.map(i64::from))
            .i64(k.isns.1.map(i64::from))
    }

    /// Forgets the last stream (its ends or ISNs may have changed since: segments).
    fn forget(&mut self) {
        self.last = None;
    }
}

/// The report's stream `id`, when listed (the reports are in stream order).
fn stream_of(report: &Report, id: u32) -> Option<&StreamReport> {
    let i = report
        .streams
        .binary_search_by_key(&id, |r| r.stream)
        .ok()?;
    Some(&report.streams[i])
}

fn ends_of(report: &Report, id: Option<u32>) -> Option<(SocketAddr, SocketAddr)> {
    let r = stream_of(report, id?)?;
    Some((r.endpoints.client, r.endpoints.server))
}

pub(crate) fn write_report(
    dir: &Path,
    capture: &Capture,
    report: &Report,
    isns: Isns<'_>,
) -> Result<Vec<Written>, Error> {
    let date = report
        .capture
        .start
        .as_deref()
        .and_then(|s| s.get(..10))
        .unwrap_or("1970-01-01");
    let mut written = Vec::new();
    let mut keys = Keys::new(capture);

    let mut t = Pending::create(dir, capture, "streams", date, STREAMS)?;
    for r in &report.streams {
        stream_row(&mut t.t, &mut keys, r, isns)?;
    }
    written.push(t.publish()?);

    let mut t = Pending::create(dir, capture, "findings", date, FINDINGS)?;
    for (rank, f) in report.findings.iter().enumerate() {
        finding_row(&mut t.t, &mut keys, report, rank, f, isns)?;
    }
    written.push(t.publish()?);

    let mut t = Pending::create(dir, capture, "heartbeats", date, HEARTBEATS)?;
    for b in &report.beats {
        beat_row(&mut t.t, &mut keys, report, b, isns)?;
    }
    written.push(t.publish()?);

    if report.log.is_some() {
        let mut t = Pending::create(dir, capture, "log_matches", date, LOG_MATCHES)?;
        for (rank, f) in report.findings.iter().enumerate() {
            if let Details::LogMatch(m) = &f.details {
                let file = m
                    .log_file
                    .as_deref()
                    .or(report.log.as_ref().map(|l| l.file.as_str()));
                let kinds: Vec<&str> = m.matched_kinds.iter().map(|k| k.as_str()).collect();
                // One row per stream the line matched, so it joins that stream's rows.
                let streams: Vec<Option<u32>> = if m.streams.is_empty() {
                    vec![None]
                } else {
                    m.streams.iter().copied().map(Some).collect()
                };
                for s in streams {
                    keys.row(t.t.row(), s, ends_of(report, s), isns)
                        .u32(Some(rank as u32))
                        .str(file)
                        .u32(Some(m.line))
                        .str(Some(&m.log_text))
                        .time(Some(f.ts_ns))
                        .u32_list(&f.frames)
                        .str_list(&kinds)
                        .bool(Some(m.at_deadline))
                        .f64(Some(m.clock_offset_s))
                        .f64(m.delay_ms.map(|ms| ms / 1e3))
                        .end()?;
                }
            }
        }
        written.push(t.publish()?);
    }
    Ok(written)
}

fn stream_row(
    t: &mut Table,
    keys: &mut Keys,
    r: &StreamReport,
    isns: Isns<'_>,
) -> Result<(), Error> {
    let close = r.close.as_deref();
    let hb = r.heartbeat.as_deref();
    let lat = hb.and_then(|h| h.reply_latency_ms.as_ref());
    let ka = r.tcp_keepalive.first();
    keys.row(
        t.row(),
        Some(r.stream),
        Some((r.endpoints.client, r.endpoints.server)),
        isns,
    )
    .time(Some(r.start.0))
    .time(Some(r.end.0))
    .u32(Some(r.first_frame))
    .u32(Some(r.last_frame))
    .i64(i64::try_from(r.packets).ok())
    .str(Some(r.endpoints.roles_from))
    .str(close.map(|c| c.kind))
    .str(close.map(|c| c.by))
    .u32(close.map(|c| c.frame))
    .time(close.map(|c| c.time.0))
    .f64(close.and_then(|c| c.after_last_beat_s))
    .f64(close.and_then(|c| c.after_last_data_s))
    .f64(Some(r.max_idle_s))
    .str(hb.map(|h| h.sender))
    .str(hb.map(|h| h.probe_hex.as_str()))
    .str(hb.and_then(|h| h.reply_hex.as_deref()))
    .f64(hb.map(|h| h.period_s))
    .f64(hb.map(|h| h.jitter_s))
    .f64(hb.map(|h| h.tolerance_s))
    .i64(hb.and_then(|h| i64::try_from(h.beats).ok()))
    .i64(hb.and_then(|h| i64::try_from(h.replies).ok()))
    .f64(lat.map(|l| l.median / 1e3))
    .f64(lat.map(|l| l.p99 / 1e3))
    .f64(lat.map(|l| l.max / 1e3))
    .str(ka.map(|k| k.sender))
    .f64(ka.and_then(|k| k.idle_s))
    .f64(ka.and_then(|k| k.interval_s))
    .u32(ka.and_then(|k| k.count))
    .end()
}

/// A finding's own fields (those after the fixed ones in the JSON), as a JSON object: the
/// kinds differ, so they stay one text column that `json_extract` and friends read.
fn details_json(f: &Finding) -> (String, Option<String>) {
    let v = serde_json::to_value(&f.details).unwrap_or_default();
    let by = v.get("by").and_then(|b| b.as_str()).map(str::to_string);
    (v.to_string(), by)
}

fn finding_row(
    t: &mut Table,
    keys: &mut Keys,
    report: &Report,
    rank: usize,
    f: &Finding,
    isns: Isns<'_>,
) -> Result<(), Error> {
    let (details, by) = details_json(f);
    keys.row(t.row(), f.stream, ends_of(report, f.stream), isns)
        .u32(Some(rank as u32))
        .str(Some(f.severity.as_str()))
        .str(Some(f.kind().as_str()))
        .time(Some(f.ts_ns))
        .u32_list(&f.frames)
        .str(Some(&f.message))
        .str(by.as_deref())
        .str(Some(&details))
        .end()
}

fn beat_row(
    t: &mut Table,
    keys: &mut Keys,
    report: &Report,
    b: &Beat,
    isns: Isns<'_>,
) -> Result<(), Error> {
    let secs = |ns: i64| ns as f64 / 1e9;
    keys.row(
        t.row(),
        Some(b.stream),
        ends_of(report, Some(b.stream)),
        isns,
    )
    .u32(Some(b.index))
    .str(Some(b.sender))
    .u32(Some(b.probe_frame))
    .time(Some(b.probe_ns))
    .u32(b.reply.map(|r| r.0))
    .time(b.reply.map(|r| r.1))
    .f64(b.reply.map(|r| secs(r.1 - b.probe_ns)))
    .f64(b.interval_ns.map(secs))
    .bool(Some(b.late))
    .f64(b.late_by_s)
    .u32(Some(b.missed_before))
    .bool(Some(b.slow_reply))
    .end()
}

/// What a stream's SYN and SYN-ACK said.
#[derive(Debug, Clone, Copy, Default)]
struct Handshake {
    client_isn: Option<u32>,
    server_isn: Option<u32>,
    /// (client, server).
    ends: Option<(SocketAddr, SocketAddr)>,
}

/// The `segments` table of one capture, written while it is read: one row per TCP segment,
/// in frame order, a row group at a time. The partition (the first segment's date) is known
/// only after the first segment, so the file is created then, and renamed into place by
/// [`Segments::finish`].
pub struct Segments {
    dir: PathBuf,
    capture: Capture,
    keys: Keys,
    open: Option<Pending>,
    /// Each stream's ISNs and (client, server) as its SYNs tell them so far (a SYN comes
    /// before the rest of its stream).
    streams: std::collections::HashMap<u32, Handshake>,
}

impl Segments {
    /// A writer for `capture`'s segments under `dir`.
    pub fn new(dir: &Path, capture: Capture) -> Self {
        Segments {
            dir: dir.to_path_buf(),
            keys: Keys::new(&capture),
            capture,
            open: None,
            streams: Default::default(),
        }
    }

    /// Adds one segment; `raw_seq` and `raw_ack` are its sequence and acknowledgement numbers
    /// as on the wire (the segment's own are relative).
    pub fn push(
        &mut self,
        seg: &keepsight_tcp::Segment<'_>,
        raw_seq: u32,
        raw_ack: u32,
    ) -> Result<(), Error> {
        if self.open.is_none() {
            let date = crate::model::date_of(seg.ts_ns);
            self.open = Some(Pending::create(
                &self.dir,
                &self.capture,
                "segments",
                &date,
                SEGMENTS,
            )?);
        }
        let Some(p) = self.open.as_mut() else {
            return Ok(());
        };
        let h = if seg.flags.syn() {
            self.keys.forget();
            let h = self.streams.entry(seg.stream).or_default();
            if seg.flags.ack() {
                h.server_isn.get_or_insert(raw_seq);
                h.ends.get_or_insert((seg.dst, seg.src));
            } else {
                h.client_isn.get_or_insert(raw_seq);
                h.ends.get_or_insert((seg.src, seg.dst));
            }
            *h
        } else {
            self.streams.get(&seg.stream).copied().unwrap_or_default()
        };
        let isns = |_| (h.client_isn, h.server_isn);
        self.keys
            .row(p.t.row(), Some(seg.stream), h.ends, &isns)
            .u32(Some(seg.frame))
            .time(Some(seg.ts_ns))
            .str(Some(&seg.src.ip().to_string()))
            .u32(Some(u32::from(seg.src.port())))
            .str(Some(&seg.dst.ip().to_string()))
            .u32(Some(u32::from(seg.dst.port())))
            .u32(Some(u32::from(seg.flags.0)))
            .i64(Some(i64::from(seg.seq)))
            .i64(Some(i64::from(seg.ack)))
            .i64(Some(i64::from(raw_seq)))
            .i64(Some(i64::from(raw_ack)))
            .u32(Some(seg.len))
            .i64(Some(i64::from(seg.window)))
            .u32(Some(u32::from(seg.ttl)))
            .i64(Some(i64::from(seg.analysis.0)))
            .end()
    }

    /// Writes the rest and moves the file into its partition (none for a capture without TCP).
    pub fn finish(self) -> Result<Option<Written>, Error> {
        self.open.map(Pending::publish).transpose()
    }
}
