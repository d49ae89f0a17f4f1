//! RFC 3339 timestamps in UTC (`2024-03-01T09:00:00.000001Z`), the form of every time in
//! keepsight's JSON and logs.

use crate::civil::{civil_from_days, days_from_civil, DAY_NS, NS};
use std::fmt;

/// `2024-03-01T09:00:00.123456Z`: microseconds, as `diagnose --json` and `http --json` print.
pub fn format_micros(ts_ns: i64) -> String {
    format_with(ts_ns, 6)
}

/// `2024-03-01T09:00:00.123Z`: milliseconds, as log lines print.
pub fn format_millis(ts_ns: i64) -> String {
    format_with(ts_ns, 3)
}

/// The current wall-clock time, milliseconds, for log lines (only for display: schedules use
/// the monotonic clock).
pub fn now_millis() -> String {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    format_millis(ns)
}

fn format_with(ts_ns: i64, digits: u32) -> String {
    let days = ts_ns.div_euclid(DAY_NS);
    let rem = ts_ns.rem_euclid(DAY_NS);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / NS;
    let frac = (rem % NS) / 10i64.pow(9 - digits);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:0width$}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        width = digits as usize
    )
}

/// Why a timestamp is not RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampError {
    input: String,
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid time `{}`: expected RFC 3339 such as 2024-03-01T09:00:00Z or \
             2024-03-01T10:00:00.5+01:00",
            self.input
        )
    }
}

impl std::error::Error for TimestampError {}

/// Reads an RFC 3339 date-time (`T` or a space between date and time, any fraction, `Z` or
/// `±HH:MM`) as nanoseconds since the epoch.
pub fn parse(s: &str) -> Result<i64, TimestampError> {
    parse_inner(s.trim()).ok_or_else(|| TimestampError {
        input: s.to_string(),
    })
}

fn parse_inner(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter().all(u8::is_ascii_digit).then_some(())?;
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_ns = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 9 {
                frac_ns = frac_ns * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..9 {
            frac_ns *= 10;
        }
    }
    let offset_s = match &s[i..] {
        "Z" | "z" => 0,
        zone if zone.len() == 6 && matches!(zone.as_bytes()[0], b'+' | b'-') => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if b[i + 3] != b':' || oh > 23 || om > 59 {
                return None;
            }
            let v = oh * 3600 + om * 60;
            if b[i] == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    secs.checked_mul(NS)?.checked_add(frac_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let t = 1_709_283_600 * NS + 1500;
        assert_eq!(format_micros(t), "2024-03-01T09:00:00.000001Z");
        assert_eq!(format_millis(t + 123_000_000), "2024-03-01T09:00:00.123Z");
        assert_eq!(format_micros(-1), "1969-12-31T23:59:59.999999Z");
        assert!(now_millis().ends_with('Z'));
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        let t = 1_709_283_600 * NS + 123_456_000;
        assert_eq!(parse(&format_micros(t)), Ok(t));
        assert_eq!(parse("2024-03-01T10:00:00.123456+01:00"), Ok(t));
        assert_eq!(parse("2024-03-01 08:30:00.123456-00:30"), Ok(t));
        assert_eq!(parse("2024-03-01T09:00:00Z"), Ok(1_709_283_600 * NS));
        for bad in [
            "",
            "2024-03-01",
            "2024-13-01T00:00:00Z",
            "2024-03-01T24:00:00Z",
            "2024-03-01T09:00:00",
            "2024-03-01T09:00:00.Z",
            "2024-03-01T09:00:00+0100",
            "2024-03-01T09:00:00Zjunk",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("x").unwrap_err().to_string().contains("RFC 3339"));
    }
}
