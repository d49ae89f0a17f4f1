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
//!
//! `--json` ([`Document`]) follows keepsight's one JSON convention (README, "JSON
//! conventions"): times RFC 3339 UTC, durations float seconds in `_s` fields, a `schema`.

use keepsight_diagnose::{Diagnoser, Options};
use keepsight_engine::Frame;
use keepsight_tcp::EndpointPair;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;

/// `keepsight conv`'s pass: the table over the displayed frames and, for the heartbeat column,
/// the diagnosis over every frame (a heartbeat needs the whole conversation).
pub struct ConvPass {
    conversations: Conversations,
    diagnoser: Option<Diagnoser>,
}

impl ConvPass {
    /// `heartbeats`: fill the heartbeat column (not with `--tshark`).
    pub fn new(heartbeats: bool) -> Self {
        ConvPass {
            conversations: Conversations::new(),
            diagnoser: heartbeats.then(|| Diagnoser::new(Options::default()).lists_notable()),
        }
    }

    /// Every frame in file order; `displayed`: whether the display filter lets it through.
    #[inline] // once per packet, into the caller's read loop
    pub fn on_frame(&mut self, frame: &Frame<'_>, displayed: bool) {
        if let Some(d) = self.diagnoser.as_mut() {
            if let Some(seg) = frame.segment() {
                d.on_segment(&seg);
            }
        }
        if displayed {
            self.conversations.on_frame(frame);
        } else {
            self.conversations.on_origin(frame);
        }
    }

    /// The rows in tshark's order. `last_ns`: the capture's last frame time.
    pub fn finish(self, last_ns: i64) -> Vec<Row> {
        self.finish_table(last_ns).rows().collect()
    }

    /// [`ConvPass::finish`] as a [`Table`] that makes each row when it is read, so a text
    /// rendering of a million conversations holds neither a million rows nor their text.
    pub fn finish_table(self, last_ns: i64) -> Table {
        let mut conversations = self.conversations;
        if let Some(d) = self.diagnoser {
            // Only the heartbeats are read: the streams with nothing to tell need no listing.
            let report = d.finish_listing(
                last_ns,
                keepsight_diagnose::Listing::Notable { also: &|_| false },
            );
            conversations.set_heartbeats(
                report
                    .streams
                    .iter()
                    .filter_map(|s| Some((s.stream, s.heartbeat.as_ref()?.period_s))),
            );
        }
        conversations.into_table()
    }
}

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

/// One conversation (one `tcp.stream`), as the table shows it. Times stay in ns here (the
/// text and HTML views compute with them); [`Document`] is its JSON form.
#[derive(Debug, Clone)]
pub struct Row {
    /// `tcp.stream` of the conversation, to look it up with `follow` or a filter.
    pub stream: u32,
    /// Endpoint A: tshark's left column, the sender of the conversation's first frame.
    pub a: SocketAddr,
    /// Endpoint B: the other end.
    pub b: SocketAddr,
    /// Frames B→A (tshark's `<-`).
    pub frames_ba: u64,
    /// Bytes B→A, frame lengths on the wire, as tshark counts them.
    pub bytes_ba: u64,
    /// Frames A→B (tshark's `->`).
    pub frames_ab: u64,
    /// Bytes A→B, frame lengths on the wire.
    pub bytes_ab: u64,
    /// First and last frame time, ns since the epoch (min / max, so an unordered file still
    /// gives a non-negative duration, as in tshark).
    pub first_ns: i64,
    /// Time of the conversation's latest frame, ns since the epoch.
    pub last_ns: i64,
    /// Relative start, ns since the capture's first frame.
    pub rel_start_ns: i64,
    /// How the conversation ended (RST, FIN, or still open).
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
}

impl Row {
    /// Frames in both directions (tshark's Total column).
    pub fn frames(&self) -> u64 {
        self.frames_ab + self.frames_ba
    }
    /// Bytes in both directions (tshark's Total column).
    pub fn bytes(&self) -> u64 {
        self.bytes_ab + self.bytes_ba
    }
    /// From the first to the last frame, in ns (tshark's Duration column).
    pub fn duration_ns(&self) -> i64 {
        self.last_ns - self.first_ns
    }
}

