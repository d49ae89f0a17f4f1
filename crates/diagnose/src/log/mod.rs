//! Application logs: reading their timestamps and lining their error/restart lines up with the
//! capture's events, allowing for the log's coarse granularity and an unknown clock offset.
//!
//! Accepted line starts (after optional `[` or spaces): ISO-8601 `2024-03-01T17:08:02.123+01:00`
//! or `2024-03-01 17:08:02`, syslog `Mar  1 17:08:02`, and bare `17:08:02` (date from
//! `LogOptions::date`, else the capture's first day). Times without a zone are in
//! `LogOptions::tz_offset_s` when given; otherwise the zone is the one under which the log lines
//! up with the most capture events (see [`correlate`]).
//!
//! A line that names a connection (a port, an address, a label tied to a port earlier) matches
//! that connection's events only ([`conn`]); a line written while a heartbeat was overdue
//! matches the late beat ([`overdue`]).

mod align;
pub(crate) mod conn;
pub(crate) mod format;
pub(crate) mod overdue;
#[cfg(test)]
mod tests;

use crate::civil::{days_from_civil, fmt_clock, DAY_NS, NS};
use crate::finding::{Details, Finding, Kind, LogMatch, Severity};
use crate::report::{human, round, secs};
use conn::StreamEnds;
pub(crate) use format::{Format, Level};

/// How to read dates and zones the log leaves out, and its format when detection is unsure.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogOptions {
    /// `--log-format`: read every line in this format (lines not in it are continuations).
    pub format: Option<Format>,
    /// `--log-date YYYY-MM-DD` for logs with time of day only.
    pub date: Option<(i64, u32, u32)>,
    /// `--log-tz`: offset of the log's local time from UTC, seconds (east positive); `None`
    /// when not given: the zone is searched for.
    pub tz_offset_s: Option<i32>,
}

use keepsight_time::logstamp::LogTime as Stamp;

#[derive(Debug, Clone)]
pub struct LogLine {
    pub line_no: u32,
    pub text: String,
    stamp: Stamp,
    /// Resolution of the timestamp (1 s for `HH:MM:SS`).
    pub granularity_ns: i64,
    /// Names an error, restart, reset, timeout...
    pub is_event: bool,
    /// The format the line is written in.
    pub format: Format,
    /// The level the line gives.
    pub level: Option<Level>,
    /// What names the line's connection, when not the whole text: a structured line's message
    /// and connection fields, or a text line with the lines continuing it (a stack trace).
    pub conn_text: Option<String>,
}

impl LogLine {
    /// The text whose ports, addresses and labels name the line's connection.
    pub fn conn_text(&self) -> &str {
        self.conn_text.as_deref().unwrap_or(&self.text)
    }
}

/// A parsed application log.
#[derive(Debug, Clone, Default)]
pub struct AppLog {
    /// The file the log was read from, as given.
    pub name: String,
    /// The lines with a timestamp, in file order.
    pub lines: Vec<LogLine>,
    /// Every line read, with or without a timestamp.
    pub total_lines: u64,
    /// The date and zone the lines were read with.
    pub opts: LogOptions,
}

const EVENT_WORDS: &[&str] = &[
    "error",
    "fail",
    "restart",
    "reset",
    "timeout",
    "timed out",
    "disconnect",
    "closed",
    "lost",
    "refused",
    "abort",
    "fatal",
    "panic",
    "exception",
    "unreachable",
    "broken pipe",
    "gave up",
    "give up",
    "reconnect",
    "late",
    "dead",
    // A slow reply is logged as a duration ("PING reply took 1.40s", "slow response"): it is
    // what a slow_heartbeat_reply finding is matched with.
    "slow",
    " took ",
];

/// Lines kept (the event lines first matter; a huge log is cut, not loaded whole).
const MAX_LINES: usize = 100_000;
/// Lines of one entry's continuation (a stack trace) read for its level, words and connection.
const MAX_CONTINUATION: usize = 64;
/// Characters of a line shown in the report.
const SHOWN_CHARS: usize = 200;
/// Bytes of an entry's connection text kept.
const MAX_CONN_TEXT: usize = 4096;

impl LogLine {
    /// Adds a line that continues this entry: its level (java.util.logging's `SEVERE: ...`),
    /// its event words and the connections it names.
    fn continue_with(&mut self, raw: &str) {
        if self.format == Format::Jul && self.level.is_none() {
            self.level = format::jul_level(raw);
            if self.level == Some(Level::Error) {
                self.is_event = true;
            }
        }
        if !self.is_event && is_event(raw) {
            self.is_event = true;
        }
        let ct = self.conn_text.get_or_insert_with(|| self.text.clone());
        if ct.len() + raw.len() < MAX_CONN_TEXT {
            ct.push('\n');
            ct.push_str(raw);
        }
    }
}

