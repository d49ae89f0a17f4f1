//! Timestamps as application logs write them: the pieces (`HH:MM:SS[.frac]`, a zone, a month
//! name) and the whole stamps of the common log formats, read from the start of a byte slice
//! without allocating.
//!
//! Every reader returns the time it found, the resolution the stamp was written with (1 s for
//! `HH:MM:SS`, 1 ms for `.mmm`, 1 µs for `.uuuuuu`) and the bytes it used, so that a caller can
//! go on reading the rest of the line. What a stamp leaves out (its zone, its year, its date) is
//! left out of the result too: [`LogTime`] says which parts are missing.

use crate::civil::{days_from_civil, DAY_NS, NS};

/// What a log stamp says about when the line was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTime {
    /// An absolute time.
    Zoned {
        /// ns since the epoch, UTC.
        utc_ns: i64,
        /// The zone the stamp was written in, seconds east of UTC.
        zone_s: i32,
    },
    /// A local date and time of day, zone unknown.
    Local {
        /// Days since 1970-01-01.
        days: i64,
        /// ns since local midnight.
        tod_ns: i64,
    },
    /// Month and day without a year (RFC 3164 syslog), zone unknown.
    NoYear {
        /// 1..=12.
        month: u32,
        /// 1..=31.
        day: u32,
        /// ns since local midnight.
        tod_ns: i64,
    },
    /// Time of day only.
    TimeOnly {
        /// ns since local midnight.
        tod_ns: i64,
    },
}

/// A stamp read from a line: the time, its resolution (ns) and the bytes it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// When.
    pub time: LogTime,
    /// The stamp's resolution: 1 s for `HH:MM:SS`, 1 ms for `.mmm`.
    pub granularity_ns: i64,
    /// Bytes of the input the stamp took.
    pub used: usize,
}

/// `n` ASCII digits at the start of `b`, as a number.
pub fn digits(b: &[u8], n: usize) -> Option<i64> {
    if b.len() < n || !b[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        b[..n]
            .iter()
            .fold(0i64, |a, &d| a * 10 + i64::from(d - b'0')),
    )
}

/// `HH:MM:SS[.frac|,frac]` → (ns of day, granularity, bytes used). A fraction longer than 9
/// digits is read to the ns and its remaining digits skipped.
pub fn time_of_day(b: &[u8]) -> Option<(i64, i64, usize)> {
    let h = digits(b, 2)?;
    let m = digits(b.get(3..)?, 2)?;
    let s = digits(b.get(6..)?, 2)?;
    if b[2] != b':' || b[5] != b':' || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let mut ns = (h * 3600 + m * 60 + s) * NS;
    let mut used = 8;
    let mut gran = NS;
    if matches!(b.get(8), Some(b'.') | Some(b',')) {
        let len = b[9..].iter().take_while(|c| c.is_ascii_digit()).count();
        if len > 0 {
            let n = len.min(9);
            let scale = 10i64.pow(9 - n as u32);
            ns += digits(&b[9..], n)? * scale;
            gran = scale;
            used = 9 + len;
        }
    }
    Some((ns, gran, used))
}

/// `Z`, `+01:00`, `+0100`, `-05` → (offset seconds east, bytes used).
pub fn zone(b: &[u8]) -> Option<(i32, usize)> {
    match b.first()? {
        b'Z' | b'z' => Some((0, 1)),
        &c @ (b'+' | b'-') => {
            let h = digits(&b[1..], 2)?;
            let rest = &b[3..];
            let (m, used) = if rest.first() == Some(&b':') {
                (digits(&rest[1..], 2)?, 6)
            } else {
                match digits(rest, 2) {
                    Some(m) => (m, 5),
                    None => (0, 3),
                }
            };
            if h > 14 || m > 59 {
                return None;
            }
            let off = (h * 3600 + m * 60) as i32;
            Some((if c == b'-' { -off } else { off }, used))
        }
        _ => None,
    }
}

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// An English month abbreviation (`Mar`, `mar`, `MAR`) → 1..=12.
pub fn month(b: &[u8]) -> Option<u32> {
    let m = b.get(..3)?;
    MONTHS
        .iter()
        .position(|x| x.iter().zip(m).all(|(a, c)| *a == c.to_ascii_lowercase()))
        .map(|i| i as u32 + 1)
}

/// Years a stamp may name: those whose every instant is a capture time (i64 nanoseconds
/// since 1970 reach from 1677-09-21 to 2262-04-11), zone offsets included. A log line from
/// year 1013 or 9999 is garbage, and its time would overflow every comparison with packets.
const YEARS: std::ops::RangeInclusive<i64> = 1678..=2261;