/// What the pass keeps of one conversation: only what the row needs, in 96 bytes (plus 4 in
/// the index; IPv6 addresses take 64 more, boxed) instead of the 216 the row took with its
/// bookkeeping (plus ~20 in a hash map): a SYN flood of 1M streams keeps 1M of these. Frame counts fit in
/// u32 (frame numbers do), frame numbers use 0 for "none" (they start at 1), the relative
/// start is derived from the capture's origin, and the heartbeat comes only at the end.
#[derive(Debug, Clone)]
struct Tally {
    /// Endpoints A and B.
    ends: EndpointPair,
    bytes_ab: u64,
    bytes_ba: u64,
    first_ns: i64,
    last_ns: i64,
    /// Time of the previous frame, for the idle gaps.
    prev_ns: i64,
    max_idle_ns: i64,
    stream: u32,
    frames_ab: u32,
    frames_ba: u32,
    max_idle_frame: u32,
    first_fin: u32,
    first_rst: u32,
    /// Which side sent the first FIN (`FIN_BY_A`) and RST (`RST_BY_A`), and whether A is the
    /// tracker's first sender (`A_FIRST`, so the direction of a frame needs no address
    /// comparison).
    bits: u8,
}

const A_FIRST: u8 = 1;
const FIN_BY_A: u8 = 2;
const RST_BY_A: u8 = 4;
/// A = B: a connection to itself.
const TO_ITSELF: u8 = 8;

/// Accumulates the conversation table while frames stream by.
#[derive(Default)]
pub struct Conversations {
    /// In order of the conversations' first (counted) frames.
    rows: Vec<Tally>,
    /// `tcp.stream` → 1 + index in `rows` (0: not seen). Stream numbers are the engine's
    /// tracker's, dense from 0, so a vector (4 bytes per stream) replaces a hash map; a filter
    /// or a damaged file leaves holes, which stay 0.
    index: Vec<u32>,
    /// Heartbeat periods (stream → seconds), known only after the pass.
    heartbeats: HashMap<u32, f64>,
    first_ns: Option<i64>,
}

impl Conversations {
    /// An empty table, before the first frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// A frame not counted (filtered out): it still sets the time origin, as in tshark.
    pub fn on_origin(&mut self, frame: &Frame<'_>) {
        self.first_ns.get_or_insert(frame.ts_ns);
    }

    /// Feed every frame of the capture, in file order (non-TCP frames only set the time origin).
    pub fn on_frame(&mut self, frame: &Frame<'_>) {
        self.first_ns.get_or_insert(frame.ts_ns);
        let Some(tcp) = frame.tcp.as_ref() else {
            return;
        };
        let Some(h) = frame.tcp_header() else {
            return;
        };
        let flags = h.flags();
        let ts = frame.ts_ns;
        let slot = tcp.stream as usize;
        let idx = match self.index.get(slot) {
            Some(&i) if i != 0 => i as usize - 1,
            _ => {
                // Endpoint A is the source of the conversation's first counted frame.
                let Some((src, dst)) = frame.endpoints() else {
                    return;
                };
                if self.index.len() <= slot {
                    self.index.resize(slot + 1, 0);
                }
                self.rows.push(Tally {
                    ends: EndpointPair::of(src, dst),
                    bytes_ab: 0,
                    bytes_ba: 0,
                    first_ns: ts,
                    last_ns: ts,
                    prev_ns: ts,
                    max_idle_ns: 0,
                    stream: tcp.stream,
                    frames_ab: 0,
                    frames_ba: 0,
                    max_idle_frame: 0,
                    first_fin: 0,
                    first_rst: 0,
                    bits: if tcp.from_first_sender { A_FIRST } else { 0 }
                        | if src == dst { TO_ITSELF } else { 0 },
                });
                self.index[slot] = self.rows.len() as u32;
                self.rows.len() - 1
            }
        };
        let row = &mut self.rows[idx];
        let len = u64::from(frame.record.orig_len);
        // Both ends of a stream are fixed by the tracker, so "from A" is "from the same side
        // as A's first frame"; on a connection to itself (A = B) both sides are A's.
        let from_a =
            tcp.from_first_sender == (row.bits & A_FIRST != 0) || row.bits & TO_ITSELF != 0;
        if from_a {
            row.frames_ab += 1;
            row.bytes_ab += len;
        } else {
            row.frames_ba += 1;
            row.bytes_ba += len;
        }
        row.first_ns = row.first_ns.min(ts);
        row.last_ns = row.last_ns.max(ts);
        // The first frame's gap is 0, never longer than the initial maximum.
        let gap = ts - row.prev_ns;
        if gap > row.max_idle_ns {
            row.max_idle_ns = gap;
            row.max_idle_frame = frame.number;
        }
        row.prev_ns = ts;
        if flags.rst() && row.first_rst == 0 {
            row.first_rst = frame.number;
            if from_a {
                row.bits |= RST_BY_A;
            }
        }
        if flags.fin() && row.first_fin == 0 {
            row.first_fin = frame.number;
            if from_a {
                row.bits |= FIN_BY_A;
            }
        }
    }

