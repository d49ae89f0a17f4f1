//! `-z io,stat,INTERVAL[,FILTER...]`: frames and bytes per time interval, one column per
//! filter, in tshark 4.0.17's table (relative times; the calculated columns such as
//! `SUM(field)` are not implemented and refused).

use keepsight_engine::Frame;
use keepsight_filter::Filter;
use std::fmt::Write as _;

/// The table being counted.
pub(super) struct IoStat {
    /// Interval in µs; `None`: the whole capture (an interval of 0).
    interval_us: Option<u64>,
    /// Decimals of the interval as given (at most 6).
    precision: u32,
    columns: Vec<Column>,
    /// The latest frame time since the first frame (tshark's elapsed time), in ns.
    elapsed_ns: i64,
}

struct Column {
    filter: Option<(Filter, String)>,
    /// (frames, bytes) per interval, from the first frame's.
    buckets: Vec<(u64, u64)>,
}

/// Names tshark reads as calculations at the start of an io,stat column.
const CALCULATIONS: [&str; 8] = [
    "FRAMES", "BYTES", "SUM", "MIN", "MAX", "AVG", "LOAD", "COUNT",
];

impl IoStat {
    /// `rest`: what follows `io,stat,`.
    pub(super) fn parse(rest: &str) -> Result<IoStat, String> {
        let mut parts = rest.split(',');
        let interval = parts.next().unwrap_or_default();
        let (whole, fraction) = interval.split_once('.').unwrap_or((interval, ""));
        let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if interval.is_empty() || !digits_ok(whole) || !digits_ok(fraction) || fraction.len() > 6 {
            return Err(format!(
                "{interval}: expected an interval in seconds with at most 6 decimals (0: the whole capture)"
            ));
        }
        let whole: u64 = whole.parse().unwrap_or(0);
        let micros: u64 = format!("{fraction:0<6}").parse().unwrap_or(0);
        let interval_us = whole.saturating_mul(1_000_000) + micros;
        let mut columns = Vec::new();
        for filter in parts {
            if CALCULATIONS
                .iter()
                .any(|c| filter.starts_with(c) && filter[c.len()..].starts_with('('))
            {
                return Err(format!(
                    "{filter}: calculated io,stat columns are not implemented; use a display filter per column"
                ));
            }
            let filter = if filter.is_empty() {
                None
            } else {
                let compiled =
                    Filter::compile(filter).map_err(|e| format!("invalid filter: {e}"))?;
                Some((compiled, filter.to_string()))
            };
            columns.push(Column {
                filter,
                buckets: Vec::new(),
            });
        }
        if columns.is_empty() {
            columns.push(Column {
                filter: None,
                buckets: Vec::new(),
            });
        }
        Ok(IoStat {
            interval_us: (interval_us > 0).then_some(interval_us),
            precision: fraction.len() as u32,
            columns,
            elapsed_ns: 0,
        })
    }

    pub(super) fn on_frame(&mut self, frame: &Frame<'_>) {
        let rel_ns = frame.time_relative_ns;
        self.elapsed_ns = self.elapsed_ns.max(rel_ns);
        // tshark buckets by the relative time rounded to µs; a frame earlier than the latest
        // interval (out of order, or without a time stamp) counts in the latest one, as
        // tshark's list of intervals only grows forward.
        let rel_us = (rel_ns.max(0) as u64 + 500) / 1000;
        let in_time = self.interval_us.map_or(0, |i| (rel_us / i) as usize);
        let len = u64::from(frame.record.orig_len);
        for column in &mut self.columns {
            if column
                .filter
                .as_ref()
                .is_some_and(|(f, _)| !f.matches(frame))
            {
                continue;
            }
            let bucket = in_time.max(column.buckets.len().saturating_sub(1));
            if column.buckets.len() <= bucket {
                column.buckets.resize(bucket + 1, (0, 0));
            }
            column.buckets[bucket].0 += 1;
            column.buckets[bucket].1 += len;
        }
    }