fn is_event(text: &str) -> bool {
    let l = text.to_ascii_lowercase();
    EVENT_WORDS.iter().any(|w| l.contains(w))
}

impl AppLog {
    /// Reads the log file at `path` ([`AppLog::parse_named`], named as `path` is written);
    /// bytes that are not UTF-8 become U+FFFD, so a log with a stray binary line still lines up.
    pub fn read(path: &std::path::Path, opts: LogOptions) -> std::io::Result<AppLog> {
        let bytes = std::fs::read(path)?;
        Ok(AppLog::parse_named(
            &String::from_utf8_lossy(&bytes),
            opts,
            &path.display().to_string(),
        ))
    }

    /// Reads a log. A line without a recognizable timestamp continues the entry before it (a
    /// stack trace, java.util.logging's second line); before any entry it is counted and
    /// skipped.
    pub fn parse(text: &str, opts: LogOptions) -> AppLog {
        Self::parse_named(text, opts, "")
    }

    /// [`AppLog::parse`], naming the file the text came from.
    pub fn parse_named(text: &str, opts: LogOptions, name: &str) -> AppLog {
        let mut lines: Vec<LogLine> = Vec::new();
        let mut total = 0u64;
        // Lines continuing the last entry so far (bounded: a runaway trace adds nothing).
        let mut continued = 0usize;
        for (i, raw) in text.lines().enumerate() {
            total += 1;
            if lines.len() >= MAX_LINES {
                continue;
            }
            let Some(p) = format::read(raw, opts.format) else {
                if let Some(last) = lines.last_mut() {
                    continued += 1;
                    if continued <= MAX_CONTINUATION {
                        last.continue_with(raw);
                    }
                }
                continue;
            };
            continued = 0;
            let words = match (&p.fields, p.message_len) {
                (Some(f), Some(n)) => &f[..n],
                // An access log's request path is no message (`GET /reset` is no reset).
                _ if p.format == Format::Access => "",
                _ => raw,
            };
            lines.push(LogLine {
                line_no: (i + 1).min(u32::MAX as usize) as u32,
                text: raw.trim_end().chars().take(SHOWN_CHARS).collect(),
                stamp: p.stamp.time,
                granularity_ns: p.stamp.granularity_ns,
                is_event: is_event(words) || p.level == Some(Level::Error),
                format: p.format,
                level: p.level,
                // The shown text is cut; the connection may be named past the cut.
                conn_text: p.fields.or_else(|| {
                    (raw.len() > SHOWN_CHARS).then(|| {
                        let mut end = raw.len().min(MAX_CONN_TEXT);
                        while !raw.is_char_boundary(end) {
                            end -= 1;
                        }
                        raw[..end].to_string()
                    })
                }),
            });
        }
        AppLog {
            name: name.to_string(),
            lines,
            total_lines: total,
            opts,
        }
    }

    /// The formats of the log's lines, most lines first (`logback`, or `json+rfc3164` when
    /// mixed).
    pub fn format_name(&self) -> String {
        let mut counts: Vec<(Format, usize)> = Vec::new();
        for l in &self.lines {
            match counts.iter_mut().find(|(f, _)| *f == l.format) {
                Some(c) => c.1 += 1,
                None => counts.push((l.format, 1)),
            }
        }
        counts.sort_by_key(|&(f, n)| (std::cmp::Reverse(n), f));
        let names: Vec<&str> = counts.iter().map(|(f, _)| f.name()).collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join("+")
        }
    }

    /// For each line, the days a time-of-day-only log has rolled over midnight by then.
    fn rollovers(&self) -> Vec<i64> {
        let mut day = 0;
        let mut prev_tod: Option<i64> = None;
        self.lines
            .iter()
            .map(|l| {
                if let Stamp::TimeOnly { tod_ns } = l.stamp {
                    // Time going back by more than half a day: midnight passed.
                    if prev_tod.is_some_and(|p| p - tod_ns > DAY_NS / 2) {
                        day += 1;
                    }
                    prev_tod = Some(tod_ns);
                }
                day
            })
            .collect()
    }

    /// What the log leaves out, for lines read in zone `tz_s`.
    fn calendar(&self, capture_start_ns: i64, tz_s: i32) -> Calendar {
        let tz_ns = i64::from(tz_s) * NS;
        let start_day = match self.opts.date {
            Some((y, m, d)) => days_from_civil(y, m, d),
            None => (capture_start_ns + tz_ns).div_euclid(DAY_NS),
        };
        Calendar {
            start_day,
            start_year: crate::civil::civil_from_days(start_day).0,
            tz_ns,
        }
    }

    /// Absolute UTC time of a line (`rollover` from [`AppLog::rollovers`]).
    fn time_of(&self, l: &LogLine, rollover: i64, cal: &Calendar) -> i64 {
        match l.stamp {
            Stamp::Zoned { utc_ns, .. } => utc_ns,
            Stamp::Local { days, tod_ns } => days * DAY_NS + tod_ns - cal.tz_ns,
            Stamp::NoYear { month, day, tod_ns } => {
                let mut d = days_from_civil(cal.start_year, month, day);
                // A December log for a January capture belongs to the year before.
                if d - cal.start_day > 180 {
                    d = days_from_civil(cal.start_year - 1, month, day);
                }
                d * DAY_NS + tod_ns - cal.tz_ns
            }
            Stamp::TimeOnly { tod_ns } => (cal.start_day + rollover) * DAY_NS + tod_ns - cal.tz_ns,
        }
    }

    /// Absolute UTC times of every line read in zone `tz_s`, given the capture start for what
    /// the log leaves out.
    #[cfg(test)]
    fn resolve(&self, capture_start_ns: i64, tz_s: i32) -> Vec<i64> {
        let cal = self.calendar(capture_start_ns, tz_s);
        self.lines
            .iter()
            .zip(self.rollovers())
            .map(|(l, r)| self.time_of(l, r, &cal))
            .collect()
    }

    /// The zone of the first line that gives one, when every line gives one.
    fn stamped_zone(&self) -> Option<i32> {
        let mut zone = None;
        for l in &self.lines {
            match l.stamp {
                Stamp::Zoned { zone_s, .. } => {
                    zone.get_or_insert(zone_s);
                }
                _ => return None,
            }
        }
        zone
    }
}