/// Days since the epoch of a date in [`YEARS`].
fn civil_days(y: i64, m: u32, d: u32) -> Option<i64> {
    YEARS.contains(&y).then(|| days_from_civil(y, m, d))
}

/// `YYYY-MM-DD` (or with `sep` instead of `-`) → days since the epoch.
fn date(b: &[u8], sep: u8) -> Option<i64> {
    let y = digits(b, 4)?;
    let mo = digits(b.get(5..)?, 2)?;
    let d = digits(b.get(8..)?, 2)?;
    if b[4] != sep || b[7] != sep || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    civil_days(y, mo as u32, d as u32)
}

/// A date and time with an optional zone after it: local or zoned.
fn with_zone(days: i64, tod: i64, gran: i64, rest: &[u8], used: usize) -> Stamp {
    match zone(rest) {
        Some((off, zl)) => Stamp {
            time: LogTime::Zoned {
                utc_ns: days * DAY_NS + tod - i64::from(off) * NS,
                zone_s: off,
            },
            granularity_ns: gran,
            used: used + zl,
        },
        None => Stamp {
            time: LogTime::Local { days, tod_ns: tod },
            granularity_ns: gran,
            used,
        },
    }
}

/// ISO-8601 / RFC 3339 `YYYY-MM-DD[T ]HH:MM:SS[.frac][zone]`, also `YYYY/MM/DD HH:MM:SS`
/// (nginx's error log, Go's `log`), with the date separator `-` or `/`.
pub fn iso(b: &[u8]) -> Option<Stamp> {
    let sep = *b.get(4)?;
    if sep != b'-' && sep != b'/' {
        return None;
    }
    let days = date(b, sep)?;
    let t = *b.get(10)?;
    if !(t == b' ' || (sep == b'-' && (t == b'T' || t == b't'))) {
        return None;
    }
    let (tod, gran, used) = time_of_day(b.get(11..)?)?;
    let used = 11 + used;
    // `2024-03-01 17:08:02 +0100` puts a space before the zone; only a full offset counts
    // there, lest a following word starting with `-` read as one.
    let rest = &b[used..];
    if rest.first() == Some(&b' ') && matches!(rest.get(1), Some(b'+') | Some(b'-')) {
        if let Some((_, 5 | 6)) = zone(&rest[1..]) {
            return Some(with_zone(days, tod, gran, &rest[1..], used + 1));
        }
    }
    Some(with_zone(days, tod, gran, rest, used))
}

/// RFC 3164 syslog `Mmm dd HH:MM:SS` (day space-padded): no year, no zone.
pub fn syslog(b: &[u8]) -> Option<Stamp> {
    let mo = month(b)?;
    if b.get(3) != Some(&b' ') {
        return None;
    }
    let mut i = 4;
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    let dl = b[i..]
        .iter()
        .take(3)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if !(1..=2).contains(&dl) {
        return None;
    }
    let day = digits(&b[i..], dl)? as u32;
    i += dl;
    if !(1..=31).contains(&day) || b.get(i) != Some(&b' ') {
        return None;
    }
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    let (tod, gran, used) = time_of_day(&b[i..])?;
    Some(Stamp {
        time: LogTime::NoYear {
            month: mo,
            day,
            tod_ns: tod,
        },
        granularity_ns: gran,
        used: i + used,
    })
}

/// Common Log Format (nginx/Apache access logs) `07/Dec/2026:03:57:42 +0100`.
pub fn clf(b: &[u8]) -> Option<Stamp> {
    let d = digits(b, 2)?;
    let mo = month(b.get(3..)?)?;
    let y = digits(b.get(7..)?, 4)?;
    if b[2] != b'/' || b[6] != b'/' || b.get(11) != Some(&b':') || !(1..=31).contains(&d) {
        return None;
    }
    let days = civil_days(y, mo, d as u32)?;
    let (tod, gran, used) = time_of_day(&b[12..])?;
    let used = 12 + used;
    let rest = b.get(used..)?;
    if rest.first() == Some(&b' ') {
        if let Some((_, 5 | 6)) = zone(&rest[1..]) {
            return Some(with_zone(days, tod, gran, &rest[1..], used + 1));
        }
    }
    Some(with_zone(days, tod, gran, b"", used))
}

/// Apache's error log `Mon Dec 07 03:57:42.311279 2026` (weekday, month, day, time, year).
pub fn ctime(b: &[u8]) -> Option<Stamp> {
    if b.len() < 24 || b[3] != b' ' || !b[..3].iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    let s = syslog(&b[4..])?;
    let LogTime::NoYear { month, day, tod_ns } = s.time else {
        return None;
    };
    let at = 4 + s.used;
    if b.get(at) != Some(&b' ') {
        return None;
    }
    let y = digits(&b[at + 1..], 4)?;
    Some(Stamp {
        time: LogTime::Local {
            days: civil_days(y, month, day)?,
            tod_ns,
        },
        granularity_ns: s.granularity_ns,
        used: at + 5,
    })
}

