//! `-z conv,tcp`: one row per `tcp.stream`, with tshark 4.0.17's numbers and layout, plus the
//! columns tshark lacks (how the conversation ended, longest idle gap, heartbeat period).
//!
//! tshark's rules, checked against 4.0.17 on the corpus:
//! - endpoint A is the source of the conversation's first frame; `->` counts A→B, `<-` B→A;
//! - bytes are frame lengths on the wire (`frame.len`), printed with SI prefixes that switch
//!   only at ten units (`6567 bytes`, `14 kB`), the value truncated;
//! - rows are sorted by total frames, largest first; rows with equal totals keep the order of
//!   the conversations' first frames (see `render_text`);
//! - start is relative to the capture's first frame, duration = last − first frame time.

use keepsight_engine::Frame;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

/// How a conversation ended, as far as the capture shows.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// A RST; `by_a` tells which side sent the first one.
    Rst,
    /// FINs without RST.
    Fin,
    /// Still open at the end of the capture (or closed before it started).
    Open,
}

/// One conversation (one `tcp.stream`).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub stream: u32,
    pub a: SocketAddr,
    pub b: SocketAddr,
    /// Frames and bytes B→A (tshark's `<-`).
    pub frames_ba: u64,
    pub bytes_ba: u64,
    /// Frames and bytes A→B (tshark's `->`).
    pub frames_ab: u64,
    pub bytes_ab: u64,
    /// First and last frame time, ns since the epoch (min / max, so an unordered file still
    /// gives a non-negative duration, as in tshark).
    pub first_ns: i64,
    pub last_ns: i64,
    /// Relative start, ns since the capture's first frame.
    pub rel_start_ns: i64,
    pub ending: Ending,
    /// Which endpoint closed first: `"A"` or `"B"`; absent while open.
    pub closed_by: Option<&'static str>,
    /// Frame of the first RST (or first FIN when there is no RST).
    pub close_frame: Option<u32>,
    /// Longest silence between two consecutive frames of this conversation, in ns.
    pub max_idle_ns: i64,
    /// The frame that ended the longest silence.
    pub max_idle_frame: Option<u32>,
    /// Heartbeat period in seconds, as `keepsight diagnose` measured it.
    pub heartbeat_period_s: Option<f64>,
    #[serde(skip)]
    prev_ns: Option<i64>,
    #[serde(skip)]
    first_fin_by_a: Option<(bool, u32)>,
    #[serde(skip)]
    first_rst_by_a: Option<(bool, u32)>,
}

impl Row {
    pub fn frames(&self) -> u64 {
        self.frames_ab + self.frames_ba
    }
    pub fn bytes(&self) -> u64 {
        self.bytes_ab + self.bytes_ba
    }
    pub fn duration_ns(&self) -> i64 {
        self.last_ns - self.first_ns
    }
}

/// Accumulates the conversation table while frames stream by.
#[derive(Default)]
pub struct Conversations {
    rows: Vec<Row>,
    /// `tcp.stream` → index in `rows`; streams are numbered densely from 0, but a filter or a
    /// damaged file may skip some, so a map keeps this honest.
    index: HashMap<u32, usize>,
    first_ns: Option<i64>,
}

const RST: u16 = 0x04;
const FIN: u16 = 0x01;

impl Conversations {
    pub fn new() -> Self {
        Self::default()
    }

    /// A frame not counted (filtered out): it still sets the time origin, as in tshark.
    pub fn on_origin(&mut self, frame: &Frame<'_>) {
        self.first_ns.get_or_insert(frame.ts_ns);
    }