    pub(super) fn render(&self) -> String {
        let elapsed_ns = self.elapsed_ns.max(0) as u64;
        let mut duration =
            elapsed_ns / 1_000_000_000 * 1_000_000 + (elapsed_ns % 1_000_000_000 + 500) / 1000;
        let whole_capture = self.interval_us.is_none_or(|i| i > duration);
        let mut interval = if whole_capture {
            duration
        } else {
            self.interval_us.unwrap_or(duration)
        };
        let mut dur_mag = magnitude(duration / 1_000_000);
        let invl_mag = magnitude(interval / 1_000_000);
        let (precision, mut borderlen) = if whole_capture {
            let p = match dur_mag {
                m if m >= 2 => 1,
                1 => 3,
                _ => 6,
            };
            (p, 30 + dur_mag + p + 1)
        } else {
            let p = self.precision as usize;
            (
                p,
                25 + invl_mag.max(dur_mag) + if p == 0 { 0 } else { p + 1 },
            )
        };
        let dv = 1_000_000 / 10u64.pow(precision as u32);
        if duration % dv > 5 * (dv / 10) {
            duration = (duration + 5 * (dv / 10)) / dv * dv;
            dur_mag = magnitude(duration / 1_000_000);
        }
        if whole_capture {
            interval = duration;
        }
        let invl_col_w = if precision == 0 {
            2 * dur_mag + 8
        } else {
            2 * dur_mag + 2 * precision + 10
        }
        .max(12);
        let widths: Vec<(usize, usize)> = self
            .columns
            .iter()
            .map(|c| {
                let frames = c.buckets.iter().map(|b| b.0).max().unwrap_or(0);
                let bytes = c.buckets.iter().map(|b| b.1).max().unwrap_or(0);
                (
                    magnitude_max(frames, 15).max(6),
                    magnitude_max(bytes, 15).max(5),
                )
            })
            .collect();
        let tabrow_w = invl_col_w + widths.iter().map(|(f, v)| f + v + 6).sum::<usize>();
        borderlen = borderlen.max(tabrow_w);
        let widest_filter = self
            .columns
            .iter()
            .map(|c| c.filter.as_ref().map_or(26, |(_, t)| t.len() + 11))
            .max()
            .unwrap_or(0);
        if widest_filter > borderlen && borderlen < 102 {
            borderlen = widest_filter.min(102);
        }
        if borderlen - tabrow_w == 1 {
            borderlen += 1;
        }
        let mut s = String::new();
        let padded = |s: &mut String, line: &str| {
            let _ = writeln!(
                s,
                "{line}{:>w$}",
                "|",
                w = borderlen.saturating_sub(line.len()).max(1)
            );
        };
        let _ = write!(s, "\n{}\n", "=".repeat(borderlen));
        let _ = writeln!(s, "|{:<w$}|", " IO Statistics", w = borderlen - 2);
        let _ = writeln!(s, "|{:<w$}|", "", w = borderlen - 2);
        // The duration shows µs when the interval has no decimals, else the interval's.
        let dur_prec = if precision == 0 { 6 } else { precision };
        let elapsed_secs = elapsed_ns / 1_000_000_000;
        let dur_w = magnitude(elapsed_secs) + if precision == 0 { 0 } else { precision + 1 };
        let rounded = round_ns(elapsed_ns, dur_prec);
        padded(
            &mut s,
            &format!(
                "| Duration: {:>dur_w$} secs",
                if precision == 0 {
                    duration_text(rounded)
                } else {
                    seconds(rounded, dur_prec)
                }
            ),
        );
        padded(
            &mut s,
            &format!(
                "| Interval: {:>dur_w$} secs",
                seconds(interval * 1000, precision)
            ),
        );
        let _ = writeln!(s, "|{:<w$}|", "", w = borderlen - 2);
        for (j, c) in self.columns.iter().enumerate() {
            let mut line = format!("{}{:2}: ", if j == 0 { "| Col" } else { "|    " }, j + 1);
            match &c.filter {
                None => line.push_str("Frames and bytes"),
                Some((_, text)) => {
                    let mut text = text.as_str();
                    let max_w = borderlen - 11;
                    while text.len() > max_w {
                        let (len, next) = match text[..max_w].rfind(' ') {
                            Some(p) => (p, p + 1),
                            None => (max_w, max_w),
                        };
                        line.push_str(&text[..len]);
                        padded(&mut s, &line);
                        line = "|        ".to_string();
                        text = &text[next..];
                    }
                    line.push_str(text);
                }
            }
            padded(&mut s, &line);
        }
        let _ = writeln!(s, "|-{}|", "-".repeat(borderlen - 3));
        let filler =
            (tabrow_w < borderlen).then(|| format!("{:>w$}", "|", w = borderlen - tabrow_w));
        let filler = filler.as_deref().unwrap_or("");
        let _ = write!(s, "|{:>w$}", "|", w = invl_col_w - 1);
        for (j, (f, v)) in widths.iter().enumerate() {
            let _ = write!(s, "{:<2}{:w$}|", j + 1, "", w = f + v + 3);
        }
        let _ = write!(s, "{filler}\n| Interval{:>w$}", "|", w = invl_col_w - 10);
        for (f, v) in &widths {
            center(&mut s, "Frames", *f);
            center(&mut s, "Bytes", *v);
        }
        let _ = writeln!(s, "{filler}\n|-{}|{filler}", "-".repeat(tabrow_w - 3));
        let mut t = 0u64;
        let mut row = 0usize;
        while t < duration {
            let mut end = t + interval;
            let last = end >= duration;
            if last {
                end = duration;
            }
            if precision == 0 {
                let pad = if dur_mag == 1 { " " } else { "" };
                if last {
                    let maxw = if dur_mag >= 3 { dur_mag + 1 } else { 3 };
                    let _ = write!(s, "| {pad}{:>dur_mag$} <> {:<maxw$}|", t / 1_000_000, "Dur");
                } else {
                    let _ = write!(
                        s,
                        "| {pad}{:>dur_mag$} <> {:>dur_mag$} {pad}|",
                        t / 1_000_000,
                        end / 1_000_000
                    );
                }
            } else {
                let _ = write!(
                    s,
                    "| {:>dur_mag$}.{:0precision$} <> {:>dur_mag$}.{:0precision$} |",
                    t / 1_000_000,
                    t % 1_000_000 / dv,
                    end / 1_000_000,
                    end % 1_000_000 / dv
                );
            }
            for (c, (f, v)) in self.columns.iter().zip(&widths) {
                let (frames, bytes) = c.buckets.get(row).copied().unwrap_or((0, 0));
                let _ = write!(s, " {frames:>f$} | {bytes:>v$} |");
            }
            let _ = writeln!(s, "{filler}");
            t += interval;
            row += 1;
        }
        let _ = writeln!(s, "{}", "=".repeat(borderlen));
        s
    }
}