    /// Attach heartbeat periods measured by `keepsight diagnose` (stream → seconds).
    pub fn set_heartbeats(&mut self, periods: impl IntoIterator<Item = (u32, f64)>) {
        for (stream, period) in periods {
            let known = self.index.get(stream as usize).is_some_and(|&i| i != 0);
            if known {
                self.heartbeats.insert(stream, period);
            }
        }
    }

    /// The rows in tshark's order: total frames, largest first; ties in first-seen order.
    pub fn finish(self) -> Vec<Row> {
        self.into_table().rows().collect()
    }

    /// The conversations sorted in tshark's order, each made a [`Row`] only when read.
    pub fn into_table(self) -> Table {
        let origin = self.first_ns.unwrap_or(0);
        let (heartbeats, index) = (self.heartbeats, self.index);
        let mut accs = self.rows;
        // Sorted before becoming rows, in place: a stable sort of 30k rows would allocate a
        // copy of them. The position in first-seen order (from the index) breaks ties, as
        // a stable sort would.
        accs.sort_unstable_by_key(|c| {
            (
                std::cmp::Reverse(u64::from(c.frames_ab) + u64::from(c.frames_ba)),
                index[c.stream as usize],
            )
        });
        Table {
            tallies: accs,
            origin,
            heartbeats,
        }
    }
}

/// The conversation table in tshark's order, kept as the pass's compact tallies (96 bytes a
/// conversation, where a [`Row`] is 184): [`Table::rows`] makes the rows one at a time.
pub struct Table {
    tallies: Vec<Tally>,
    origin: i64,
    heartbeats: HashMap<u32, f64>,
}

impl Table {
    /// Conversations in the table.
    pub fn len(&self) -> usize {
        self.tallies.len()
    }

    /// Whether the table has no conversation.
    pub fn is_empty(&self) -> bool {
        self.tallies.is_empty()
    }

    /// The rows, in tshark's order.
    pub fn rows(&self) -> impl Iterator<Item = Row> + '_ {
        self.tallies.iter().map(|c| self.row(c))
    }

    fn row(&self, c: &Tally) -> Row {
        // A RST ends a connection whatever FINs came before it; the FIN exchange is only the
        // ending when no RST followed.
        let (ending, who) = if c.first_rst != 0 {
            (Ending::Rst, Some((c.bits & RST_BY_A != 0, c.first_rst)))
        } else if c.first_fin != 0 {
            (Ending::Fin, Some((c.bits & FIN_BY_A != 0, c.first_fin)))
        } else {
            (Ending::Open, None)
        };
        let [a, b] = c.ends.get();
        Row {
            stream: c.stream,
            a,
            b,
            frames_ba: c.frames_ba.into(),
            bytes_ba: c.bytes_ba,
            frames_ab: c.frames_ab.into(),
            bytes_ab: c.bytes_ab,
            first_ns: c.first_ns,
            last_ns: c.last_ns,
            rel_start_ns: c.first_ns - self.origin,
            ending,
            closed_by: who.map(|(a, _)| if a { "A" } else { "B" }),
            close_frame: who.map(|(_, f)| f),
            max_idle_ns: c.max_idle_ns,
            max_idle_frame: (c.max_idle_frame != 0).then_some(c.max_idle_frame),
            heartbeat_period_s: self.heartbeats.get(&c.stream).copied(),
        }
    }
}