    /// Feed every frame of the capture, in file order (non-TCP frames only set the time origin).
    pub fn on_frame(&mut self, frame: &Frame<'_>) {
        let first = *self.first_ns.get_or_insert(frame.ts_ns);
        let Some(tcp) = frame.tcp.as_ref() else {
            return;
        };
        let Some((src, dst)) = frame.endpoints() else {
            return;
        };
        let flags = frame
            .dissection
            .tcp(frame.data())
            .map(|h| h.flags().0)
            .unwrap_or(0);
        let ts = frame.ts_ns;
        let idx = *self.index.entry(tcp.stream).or_insert_with(|| {
            self.rows.push(Row {
                stream: tcp.stream,
                a: src,
                b: dst,
                frames_ba: 0,
                bytes_ba: 0,
                frames_ab: 0,
                bytes_ab: 0,
                first_ns: ts,
                last_ns: ts,
                rel_start_ns: ts - first,
                ending: Ending::Open,
                closed_by: None,
                close_frame: None,
                max_idle_ns: 0,
                max_idle_frame: None,
                heartbeat_period_s: None,
                prev_ns: None,
                first_fin_by_a: None,
                first_rst_by_a: None,
            });
            self.rows.len() - 1
        });
        let row = &mut self.rows[idx];
        let len = u64::from(frame.record.orig_len);
        let from_a = src == row.a && dst == row.b;
        if from_a {
            row.frames_ab += 1;
            row.bytes_ab += len;
        } else {
            row.frames_ba += 1;
            row.bytes_ba += len;
        }
        if ts < row.first_ns {
            row.first_ns = ts;
            row.rel_start_ns = ts - first;
        }
        row.last_ns = row.last_ns.max(ts);
        if let Some(prev) = row.prev_ns {
            let gap = ts - prev;
            if gap > row.max_idle_ns {
                row.max_idle_ns = gap;
                row.max_idle_frame = Some(frame.number);
            }
        }
        row.prev_ns = Some(ts);
        if flags & RST != 0 && row.first_rst_by_a.is_none() {
            row.first_rst_by_a = Some((from_a, frame.number));
        }
        if flags & FIN != 0 && row.first_fin_by_a.is_none() {
            row.first_fin_by_a = Some((from_a, frame.number));
        }
    }

    /// Attach heartbeat periods measured by `keepsight diagnose` (stream → seconds).
    pub fn set_heartbeats(&mut self, periods: impl IntoIterator<Item = (u32, f64)>) {
        for (stream, period) in periods {
            if let Some(&i) = self.index.get(&stream) {
                self.rows[i].heartbeat_period_s = Some(period);
            }
        }
    }

    /// The rows in tshark's order: total frames, largest first; ties in first-seen order.
    pub fn finish(mut self) -> Vec<Row> {
        for row in &mut self.rows {
            // A RST ends a connection whatever FINs came before it; the FIN exchange is only
            // the ending when no RST followed.
            let (ending, who) = match (row.first_rst_by_a, row.first_fin_by_a) {
                (Some(r), _) => (Ending::Rst, Some(r)),
                (None, Some(f)) => (Ending::Fin, Some(f)),
                (None, None) => (Ending::Open, None),
            };
            row.ending = ending;
            row.closed_by = who.map(|(a, _)| if a { "A" } else { "B" });
            row.close_frame = who.map(|(_, f)| f);
        }
        // A stable sort keeps first-seen order among equal totals.
        self.rows.sort_by_key(|r| std::cmp::Reverse(r.frames()));
        self.rows
    }
}

/// tshark 4.0.17's `format_size(..., SI)`: the unit goes up only once the value reaches ten of
/// it, and the value is truncated.
pub fn si_bytes(n: u64) -> String {
    const P: u64 = 1000;
    let units = [
        (P * P * P * P, "TB"),
        (P * P * P, "GB"),
        (P * P, "MB"),
        (P, "kB"),
    ];
    for (div, unit) in units {
        if n / div >= 10 {
            return format!("{} {unit}", n / div);
        }
    }
    format!("{n} bytes")
}

fn endpoint(a: &SocketAddr) -> String {
    // tshark prints `addr:port` without IPv6 brackets.
    format!("{}:{}", a.ip(), a.port())
}

fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

/// tshark's `nstime_to_sec`: whole seconds and nanoseconds converted separately (both
/// truncated toward zero, as its `nstime_delta` leaves them). The duration column is the
/// difference of two such values, not the exact difference: on a 6431 s offset the last
/// digit of a `%.4f` duration depends on it (seen on a 1M-frame capture).
fn nstime_to_sec(ns: i64) -> f64 {
    (ns / 1_000_000_000) as f64 + (ns % 1_000_000_000) as f64 / 1e9
}

/// The duration as tshark computes it from the relative start and stop times.
fn tshark_duration(r: &Row) -> f64 {
    let rel_last = r.last_ns - (r.first_ns - r.rel_start_ns);
    nstime_to_sec(rel_last) - nstime_to_sec(r.rel_start_ns)
}