/// The day and zone a line's missing parts are taken from.
struct Calendar {
    start_day: i64,
    start_year: i64,
    tz_ns: i64,
}

/// A capture event a log line may refer to.
#[derive(Debug, Clone)]
pub(crate) struct CapEvent {
    /// When it happened, as the capture shows it...
    pub ts: i64,
    /// ...and the span in which an application may have noticed it (`ts..=ts` mostly).
    pub noticed: (i64, i64),
    pub stream: Option<u32>,
    pub frames: Vec<u32>,
    pub what: String,
    /// The finding kind the event comes from.
    pub kind: Kind,
}

/// Largest clock offset searched, each way, when the zone is known (given or stamped).
const MAX_OFFSET_NS: i64 = 600 * NS;
/// Largest clock skew searched, each way, around each candidate zone: well under half the
/// zones' 15-minute spacing, so each total offset belongs to one zone.
const SEARCH_SKEW_NS: i64 = 120 * NS;
/// Candidate zones: UTC−12:00 to UTC+14:00 in quarter hours.
const ZONE_STEP_S: i32 = 900;
const ZONE_MIN_S: i32 = -12 * 3600;
const ZONE_MAX_S: i32 = 14 * 3600;
/// An application logs what it saw after seeing it: the event may precede the log line's
/// timestamp by up to this much (detection and logging delay)...
const LAG_NS: i64 = 1_000_000_000;
/// ...and follow the end of its timestamp's granularity only by clock jitter.
const LEAD_NS: i64 = 250_000_000;
/// Stamps this fine, with their zone, measure the clocks' offset line by line.
const PRECISE_NS: i64 = 1_000_000;
/// The events of one incident a precise line matches lie this close to its moment (a late
/// beat, its reply and the reset it caused come within milliseconds).
const INCIDENT_NS: i64 = 20_000_000;
/// Longest span in which an event may have been noticed.
const MAX_SPAN_NS: i64 = 120 * NS;
/// Event lines used (a log of nothing but errors is cut, not scanned whole).
const MAX_EVENT_LINES: usize = 5000;
/// (line, event) pairs weighed per candidate zone: bounds the search's time when thousands of
/// error lines meet thousands of events.
const MAX_PAIRS: usize = 1 << 18;

pub(crate) struct Correlation {
    pub findings: Vec<Finding>,
    pub summary: crate::report::LogSummary,
    #[cfg(test)]
    pub offset_ns: Option<i64>,
}

/// Where the log's zone came from: `--log-tz`, the lines' own stamps, or the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ZoneFrom {
    Option,
    Stamp,
    Search,
}

impl ZoneFrom {
    fn as_str(self) -> &'static str {
        match self {
            ZoneFrom::Option => "option",
            ZoneFrom::Stamp => "stamp",
            ZoneFrom::Search => "search",
        }
    }
}

/// `+05:30`, `-03:00`, `+00:00`.
pub(crate) fn fmt_zone(zone_s: i32) -> String {
    let a = zone_s.unsigned_abs() / 60;
    format!(
        "{}{:02}:{:02}",
        if zone_s < 0 { '-' } else { '+' },
        a / 60,
        a % 60
    )
}