/// tshark 4.0.17's `format_size(..., SI)`: the unit goes up only once the value reaches ten of
/// it, and the value is truncated.
pub fn si_bytes(n: u64) -> String {
    let mut b = Vec::new();
    push_si_bytes(&mut b, n);
    String::from_utf8(b).unwrap_or_default()
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

/// Start time as tshark's `-t ad` prints it in this table: local date and time to the second,
/// by the C library's time-zone rules (`TZ`), as tshark reads them.
pub fn local_date(ts_ns: i64) -> String {
    let t = keepsight_fields::render::broken_down(ts_ns, false);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
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
    render_titled("TCP Conversations", rows, filter, extra, start)
}

/// [`render_text`] under another title (`UDP Conversations` for `-z conv,udp`).
pub fn render_titled(
    title: &str,
    rows: &[Row],
    filter: Option<&str>,
    extra: bool,
    start: StartColumn,
) -> String {
    let mut out = Vec::new();
    // Writing to memory cannot fail.
    let _ = write_titled(&mut out, title, rows, filter, extra, start);
    String::from_utf8(out).unwrap_or_default()
}

/// [`render_text`] written to `out` as the rows come (`keepsight conv` streams a [`Table`]'s
/// rows to its output instead of holding the text of a million rows).
pub fn write_text<R: std::borrow::Borrow<Row>>(
    out: &mut dyn std::io::Write,
    rows: impl IntoIterator<Item = R>,
    filter: Option<&str>,
    extra: bool,
    start: StartColumn,
) -> std::io::Result<()> {
    write_titled(out, "TCP Conversations", rows, filter, extra, start)
}

fn write_titled<R: std::borrow::Borrow<Row>>(
    s: &mut dyn std::io::Write,
    title: &str,
    rows: impl IntoIterator<Item = R>,
    filter: Option<&str>,
    extra: bool,
    start: StartColumn,
) -> std::io::Result<()> {
    let abs = start == StartColumn::AbsoluteDate;
    let rule = "=".repeat(80);
    writeln!(s, "{rule}")?;
    writeln!(s, "{title}")?;
    writeln!(s, "Filter:{}", filter.unwrap_or("<No Filter>"))?;
    let pad = " ".repeat(59);
    if abs {
        // tshark 4.0.17 also says "Size" instead of "Bytes" in this variant.
        write!(
            s,
            "{pad}|       <-      | |       ->      | |     Total     | Absolute Date  |   Duration   |"
        )?;
    } else {
        write!(
            s,
            "{pad}|       <-      | |       ->      | |     Total     |    Relative    |   Duration   |"
        )?;
    }
    if extra {
        s.write_all(b" Ended      | Longest idle | Heartbeat")?;
    }
    s.write_all(b"\n")?;
    if abs {
        write!(
            s,
            "{pad}| Frames  Size  | | Frames  Size  | | Frames  Size  |     Start      |              |"
        )?;
    } else {
        write!(
            s,
            "{pad}| Frames  Bytes | | Frames  Bytes | | Frames  Bytes |      Start     |              |"
        )?;
    }
    if extra {
        s.write_all(b" by         |          (s) | period (s)")?;
    }
    s.write_all(b"\n")?;
    let mut line = Line::default();
    for r in rows {
        line.row(r.borrow(), abs, extra);
        s.write_all(&line.buf)?;
    }
    writeln!(s, "{rule}")
}

/// One table row's text, built byte by byte into a buffer reused from row to row: a flood's
/// table has a million rows, and `write!` with its padding machinery cost several times the
/// reading of the capture. The text is exactly what the format
/// `"{:<26} <-> {:<26}  {:6} {:<9}  {:6} {:<9}  {:6} {:<9}  {:>14}   {:12.4}"` (plus
/// `"  {:<10} {:14.4} {:>10}"` for keepsight's columns) gives; the rare values whose digits
/// need the float formatter (see [`fixed_from_ns`]) still go through it.
#[derive(Default)]
struct Line {
    buf: Vec<u8>,
}

impl Line {
    fn row(&mut self, r: &Row, abs: bool, extra: bool) {
        self.buf.clear();
        self.left(26, |b| push_endpoint(b, &r.a));
        self.buf.extend_from_slice(b" <-> ");
        self.left(26, |b| push_endpoint(b, &r.b));
        for (frames, bytes) in [
            (r.frames_ba, r.bytes_ba),
            (r.frames_ab, r.bytes_ab),
            (r.frames(), r.bytes()),
        ] {
            self.buf.extend_from_slice(b"  ");
            self.right(6, |b| push_u64(b, frames));
            self.buf.push(b' ');
            self.left(9, |b| push_si_bytes(b, bytes));
        }
        self.buf.extend_from_slice(b"  ");
        if abs {
            let date = local_date(r.first_ns);
            self.right(14, |b| b.extend_from_slice(date.as_bytes()));
        } else {
            self.right(14, |b| push_fixed(b, r.rel_start_ns, 9, nstime_to_sec));
        }
        self.buf.extend_from_slice(b"   ");
        let rel_last = r.last_ns - (r.first_ns - r.rel_start_ns);
        self.right(12, |b| {
            push_fixed_diff(b, r.rel_start_ns, rel_last, 4, || tshark_duration(r))
        });
        if extra {
            self.buf.extend_from_slice(b"  ");
            self.left(10, |b| match (r.ending, r.closed_by) {
                (Ending::Open, _) | (_, None) => b.extend_from_slice(b"open"),
                (Ending::Rst, Some(by)) => {
                    b.extend_from_slice(b"RST by ");
                    b.extend_from_slice(by.as_bytes());
                }
                (Ending::Fin, Some(by)) => {
                    b.extend_from_slice(b"FIN by ");
                    b.extend_from_slice(by.as_bytes());
                }
            });
            self.buf.push(b' ');
            self.right(14, |b| {
                push_fixed(b, r.max_idle_ns, 4, keepsight_time::secs_f64)
            });
            self.buf.push(b' ');
            self.right(10, |b| match r.heartbeat_period_s {
                Some(p) => b.extend_from_slice(format!("{p:.3}").as_bytes()),
                None => b.push(b'-'),
            });
        }
        self.buf.push(b'\n');
    }

    /// Writes a value, then spaces up to `width` (left-aligned, never cut).
    fn left(&mut self, width: usize, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        write(&mut self.buf);
        let len = self.buf.len() - start;
        self.buf.resize(start + len.max(width), b' ');
    }

    /// Writes a value right-aligned in `width` (never cut).
    fn right(&mut self, width: usize, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        write(&mut self.buf);
        let len = self.buf.len() - start;
        if len < width {
            let pad = width - len;
            self.buf.resize(start + width, b' ');
            self.buf.copy_within(start..start + len, start + pad);
            self.buf[start..start + pad].fill(b' ');
        }
    }
}

fn push_u64(b: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    b.extend_from_slice(&digits[i..]);
}

/// `n` in exactly `width` digits, zeros in front.
fn push_zero_padded(b: &mut Vec<u8>, mut n: u64, width: usize) {
    let start = b.len();
    b.resize(start + width, b'0');
    for d in b[start..].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// An endpoint as tshark prints it in this table: `addr:port` without IPv6 brackets.
fn push_endpoint(b: &mut Vec<u8>, a: &SocketAddr) {
    match a.ip() {
        std::net::IpAddr::V4(ip) => {
            for (i, o) in ip.octets().into_iter().enumerate() {
                if i > 0 {
                    b.push(b'.');
                }
                push_u64(b, u64::from(o));
            }
        }
        ip @ std::net::IpAddr::V6(_) => b.extend_from_slice(ip.to_string().as_bytes()),
    }
    b.push(b':');
    push_u64(b, u64::from(a.port()));
}

/// [`si_bytes`], written into a row.
fn push_si_bytes(b: &mut Vec<u8>, n: u64) {
    const P: u64 = 1000;
    let units = [
        (P * P * P * P, &b" TB"[..]),
        (P * P * P, b" GB"),
        (P * P, b" MB"),
        (P, b" kB"),
    ];
    match units.iter().find(|(div, _)| n / div >= 10) {
        Some((div, unit)) => {
            push_u64(b, n / div);
            b.extend_from_slice(unit);
        }
        None => {
            push_u64(b, n);
            b.extend_from_slice(b" bytes");
        }
    }
}

/// Below this many ns (about 12 days) a time converted to f64 seconds is within 2^-32 s of its
/// exact value, far less than half of the 9th decimal: its `{:.9}` digits are the integer's.
const EXACT_DIGITS_BELOW_NS: i64 = (1 << 20) * 1_000_000_000;

/// `{:.DECIMALS}` of `to_secs(ns)` (DECIMALS 4 or 9), from the integer when the digits cannot
/// differ: the f64's error is far below half the last decimal unless the dropped digits are
/// exactly a half (then the f64's own rounding decides, so the float formatter prints it).
fn push_fixed(b: &mut Vec<u8>, ns: i64, decimals: u32, to_secs: fn(i64) -> f64) {
    if let Some(digits) = fixed_from_ns(ns, decimals) {
        push_digits(b, digits, decimals);
    } else {
        b.extend_from_slice(format!("{:.*}", decimals as usize, to_secs(ns)).as_bytes());
    }
}

/// [`push_fixed`] of a difference `to - from` that tshark computes in f64 from the two
/// (`exact`): the integer's digits when both ends and the difference are in the exact range.
fn push_fixed_diff(b: &mut Vec<u8>, from: i64, to: i64, decimals: u32, exact: impl Fn() -> f64) {
    let digits = (from >= 0 && to >= from && to < EXACT_DIGITS_BELOW_NS)
        .then(|| fixed_from_ns(to - from, decimals))
        .flatten();
    match digits {
        Some(digits) => push_digits(b, digits, decimals),
        None => b.extend_from_slice(format!("{:.*}", decimals as usize, exact()).as_bytes()),
    }
}

/// `ns` in units of 10^-decimals s, rounded to nearest, when that is surely what the float
/// formatter prints of the f64 seconds; `None` for negative or large times and for exact
/// halves.
fn fixed_from_ns(ns: i64, decimals: u32) -> Option<u64> {
    if !(0..EXACT_DIGITS_BELOW_NS).contains(&ns) {
        return None;
    }
    let unit = 10u64.pow(9 - decimals);
    let ns = ns as u64;
    let (q, rem) = (ns / unit, ns % unit);
    match (rem * 2).cmp(&unit) {
        std::cmp::Ordering::Less => Some(q),
        std::cmp::Ordering::Greater => Some(q + 1),
        std::cmp::Ordering::Equal => None,
    }
}

fn push_digits(b: &mut Vec<u8>, units: u64, decimals: u32) {
    let scale = 10u64.pow(decimals);
    push_u64(b, units / scale);
    b.push(b'.');
    push_zero_padded(b, units % scale, decimals as usize);
}

/// The schema number of [`Document`]; renaming or removing a field bumps it. Schema 1 (not
/// written, before the JSON convention) was a bare array of rows with `_ns` fields.
pub const SCHEMA: u32 = 2;

/// What `keepsight conv --json` prints: `{"schema": 2, "conversations": [...]}`.
#[derive(Serialize)]
pub struct Document<'a> {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The rows in the table's order.
    #[serde(serialize_with = "json_rows")]
    pub conversations: &'a [Row],
}

impl<'a> Document<'a> {
    /// The rows under the current [`SCHEMA`].
    pub fn new(rows: &'a [Row]) -> Self {
        Document {
            schema: SCHEMA,
            conversations: rows,
        }
    }
}

fn json_rows<S: serde::Serializer>(rows: &&[Row], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(rows.iter().map(JsonRow::from))
}

/// One row as JSON: the row's fields, times as RFC 3339, durations as seconds.
#[derive(Serialize)]
struct JsonRow {
    stream: u32,
    a: SocketAddr,
    b: SocketAddr,
    frames_ba: u64,
    bytes_ba: u64,
    frames_ab: u64,
    bytes_ab: u64,
    first: String,
    last: String,
    rel_start_s: f64,
    duration_s: f64,
    ending: Ending,
    closed_by: Option<&'static str>,
    close_frame: Option<u32>,
    max_idle_s: f64,
    max_idle_frame: Option<u32>,
    heartbeat_period_s: Option<f64>,
}

impl From<&Row> for JsonRow {
    fn from(r: &Row) -> Self {
        use keepsight_time::{rfc3339::format_micros, secs_f64};
        JsonRow {
            stream: r.stream,
            a: r.a,
            b: r.b,
            frames_ba: r.frames_ba,
            bytes_ba: r.bytes_ba,
            frames_ab: r.frames_ab,
            bytes_ab: r.bytes_ab,
            first: format_micros(r.first_ns),
            last: format_micros(r.last_ns),
            rel_start_s: secs_f64(r.rel_start_ns),
            duration_s: secs_f64(r.duration_ns()),
            ending: r.ending,
            closed_by: r.closed_by,
            close_frame: r.close_frame,
            max_idle_s: secs_f64(r.max_idle_ns),
            max_idle_frame: r.max_idle_frame,
            heartbeat_period_s: r.heartbeat_period_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{si_bytes, Document, Ending, Line, Row, Tally};
    use std::net::SocketAddr;

    /// The row as the format string of tshark's layout gives it, through the float and
    /// padding machinery: the oracle for [`Line::row`].
    fn formatted_row(r: &Row, abs: bool) -> String {
        let endpoint = |a: &SocketAddr| format!("{}:{}", a.ip(), a.port());
        let start = if abs {
            super::local_date(r.first_ns)
        } else {
            format!("{:.9}", super::nstime_to_sec(r.rel_start_ns))
        };
        let ended = match (r.ending, r.closed_by) {
            (Ending::Open, _) | (_, None) => "open".to_string(),
            (Ending::Rst, Some(by)) => format!("RST by {by}"),
            (Ending::Fin, Some(by)) => format!("FIN by {by}"),
        };
        let hb = r
            .heartbeat_period_s
            .map(|p| format!("{p:.3}"))
            .unwrap_or_else(|| "-".into());
        format!(
            "{:<26} <-> {:<26}  {:6} {:<9}  {:6} {:<9}  {:6} {:<9}  {:>14}   {:12.4}  {ended:<10} {:14.4} {hb:>10}\n",
            endpoint(&r.a),
            endpoint(&r.b),
            r.frames_ba,
            si_bytes(r.bytes_ba),
            r.frames_ab,
            si_bytes(r.bytes_ab),
            r.frames(),
            si_bytes(r.bytes()),
            start,
            super::tshark_duration(r),
            keepsight_time::secs_f64(r.max_idle_ns)
        )
    }

    /// Rows over the ranges that matter: times near 0, around the exact-digit limit and far
    /// beyond it, negative starts, durations whose dropped digits are exactly a half, long
    /// IPv6 endpoints, counts wider than their column, both ends and no end.
    #[test]
    fn a_row_is_byte_identical_to_the_format_string() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let limit = super::EXACT_DIGITS_BELOW_NS;
        let addrs: [SocketAddr; 4] = [
            "10.0.0.1:40000".parse().unwrap(),
            "255.255.255.255:65535".parse().unwrap(),
            "[2001:db8:1234:5678:9abc:def0:1234:5678]:443"
                .parse()
                .unwrap(),
            "[::1]:8".parse().unwrap(),
        ];
        for i in 0..200_000u64 {
            let scale = match i % 5 {
                0 => 1_000,
                1 => 1_000_000_000,
                2 => limit as u64,
                3 => 4 * limit as u64,
                _ => 1 << 62,
            };
            let mut rel = (next() % scale) as i64;
            if i % 11 == 0 {
                rel = -rel;
            }
            let first = 1_709_283_600_000_000_000 + (next() % 1_000_000_000_000) as i64;
            let mut dur = (next() % scale.min(1 << 50)) as i64;
            if i % 7 == 0 {
                dur = dur / 100_000 * 100_000 + 50_000;
            }
            let row = Row {
                stream: i as u32,
                a: addrs[(next() % 4) as usize],
                b: addrs[(next() % 4) as usize],
                frames_ba: next() % [10, 1_000_000, 1 << 40][(i % 3) as usize],
                bytes_ba: next() >> (next() % 64),
                frames_ab: next() % 100_000,
                bytes_ab: next() >> 40,
                first_ns: first,
                last_ns: first.saturating_add(dur),
                rel_start_ns: rel,
                ending: [Ending::Open, Ending::Fin, Ending::Rst][(i % 3) as usize],
                closed_by: (i % 4 != 0).then_some(if i % 2 == 0 { "A" } else { "B" }),
                close_frame: None,
                max_idle_ns: if i % 13 == 0 {
                    dur / 100_000 * 100_000 + 50_000
                } else {
                    dur
                },
                max_idle_frame: None,
                heartbeat_period_s: (i % 6 == 0).then(|| (next() % 100_000) as f64 / 997.0),
            };
            let mut line = Line::default();
            line.row(&row, false, true);
            let got = String::from_utf8(line.buf.clone()).unwrap();
            assert_eq!(got, formatted_row(&row, false), "row {i}: {row:?}");
            if i % 1000 == 0 {
                line.row(&row, true, false);
                let want = formatted_row(&row, true);
                let cut = want
                    .find("  open")
                    .or_else(|| want.find("  FIN"))
                    .or_else(|| want.find("  RST"));
                let want = format!("{}\n", &want[..cut.unwrap()]);
                assert_eq!(String::from_utf8(line.buf).unwrap(), want, "row {i}, date");
            }
        }
    }

    /// The per-stream cost `Tally` documents (30k streams: 4.3 MB instead of 7 MB).
    #[test]
    fn accumulator_is_smaller_than_the_row() {
        let (acc, row) = (std::mem::size_of::<Tally>(), std::mem::size_of::<Row>());
        assert!(acc <= 144, "Tally is {acc} bytes");
        assert!(acc < row, "Tally {acc} bytes, Row {row} bytes");
    }

    /// The convention's forms, on values whose text is known: a µs time, seconds for ns.
    #[test]
    fn json_has_schema_rfc3339_times_and_seconds() {
        let row = Row {
            stream: 3,
            a: "10.0.0.1:40000".parse().unwrap(),
            b: "10.0.0.2:80".parse().unwrap(),
            frames_ba: 1,
            bytes_ba: 60,
            frames_ab: 2,
            bytes_ab: 120,
            first_ns: 1_709_283_600_000_001_000, // 2024-03-01T09:00:00.000001Z
            last_ns: 1_709_283_674_954_688_000,
            rel_start_ns: 1_500_000_000,
            ending: Ending::Fin,
            closed_by: Some("B"),
            close_frame: Some(9),
            max_idle_ns: 74_954_687_000,
            max_idle_frame: Some(9),
            heartbeat_period_s: None,
        };
        let v = serde_json::to_value(Document::new(&[row])).unwrap();
        assert_eq!(v["schema"], 2);
        let c = &v["conversations"][0];
        assert_eq!(c["first"], "2024-03-01T09:00:00.000001Z");
        assert_eq!(c["last"], "2024-03-01T09:01:14.954688Z");
        assert_eq!(c["rel_start_s"], 1.5);
        assert_eq!(c["duration_s"], 74.954687);
        assert_eq!(c["max_idle_s"], 74.954687);
        assert_eq!(c["ending"], "fin");
        assert!(c.get("first_ns").is_none() && c.get("max_idle_ns").is_none());
    }

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

#[cfg(test)]
mod size {
    /// Issue 22: a conversation costs at most 100 bytes while the table is built.
    #[test]
    fn a_conversation_is_kept_in_at_most_100_bytes() {
        assert!(std::mem::size_of::<super::Tally>() <= 100);
    }
}