/// Seconds (or ms, µs, ns: told apart by magnitude) since the epoch, as JSON logs write them:
/// `1733540262.311` or `1733540262311`. The granularity is the written fraction's, or the
/// unit's. Times before 2001 or after 2286 in every unit are not taken as epoch stamps.
pub fn epoch(text: &str) -> Option<Stamp> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() || int.len() > 19 || !int.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v: i64 = int.parse().ok()?;
    // Digits of the integer part tell the unit: 10 for seconds (2001..2286), 13 ms, 16 µs,
    // 19 ns.
    let unit = match int.len() {
        10 => NS,
        13 => 1_000_000,
        16 => 1_000,
        19 => 1,
        _ => return None,
    };
    let fl = frac.len().min(9);
    let scale = 10i64.pow(9 - fl as u32);
    let sub = if fl == 0 {
        0
    } else {
        digits(frac.as_bytes(), fl)? * scale
    };
    // The fraction is of the unit, not of a second.
    let frac_ns = sub / (NS / unit);
    let gran = if fl == 0 {
        unit
    } else {
        (scale / (NS / unit)).max(1)
    };
    Some(Stamp {
        time: LogTime::Zoned {
            utc_ns: v.checked_mul(unit)?.checked_add(frac_ns)?,
            zone_s: 0,
        },
        granularity_ns: gran,
        used: t.len(),
    })
}

/// A 12-hour clock `h:MM:SS AM|PM` (java.util.logging's default `Dec 07, 2026 3:57:42 AM`).
fn clock_12h(b: &[u8]) -> Option<(i64, usize)> {
    let hl = b.iter().take(3).take_while(|c| c.is_ascii_digit()).count();
    if !(1..=2).contains(&hl) || b.get(hl) != Some(&b':') {
        return None;
    }
    let h = digits(b, hl)?;
    let m = digits(&b[hl + 1..], 2)?;
    let s = digits(b.get(hl + 4..)?, 2)?;
    if b.get(hl + 3) != Some(&b':') || !(1..=12).contains(&h) || m > 59 || s > 60 {
        return None;
    }
    let at = hl + 6;
    let pm = match b.get(at + 1..at + 3)? {
        [b'A', b'M'] if b[at] == b' ' => false,
        [b'P', b'M'] if b[at] == b' ' => true,
        _ => return None,
    };
    let h = h % 12 + if pm { 12 } else { 0 };
    Some(((h * 3600 + m * 60 + s) * NS, at + 3))
}

/// java.util.logging's SimpleFormatter default `Dec 07, 2026 3:57:42 AM`: local, whole
/// seconds.
pub fn jul(b: &[u8]) -> Option<Stamp> {
    let mo = month(b)?;
    if b.get(3) != Some(&b' ') {
        return None;
    }
    let d = digits(&b[4..], 2)?;
    if b.get(6..8) != Some(b", ") || !(1..=31).contains(&d) {
        return None;
    }
    let y = digits(&b[8..], 4)?;
    if b.get(12) != Some(&b' ') {
        return None;
    }
    let (tod, used) = clock_12h(&b[13..])?;
    Some(Stamp {
        time: LogTime::Local {
            days: civil_days(y, mo, d as u32)?,
            tod_ns: tod,
        },
        granularity_ns: NS,
        used: 13 + used,
    })
}