/// Start time as tshark's `-t ad` prints it in this table: local date and time to the second.
/// Falls back to UTC when the local offset cannot be known (the `time` crate refuses to read
/// it once the process has several threads).
pub fn local_date(ts_ns: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_ns)) else {
        return "-".into();
    };
    let t = time::UtcOffset::local_offset_at(t)
        .map(|o| t.to_offset(o))
        .unwrap_or(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// How the start column is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartColumn {
    /// Seconds since the capture's first frame (tshark's default).
    Relative,
    /// Local date and time (tshark's `-t ad`).
    AbsoluteDate,
}

/// The table as `tshark -q -z conv,tcp` prints it; with `extra`, keepsight's columns follow
/// tshark's on each row (tshark's columns keep their exact positions).
pub fn render_text(rows: &[Row], filter: Option<&str>, extra: bool, start: StartColumn) -> String {
    let abs = start == StartColumn::AbsoluteDate;
    let rule = "=".repeat(80);
    let mut s = String::new();
    let _ = writeln!(s, "{rule}");
    let _ = writeln!(s, "TCP Conversations");
    let _ = writeln!(s, "Filter:{}", filter.unwrap_or("<No Filter>"));
    let pad = " ".repeat(59);
    let _ = if abs {
        // tshark 4.0.17 also says "Size" instead of "Bytes" in this variant.
        write!(
            s,
            "{pad}|       <-      | |       ->      | |     Total     | Absolute Date  |   Duration   |"
        )
    } else {
        write!(
            s,
            "{pad}|       <-      | |       ->      | |     Total     |    Relative    |   Duration   |"
        )
    };
    if extra {
        s.push_str(" Ended      | Longest idle | Heartbeat");
    }
    s.push('\n');
    let _ = if abs {
        write!(
            s,
            "{pad}| Frames  Size  | | Frames  Size  | | Frames  Size  |     Start      |              |"
        )
    } else {
        write!(
            s,
            "{pad}| Frames  Bytes | | Frames  Bytes | | Frames  Bytes |      Start     |              |"
        )
    };
    if extra {
        s.push_str(" by         |          (s) | period (s)");
    }
    s.push('\n');
    for r in rows {
        let _ = write!(
            s,
            "{:<26} <-> {:<26}  {:6} {:<9}  {:6} {:<9}  {:6} {:<9}  {:>14}   {:12.4}",
            endpoint(&r.a),
            endpoint(&r.b),
            r.frames_ba,
            si_bytes(r.bytes_ba),
            r.frames_ab,
            si_bytes(r.bytes_ab),
            r.frames(),
            si_bytes(r.bytes()),
            if abs {
                local_date(r.first_ns)
            } else {
                format!("{:.9}", nstime_to_sec(r.rel_start_ns))
            },
            tshark_duration(r),
        );
        if extra {
            let ended = match (r.ending, r.closed_by) {
                (Ending::Open, _) | (_, None) => "open".to_string(),
                (Ending::Rst, Some(by)) => format!("RST by {by}"),
                (Ending::Fin, Some(by)) => format!("FIN by {by}"),
            };
            let hb = r
                .heartbeat_period_s
                .map(|p| format!("{p:.3}"))
                .unwrap_or_else(|| "-".into());
            let _ = write!(s, "  {ended:<10} {:14.4} {hb:>10}", secs(r.max_idle_ns));
        }
        s.push('\n');
    }
    let _ = writeln!(s, "{rule}");
    s
}

#[cfg(test)]
mod tests {
    use super::si_bytes;

    #[test]
    fn si_switches_at_ten_units() {
        assert_eq!(si_bytes(0), "0 bytes");
        assert_eq!(si_bytes(9999), "9999 bytes");
        assert_eq!(si_bytes(10_000), "10 kB");
        assert_eq!(si_bytes(289_999), "289 kB");
        assert_eq!(si_bytes(9_999_999), "9999 kB");
        assert_eq!(si_bytes(10_000_000), "10 MB");
        assert_eq!(
            si_bytes(u64::MAX),
            format!("{} TB", u64::MAX / 1_000_000_000_000)
        );
    }
}