/// For each event (sorted by when it was noticed), the incident it belongs to: the findings
/// one stream shows of one moment (a late probe, the reset it caused, the RST) are one thing
/// an application may log, and the zone search counts things, not findings.
fn incidents(events: &[CapEvent]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&k| (events[k].stream, events[k].noticed.0));
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut open: Option<(Option<u32>, i64)> = None;
    for k in order {
        let e = &events[k];
        match open {
            Some((s, end)) if s == e.stream && s.is_some() && e.noticed.0 <= end + LAG_NS => {
                open = Some((s, end.max(e.noticed.1)));
            }
            _ => {
                out.push(Vec::new());
                open = Some((e.stream, e.noticed.1));
            }
        }
        if let Some(last) = out.last_mut() {
            last.push(k);
        }
    }
    out
}

/// Whether a line that means `only` (streams) may be matched to `e`.
fn may_mean(only: &Option<Vec<u32>>, e: &CapEvent) -> bool {
    match only {
        None => true,
        Some(set) => e.stream.is_some_and(|s| set.contains(&s)),
    }
}

/// Matches event lines to capture events.
///
/// The log's clock is read as a zone (given, stamped, or searched over UTC−12:00…UTC+14:00 in
/// quarter hours) plus a skew (capture − log, after the zone). For each zone, the skew that
/// aligns the most distinct capture incidents (one line per incident; then the most at their
/// very moment rather than inside an overdue span; then the most streams whose ordinary lines
/// fit their first or last packet) is found on a grid of skews ([`align`]); the zone kept is the
/// one aligning the most, ties going to the one where zero skew is among the best, then to the
/// smaller |zone|, then east of UTC, then the smaller skew; it must align at least twice what
/// nine zones in ten align by chance. Lines that name a connection are paired with its
/// streams' events only.
pub(crate) fn correlate(
    log: &AppLog,
    events: &mut [CapEvent],
    capture_start_ns: i64,
    streams: &[StreamEnds],
) -> Correlation {
    // Spans are capped so that a search window around a line stays small.
    for e in events.iter_mut() {
        let a = e.noticed.0.min(e.noticed.1);
        e.noticed = (a, e.noticed.1.clamp(a, a + MAX_SPAN_NS));
    }
    events.sort_by_key(|e| e.noticed.0);
    let ev_lines: Vec<usize> = log
        .lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_event)
        .map(|(i, _)| i)
        .take(MAX_EVENT_LINES)
        .collect();
    let only = conn::line_streams(log.lines.iter().map(LogLine::conn_text), streams);
    // Ordinary lines naming one stream ("connected from port N", "closing"), by stream: they
    // fit its first or last packet, and tell apart skews that align the same incidents. (Error
    // lines are left out: they are what the skew is to place.)
    let mut anchors: Vec<(u32, usize)> = only
        .iter()
        .enumerate()
        .filter(|(i, _)| !log.lines[*i].is_event)
        .filter_map(|(i, o)| match o.as_deref() {
            Some(&[s]) => Some((s, i)),
            _ => None,
        })
        .take(MAX_EVENT_LINES)
        .collect();
    anchors.sort_unstable();
    let ends_of = |s: u32| streams.iter().find(|e| e.stream == s);
    let incident = incidents(events);
    let rollovers = log.rollovers();
    let gran = log
        .lines
        .iter()
        .map(|l| l.granularity_ns)
        .min()
        .unwrap_or(NS);

    let stamped = log.stamped_zone();
    let (zone_from, zones, range): (ZoneFrom, Vec<i32>, i64) = match (log.opts.tz_offset_s, stamped)
    {
        (Some(z), _) => (ZoneFrom::Option, vec![z], MAX_OFFSET_NS),
        (None, Some(z)) => (ZoneFrom::Stamp, vec![z], MAX_OFFSET_NS),
        (None, None) => (
            ZoneFrom::Search,
            (ZONE_MIN_S / ZONE_STEP_S..=ZONE_MAX_S / ZONE_STEP_S)
                .map(|q| q * ZONE_STEP_S)
                .collect(),
            SEARCH_SKEW_NS,
        ),
    };

    // Event windows of a line at UTC time t with granularity g, under skew o.
    let window = |t: i64, g: i64, o: i64| (t + o - LAG_NS, t + o + g + LEAD_NS);
    let times_in = |z: i32| -> Vec<i64> {
        let cal = log.calendar(capture_start_ns, z);
        ev_lines
            .iter()
            .map(|&i| log.time_of(&log.lines[i], rollovers[i], &cal))
            .collect()
    };

    let mut best: Option<(i32, align::Fit)> = None;
    // Each zone's best score, to tell an alignment from chance.
    let mut scores: Vec<u32> = Vec::with_capacity(zones.len());
    let mut grid = align::Grid::new(range);
    let mut pairs: Vec<align::Pair> = Vec::new();
    for &z in &zones {
        grid.clear();
        let times = times_in(z);
        // The event lines in time order, to find those near each event by bisection.
        let mut order: Vec<usize> = (0..ev_lines.len()).collect();
        order.sort_unstable_by_key(|&li| times[li]);
        let sorted: Vec<i64> = order.iter().map(|&li| times[li]).collect();
        let mut budget = MAX_PAIRS;
        for inc in &incident {
            pairs.clear();
            for &k in inc {
                let e = &events[k];
                // Lines whose window can meet the span under some skew in -range..=range.
                let first = sorted.partition_point(|&t| t < e.noticed.0 - range - NS - LEAD_NS);
                for (&li, &t) in order[first..].iter().zip(&sorted[first..]) {
                    if t > e.noticed.1 + range + LAG_NS {
                        break;
                    }
                    let i = ev_lines[li];
                    if !may_mean(&only[i], e) {
                        continue;
                    }
                    let g = log.lines[i].granularity_ns;
                    // Skews o for which the span (and the moment) meets the line's window.
                    pairs.push(align::Pair {
                        lo: e.noticed.0 - t - g - LEAD_NS,
                        hi: e.noticed.1 - t + LAG_NS,
                        moment_lo: e.ts - t - g - LEAD_NS,
                        moment_hi: e.ts - t + LAG_NS,
                    });
                }
            }
            budget = budget.saturating_sub(pairs.len());
            grid.add_incident(&pairs);
            if budget == 0 {
                break;
            }
        }
        let cal = log.calendar(capture_start_ns, z);
        for group in anchors.chunk_by(|a, b| a.0 == b.0) {
            let Some(ends) = ends_of(group[0].0) else {
                continue;
            };
            pairs.clear();
            for &(_, i) in group {
                let l = &log.lines[i];
                let t = log.time_of(l, rollovers[i], &cal);
                let g = l.granularity_ns;
                for m in [ends.first_ns, ends.last_ns] {
                    let (lo, hi) = (m - t - g - LEAD_NS, m - t + LAG_NS);
                    if hi >= -range && lo <= range {
                        pairs.push(align::Pair {
                            lo,
                            hi,
                            moment_lo: lo,
                            moment_hi: hi,
                        });
                    }
                }
            }
            grid.add_anchor(&pairs);
        }
        let Some(fit) = grid.best() else {
            scores.push(0);
            continue;
        };
        scores.push(fit.score);
        let key = |z: i32, f: &align::Fit| {
            (
                f.score,
                f.at_moment,
                f.anchors,
                f.zero_fits,
                std::cmp::Reverse(z.unsigned_abs()),
                z > 0,
                std::cmp::Reverse(f.offset_ns.unsigned_abs()),
            )
        };
        if best.is_none_or(|(bz, bf)| key(z, &fit) > key(bz, &bf)) {
            best = Some((z, fit));
        }
    }
    // A log dense with unrelated error lines aligns a few incidents under any zone, by chance:
    // the zone found must align at least twice as many as nine zones in ten of the others do,
    // or none is claimed (and nothing matched). Sparse logs, where other zones align nothing,
    // keep their zone (and their ties, broken as above).
    if zone_from == ZoneFrom::Search {
        if let Some((bz, bf)) = best {
            let mut others: Vec<u32> = zones
                .iter()
                .zip(&scores)
                .filter(|(z, _)| **z != bz)
                .map(|(_, s)| *s)
                .collect();
            others.sort_unstable();
            let chance = others.get(others.len() * 9 / 10).copied().unwrap_or(0);
            if bf.score < 2 * chance {
                best = None;
            }
        }
    }
    let zone = match zone_from {
        ZoneFrom::Search => best.map(|(z, _)| z),
        _ => Some(zones[0]),
    };
    let z = zone.unwrap_or(0);
    let offset = best.map(|(_, f)| f.offset_ns);
    let o = offset.unwrap_or(0);
    let times = times_in(z);
    let hits_at = |i: usize, t: i64, o: i64| -> Vec<usize> {
        if zone.is_none() {
            return Vec::new();
        }
        let (a, b) = window(t, log.lines[i].granularity_ns, o);
        let lo = events.partition_point(|e| e.noticed.0 < a - MAX_SPAN_NS);
        (lo..events.len())
            .take_while(|&k| events[k].noticed.0 <= b)
            .filter(|&k| events[k].noticed.1 >= a && may_mean(&only[i], &events[k]))
            .collect()
    };

    // A clock offset is only reported when lines agree on it through different incidents, or
    // when it is zero: one incident fits a whole range of offsets, so another is used for
    // matching but not claimed as the clocks' difference.
    // A single incident does pin the offset when its lines fit its very moment and no other
    // range of offsets fits as well: then the offset is known to within one line's window
    // (its granularity plus the logging lag and lead).
    let max_gran = log
        .lines
        .iter()
        .map(|l| l.granularity_ns)
        .max()
        .unwrap_or(NS);
    let pinned = |f: &align::Fit| {
        f.at_moment == f.score
            && f.unique_width_ns
                .is_some_and(|w| w <= max_gran + LAG_NS + LEAD_NS)
    };
    let reported = best
        .filter(|(_, f)| f.zero_fits || f.score >= 2 || pinned(f))
        .map(|(_, f)| f.offset_ns);
    // Lines stamped with their zone to the millisecond or finer need no search: each one
    // measures the clocks' offset against the event it matches at that event's moment (lines
    // written at a deadline, before their event, measure nothing). The median is the offset,
    // reported with the measurements' spread.
    let precise = |i: usize| {
        let l = &log.lines[i];
        zone_from != ZoneFrom::Search
            && matches!(l.stamp, Stamp::Zoned { .. })
            && l.granularity_ns <= PRECISE_NS
    };
    let moment_of = |i: usize, t: i64, o: i64| -> Option<i64> {
        let written_by = window(t, log.lines[i].granularity_ns, o).1;
        hits_at(i, t, o)
            .into_iter()
            .map(|k| events[k].ts)
            .filter(|&ts| ts <= written_by)
            .min_by_key(|&ts| (ts - (t + o)).unsigned_abs())
    };
    let mut measured: Vec<i64> = ev_lines
        .iter()
        .zip(&times)
        .filter(|(&i, _)| precise(i))
        .filter_map(|(&i, &t)| moment_of(i, t, o).map(|m| m - t))
        .collect();
    measured.sort_unstable();
    let (o, reported, spread) = match (measured.first(), measured.last()) {
        (Some(&lo), Some(&hi)) => {
            let median = measured[measured.len() / 2];
            (median, Some(median), Some(hi - lo))
        }
        _ => (o, reported, None),
    };
    let mut findings = Vec::new();
    let mut matched = 0u64;
    let mut unmatched = Vec::new();
    for (&i, &t) in ev_lines.iter().zip(&times) {
        let l = &log.lines[i];
        let delay_ms = if precise(i) {
            moment_of(i, t, o).map(|m| round((t + o - m) as f64 / 1e6, 3))
        } else {
            None
        };
        let mut hits: Vec<&CapEvent> = hits_at(i, t, o)
            .into_iter()
            .take(8)
            .map(|k| &events[k])
            .collect();
        hits.sort_by_key(|e| e.ts);
        // A precise line means the incident at its moment, not every event in its window: a
        // reset half a second earlier on another connection is not what it logged.
        if let Some(m) = precise(i).then(|| moment_of(i, t, o)).flatten() {
            hits.retain(|e| (e.ts - m).abs() <= INCIDENT_NS);
        }
        if hits.is_empty() {
            if unmatched.len() < 20 {
                unmatched.push(crate::report::UnmatchedLine {
                    line: l.line_no,
                    text: l.text.clone(),
                });
            }
            continue;
        }
        matched += 1;
        let mut frames: Vec<u32> = hits.iter().flat_map(|e| e.frames.iter().copied()).collect();
        let mut seen = std::collections::HashSet::new();
        frames.retain(|f| seen.insert(*f));
        let mut streams: Vec<u32> = hits.iter().filter_map(|e| e.stream).collect();
        let first_stream = streams.first().copied();
        streams.sort_unstable();
        streams.dedup();
        let what: Vec<String> = hits
            .iter()
            .map(|e| format!("{} at {}", e.what, fmt_clock(e.ts - o, z)))
            .collect();
        // Written before any of its events happened: only a heartbeat's overdue span reaches
        // back to it.
        let written_by = window(t, l.granularity_ns, o).1;
        let at_deadline = hits.iter().all(|e| {
            e.ts > written_by
                && matches!(
                    e.kind,
                    Kind::LateHeartbeat
                        | Kind::MissedHeartbeat
                        | Kind::ResetAfterHeartbeatDeadline
                        | Kind::UnansweredHeartbeat
                )
        });
        findings.push(Finding::new(
            Severity::Info,
            first_stream,
            frames,
            hits[0].ts,
            format!(
                "log line {} \"{}\" matches {} (log time, clock offset {:+.2} s, log granularity {}){}",
                l.line_no,
                l.text,
                what.join("; "),
                secs(o),
                human(l.granularity_ns),
                if at_deadline {
                    "; written while the beat was overdue: the application noticed the missing beat at its own deadline"
                } else {
                    ""
                }
            ),
            Details::LogMatch(LogMatch {
                at_deadline,
                clock_offset_s: round(secs(o), 3),
                delay_ms,
                line: l.line_no,
                log_file: None,
                log_text: l.text.clone(),
                matched_kinds: hits.iter().map(|e| e.kind).collect(),
                streams,
            }),
        ));
    }
    Correlation {
        findings,
        summary: crate::report::LogSummary {
            file: log.name.clone(),
            format: log.format_name(),
            lines: log.total_lines,
            event_lines: ev_lines.len() as u64,
            matched,
            clock_offset_s: reported.map(|o| round(secs(o), 3)),
            clock_offset_spread_s: spread.map(|s| round(secs(s), 3)),
            granularity_s: secs(gran),
            unmatched,
            zone: zone.map(fmt_zone),
            zone_from: zone_from.as_str(),
        },
        #[cfg(test)]
        offset_ns: offset,
    }
}