/// Decimal digits of `v`, at least 1 and at most 5 (tshark's `magnitude(v, 5)`).
fn magnitude(v: u64) -> usize {
    magnitude_max(v, 5)
}

fn magnitude_max(mut v: u64, max: usize) -> usize {
    let mut m = 0;
    for _ in 0..max {
        m += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    m
}

/// `ns` rounded to `precision` decimals of a second (half up), still in ns.
fn round_ns(ns: u64, precision: usize) -> u64 {
    let unit = 10u64.pow(9 - precision as u32);
    (ns + unit / 2) / unit * unit
}

/// `ns` as seconds with `precision` decimals (truncated; round first).
fn seconds(ns: u64, precision: usize) -> String {
    let secs = ns / 1_000_000_000;
    if precision == 0 {
        return secs.to_string();
    }
    let frac = ns % 1_000_000_000 / 10u64.pow(9 - precision as u32);
    format!("{secs}.{frac:0precision$}")
}

/// The Duration line's value in µs (for a whole-second interval): tshark 4.0.17 pads this
/// fraction with spaces, not zeros (`5.  1567` for 5.001567 s).
fn duration_text(ns: u64) -> String {
    format!("{}.{:>6}", ns / 1_000_000_000, ns % 1_000_000_000 / 1000)
}

/// tshark's `printcenter`: a label centred in a column of `width` with one space of padding,
/// odd leftovers on the left; nothing at all when the column is too wide for its six spaces.
fn center(s: &mut String, label: &str, width: usize) {
    let len = 6 - ((width as i64 - label.len() as i64) / 2 + 1);
    if len > 0 && len < 6 {
        let sp = " ".repeat(6 - len as usize);
        if (width - label.len()).is_multiple_of(2) {
            let _ = write!(s, "{sp}{label}{sp}|");
        } else {
            let _ = write!(s, " {sp}{label}{sp}|");
        }
    } else if len > 0 && len <= 15 {
        let _ = write!(s, "{label}|");
    }
}
