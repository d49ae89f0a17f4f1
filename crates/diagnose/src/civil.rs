//! Calendar arithmetic (proleptic Gregorian, UTC) without a time-zone database: enough to print
//! capture times and to read the dates of application logs.

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    // Shift the year so that it starts in March: the leap day is then the last day of the year.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

pub const NS: i64 = 1_000_000_000;
pub const DAY_NS: i64 = 86_400 * NS;

/// `2024-03-01T09:00:00.123456Z` (microseconds, UTC).
pub fn fmt_utc(ts_ns: i64) -> String {
    let days = ts_ns.div_euclid(DAY_NS);
    let rem = ts_ns.rem_euclid(DAY_NS);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / NS;
    let us = (rem % NS) / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{us:06}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The time [`fmt_utc`] printed, back in ns since the epoch.
pub fn parse_utc(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |a: usize, l: usize| -> Option<i64> {
        let part = s.get(a..a + l)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() != 27
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[19] != b'.'
        || b[26] != b'Z'
    {
        return None;
    }
    let days = days_from_civil(num(0, 4)?, num(5, 2)? as u32, num(8, 2)? as u32);
    let secs = num(11, 2)? * 3600 + num(14, 2)? * 60 + num(17, 2)?;
    Some(days * DAY_NS + secs * NS + num(20, 6)? * 1000)
}

/// `HH:MM:SS.mmm` of a time shifted by `offset_s` (for lining up with a local-time log).
pub fn fmt_clock(ts_ns: i64, offset_s: i32) -> String {
    let t = ts_ns + i64::from(offset_s) * NS;
    let rem = t.rem_euclid(DAY_NS);
    let secs = rem / NS;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        (rem % NS) / 1_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 3, 1), 19_783);
        assert_eq!(civil_from_days(19_783), (2024, 3, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for z in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        // make_capture.py's epoch, 2024-03-01T09:00:00Z.
        assert_eq!(
            fmt_utc(1_709_283_600 * NS + 1500),
            "2024-03-01T09:00:00.000001Z"
        );
        assert_eq!(fmt_clock(1_709_283_600 * NS, 3600), "10:00:00.000");
        for t in [0, 1_709_283_600 * NS + 1_000, -86_400 * NS + 999_000] {
            assert_eq!(parse_utc(&fmt_utc(t)), Some(t));
        }
        assert_eq!(parse_utc("2024-03-01T09:00:00Z"), None);
    }
}