/// Any stamp a JSON or logfmt value may hold: RFC 3339/ISO text or epoch numbers.
pub fn value(text: &str) -> Option<Stamp> {
    let b = text.as_bytes();
    iso(b)
        .or_else(|| epoch(text))
        .or_else(|| syslog(b))
        .or_else(|| clf(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> i64 {
        crate::rfc3339::parse(s).unwrap()
    }

    #[test]
    fn iso_forms() {
        let s = iso(b"2026-12-07T03:57:42.311+01:00 x").unwrap();
        assert_eq!(
            s.time,
            LogTime::Zoned {
                utc_ns: utc("2026-12-07T02:57:42.311Z"),
                zone_s: 3600
            }
        );
        assert_eq!((s.granularity_ns, s.used), (1_000_000, 29));
        let s = iso(b"2026-12-07 03:57:42,311 ERROR").unwrap();
        assert!(matches!(s.time, LogTime::Local { .. }));
        assert_eq!((s.granularity_ns, s.used), (1_000_000, 23));
        let s = iso(b"2026/12/07 03:57:42.311234 msg").unwrap();
        assert_eq!(s.granularity_ns, 1_000);
        let s = iso(b"2026-12-07 03:57:42 +0530 x").unwrap();
        assert_eq!(
            s.time,
            LogTime::Zoned {
                utc_ns: utc("2026-12-06T22:27:42Z"),
                zone_s: 19800
            }
        );
        // A word after the time is no zone.
        let s = iso(b"2026-12-07 03:57:42 -- x").unwrap();
        assert!(matches!(s.time, LogTime::Local { .. }));
        assert_eq!(s.used, 19);
        let s = iso(b"2026-12-07T03:57:42.311000Z").unwrap();
        assert_eq!(s.granularity_ns, 1_000);
        for bad in [
            &b"2026/12/07T03:57:42"[..],
            b"2026-13-07 03:57:42",
            b"2026-12-07",
            b"2026-12-07 25:00:00",
        ] {
            assert_eq!(iso(bad), None, "{:?}", std::str::from_utf8(bad));
        }
    }

    #[test]
    fn syslog_clf_ctime_jul() {
        let s = syslog(b"Dec  7 03:57:42 host app[1]: x").unwrap();
        assert_eq!(
            s.time,
            LogTime::NoYear {
                month: 12,
                day: 7,
                tod_ns: (3 * 3600 + 57 * 60 + 42) * NS
            }
        );
        assert_eq!(s.used, 15);
        let s = clf(b"07/Dec/2026:03:57:42 +0100] \"GET").unwrap();
        assert_eq!(
            s.time,
            LogTime::Zoned {
                utc_ns: utc("2026-12-07T02:57:42Z"),
                zone_s: 3600
            }
        );
        assert_eq!(s.used, 26);
        let s = ctime(b"Mon Dec 07 03:57:42.311279 2026] [x").unwrap();
        assert_eq!(
            s.time,
            LogTime::Local {
                days: days_from_civil(2026, 12, 7),
                tod_ns: (3 * 3600 + 57 * 60 + 42) * NS + 311_279_000
            }
        );
        assert_eq!(s.used, 31);
        let s = jul(b"Dec 07, 2026 3:57:42 PM com.example.Client run").unwrap();
        assert_eq!(
            s.time,
            LogTime::Local {
                days: days_from_civil(2026, 12, 7),
                tod_ns: (15 * 3600 + 57 * 60 + 42) * NS
            }
        );
        let s = jul(b"Dec 07, 2026 12:00:01 AM x").unwrap();
        assert!(matches!(s.time, LogTime::Local { tod_ns, .. } if tod_ns == NS));
        assert_eq!(syslog(b"Dex  7 03:57:42"), None);
        assert_eq!(syslog(b"Dec 77 03:57:42"), None);
    }

    #[test]
    fn epochs_by_magnitude() {
        let t = utc("2026-12-07T02:57:42.311Z");
        for (text, gran) in [
            ("1796612262.311", 1_000_000),
            ("1796612262311", 1_000_000),
            ("1796612262311000", 1_000),
            ("1796612262311000000", 1),
        ] {
            let s = epoch(text).unwrap();
            assert_eq!(
                s.time,
                LogTime::Zoned {
                    utc_ns: t,
                    zone_s: 0
                },
                "{text}"
            );
            assert_eq!(s.granularity_ns, gran, "{text}");
        }
        assert_eq!(epoch("1796612262").unwrap().granularity_ns, NS);
        for bad in [
            "",
            "12",
            "abc",
            "1796612262.x",
            "-1796612262",
            "99999999999999999999",
        ] {
            assert_eq!(epoch(bad), None, "{bad}");
        }
    }

    #[test]
    fn zones() {
        assert_eq!(zone(b"Z"), Some((0, 1)));
        assert_eq!(zone(b"+05:30"), Some((19800, 6)));
        assert_eq!(zone(b"-0300"), Some((-10800, 5)));
        assert_eq!(zone(b"+01 x"), Some((3600, 3)));
        assert_eq!(zone(b"+99:00"), None);
        assert_eq!(zone(b"x"), None);
    }

    #[test]
    fn years_beyond_capture_times_are_not_stamps() {
        // Found by the `durations` fuzz target: year 1013 with a zone overflowed i64 ns.
        assert!(iso(b"1013-12-07T19:18:00+05:15").is_none());
        assert!(iso(b"9999-12-31T23:59:59Z").is_none());
        assert!(clf(b"07/Dec/1013:19:18:00 +0000").is_none());
        assert!(iso(b"2261-12-31T23:59:59-14:00").is_some());
        assert!(iso(b"1678-01-01T00:00:00+14:00").is_some());
    }
}