impl crate::report::LogSummary {
    /// How the log was read: its format and zone, and where the zone came from
    /// (`logback, zone +05:30 from the lines' stamps`).
    pub fn reading(&self) -> String {
        let from = match self.zone_from {
            "option" => "from --log-tz",
            "stamp" => "from the lines' stamps",
            _ => "found by search",
        };
        match &self.zone {
            Some(z) => format!("{}, zone UTC{z} {from}", self.format),
            None => format!("{}, no zone found", self.format),
        }
    }

    /// What the search found of the log's clock, in words, when it is worth saying: a zone other
    /// than UTC, or none at all. `None` when the zone was given, stamped, or plain UTC.
    pub fn clock_words(&self) -> Option<String> {
        if self.zone_from != ZoneFrom::Search.as_str() {
            return None;
        }
        let Some(zone) = &self.zone else {
            if self.event_lines == 0 {
                return None;
            }
            return Some(format!(
                "no time zone from UTC{} to UTC{} lines the log up with the capture better than chance (give --log-tz if the log is in local time)",
                fmt_zone(ZONE_MIN_S),
                fmt_zone(ZONE_MAX_S)
            ));
        };
        if zone == "+00:00" {
            return None;
        }
        let skew = match self.clock_offset_s {
            Some(o) if o > 0.0 => format!(", {o:.1} s behind the capture"),
            Some(o) if o < 0.0 => format!(", {:.1} s ahead of the capture", -o),
            Some(_) => ", in step with the capture".to_string(),
            None => String::new(),
        };
        Some(format!("the log's clock reads like UTC{zone}{skew}"))
    }
}

#[cfg(test)]
mod stamp_tests {
    use super::*;

    fn parse_stamp(line: &str) -> Option<(Stamp, i64)> {
        format::read(line, None).map(|p| (p.stamp.time, p.stamp.granularity_ns))
    }

    #[test]
    fn a_log_file_is_read_whatever_its_bytes() {
        let dir = std::env::temp_dir().join(format!("keepsight-applog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("app.log");
        std::fs::write(
            &path,
            b"2026-11-29T01:34:15.123Z conn1 connected\n\xff\xfe binary\n",
        )
        .unwrap();
        let log = AppLog::read(&path, LogOptions::default()).unwrap();
        assert_eq!((log.total_lines, log.lines.len()), (2, 1));
        std::fs::remove_dir_all(&dir).unwrap();
        let missing = AppLog::read(&dir.join("none.log"), LogOptions::default()).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn slow_replies_are_events() {
        assert!(is_event(
            "[14:08:21] [warn] (worker-a) PING reply took 1.40s (usually 20ms)"
        ));
        assert!(is_event("slow heartbeat reply: 1400 ms"));
        assert!(!is_event(
            "[14:08:08] [info] (worker-a) connected to 10.0.0.1:7400"
        ));
    }

    #[test]
    fn timestamp_formats() {
        let d = days_from_civil(2024, 3, 1);
        assert_eq!(
            parse_stamp("2024-03-01T17:08:02.250Z error").unwrap(),
            (
                Stamp::Zoned {
                    utc_ns: d * DAY_NS + (17 * 3600 + 8 * 60 + 2) * NS + 250_000_000,
                    zone_s: 0
                },
                1_000_000
            )
        );
        assert_eq!(
            parse_stamp("2024-03-01 17:08:02+01:00 x").unwrap().0,
            Stamp::Zoned {
                utc_ns: d * DAY_NS + (16 * 3600 + 8 * 60 + 2) * NS,
                zone_s: 3600
            }
        );
        assert_eq!(
            parse_stamp("[2024-03-01 17:08:02] x").unwrap(),
            (
                Stamp::Local {
                    days: d,
                    tod_ns: (17 * 3600 + 8 * 60 + 2) * NS
                },
                NS
            )
        );
        assert_eq!(
            parse_stamp("Mar  1 17:08:02 host app[1]: error").unwrap().0,
            Stamp::NoYear {
                month: 3,
                day: 1,
                tod_ns: (17 * 3600 + 8 * 60 + 2) * NS
            }
        );
        assert_eq!(
            parse_stamp("17:08:02 error").unwrap().0,
            Stamp::TimeOnly {
                tod_ns: (17 * 3600 + 8 * 60 + 2) * NS
            }
        );
        for bad in [
            "",
            "hello",
            "99:99:99 x",
            "2024-13-01 00:00:00",
            "17:08",
            "2024-03-01",
            "\u{feff}\u{1F600}",
        ] {
            assert!(parse_stamp(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn dateless_logs_take_the_capture_day_and_roll_over_midnight() {
        let log = AppLog::parse(
            "23:59:59 a\n00:00:01 b\n",
            LogOptions {
                format: None,
                date: None,
                tz_offset_s: Some(3600),
            },
        );
        // Capture starts 2024-03-01T22:59:00Z = 23:59:00 local (+01:00).
        let start = days_from_civil(2024, 3, 1) * DAY_NS + (22 * 3600 + 59 * 60) * NS;
        let t = log.resolve(start, 3600);
        assert_eq!(
            t[0],
            days_from_civil(2024, 3, 1) * DAY_NS + (22 * 3600 + 59 * 60 + 59) * NS
        );
        assert_eq!(
            t[1],
            days_from_civil(2024, 3, 1) * DAY_NS + (23 * 3600 + 1) * NS
        );
    }

    #[test]
    fn offset_is_found_and_lines_matched() {
        // Events at 100.3 s and 700.6 s; the log clock runs 2 s behind the capture clock and
        // logs whole seconds: 98 and 698.
        let base = days_from_civil(2024, 3, 1) * DAY_NS;
        let mut events = vec![
            CapEvent {
                ts: base + 100_300_000_000,
                noticed: (base + 100_300_000_000, base + 100_300_000_000),
                stream: Some(0),
                frames: vec![10],
                what: "RST".into(),
                kind: Kind::ConnectionReset,
            },
            CapEvent {
                ts: base + 700_600_000_000,
                noticed: (base + 700_600_000_000, base + 700_600_000_000),
                stream: Some(1),
                frames: vec![20],
                what: "RST".into(),
                kind: Kind::ConnectionReset,
            },
        ];
        let log = AppLog::parse(
            "00:01:38 error heartbeat\n00:01:40 info ok\n00:11:38 error heartbeat\n00:20:00 restart\n",
            LogOptions::default(),
        );
        let c = correlate(&log, &mut events, base, &[]);
        // Whole-second lines only bound the offset: both events fit for o in [0.35, 3.3] s
        // (event within [line + o - 1 s lag, line + o + 1 s + 0.25 s]).
        let o = c.offset_ns.unwrap();
        assert!((300_000_000..=3_300_000_000).contains(&o), "offset {o}");
        assert_eq!(c.summary.event_lines, 3);
        assert_eq!(c.summary.matched, 2);
        assert_eq!(c.findings[0].frames, vec![10]);
        assert_eq!(c.findings[1].frames, vec![20]);
    }

    #[test]
    fn syslog_lines_in_local_time_match_utc_events() {
        // The event at 2024-03-01T09:00:05.300Z; the log is syslog in UTC+01:00.
        let base = days_from_civil(2024, 3, 1) * DAY_NS;
        let ev = base + (9 * 3600 + 5) * NS + 300_000_000;
        let mut events = vec![CapEvent {
            ts: ev,
            noticed: (ev, ev),
            stream: Some(7),
            frames: vec![42],
            what: "RST".into(),
            kind: Kind::ConnectionReset,
        }];
        let log = AppLog::parse(
            "Mar  1 10:00:05 host app[12]: ERROR heartbeat timeout\nMar  1 10:00:09 host app[12]: started\n",
            LogOptions { format: None, date: None, tz_offset_s: Some(3600) },
        );
        let c = correlate(&log, &mut events, base + 9 * 3600 * NS, &[]);
        assert_eq!(c.summary.event_lines, 1);
        assert_eq!(c.summary.matched, 1);
        assert_eq!(c.offset_ns, Some(0));
        assert_eq!(c.findings[0].frames, vec![42]);
        assert_eq!(c.findings[0].stream, Some(7));
    }
}
