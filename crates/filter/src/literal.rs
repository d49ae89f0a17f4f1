//! Turning the text of a literal into a value of the type the other side of the comparison
//! wants. tshark decides how to read `010` or `01:02` from the field it is compared with, so
//! the same word can be octal 8 (`tcp.len == 010`) or the bytes `01 00` (`tcp.payload == 010`).
//! Every rule here was checked against tshark 4.0.17.

use crate::value::Val;
use std::borrow::Cow;

/// Parses an integer the way tshark's dfilter does: optional sign, then `0x`/`0X` hex, `0b`/`0B`
/// binary, a leading `0` for octal, else decimal.
pub(crate) fn parse_int(text: &str) -> Result<i128, String> {
    let bad = || format!("`{text}` is not a valid number");
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) =
        if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, h)
        } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, b)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(bad());
    }
    let v = u64::from_str_radix(digits, radix)
        .map_err(|_| format!("`{text}` causes an integer overflow"))?;
    Ok(if neg { -(v as i128) } else { v as i128 })
}

/// Reads hex digit groups separated by `:`, `.` or `-`. Within a group digits pair up from the
/// left and a lone last digit is a byte of its own (`abc` is `ab 0c`, `1.2` is `01 02`): that is
/// what tshark 4.0 does, surprising as it is. `0xHH` is one byte.
pub(crate) fn parse_bytes(text: &str) -> Result<Vec<u8>, String> {
    let bad = || format!("`{text}` is not a valid byte string");
    if let Some(h) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        if h.len() == 2 {
            return u8::from_str_radix(h, 16)
                .map(|b| vec![b])
                .map_err(|_| bad());
        }
        return Err(bad());
    }
    // tshark accepts one trailing dash (`01-`), but not a trailing `:` or `.`.
    let body = text.strip_suffix('-').unwrap_or(text);
    if body.is_empty() {
        return Err(bad());
    }
    let mut out = Vec::new();
    for group in body.split([':', '.', '-']) {
        if group.is_empty() || !group.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        for pair in group.as_bytes().chunks(2) {
            let s = std::str::from_utf8(pair).map_err(|_| bad())?;
            out.push(u8::from_str_radix(s, 16).map_err(|_| bad())?);
        }
    }
    Ok(out)
}

pub(crate) fn parse_ether(text: &str) -> Result<[u8; 6], String> {
    let b = parse_bytes(text).map_err(|_| format!("`{text}` is not a valid Ethernet address"))?;
    match b.len() {
        6 => Ok([b[0], b[1], b[2], b[3], b[4], b[5]]),
        n if n < 6 => Err(format!(
            "`{text}` has too few bytes for an Ethernet address (6 needed)"
        )),
        _ => Err(format!(
            "`{text}` has too many bytes for an Ethernet address (6 needed)"
        )),
    }
}

fn split_prefix(text: &str, max: u32) -> Result<(&str, u32), String> {
    match text.split_once('/') {
        None => Ok((text, max)),
        Some((a, p)) => match p.parse::<u32>() {
            Ok(n) if n <= max => Ok((a, n)),
            _ => Err(format!("`/{p}` is not a valid prefix length (0 to {max})")),
        },
    }
}

pub(crate) fn parse_ipv4(text: &str) -> Result<Val<'static>, String> {
    let (addr, bits) = split_prefix(text, 32)?;
    let a: std::net::Ipv4Addr = addr.parse().map_err(|_| {
        format!("`{text}` is not an IPv4 address (keepsight does not resolve host names; write e.g. 10.0.0.1 or 10.0.0.0/24)")
    })?;
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    Ok(Val::V4(u32::from(a), mask))
}

pub(crate) fn parse_ipv6(text: &str) -> Result<Val<'static>, String> {
    let (addr, bits) = split_prefix(text, 128)?;
    let a: std::net::Ipv6Addr = addr.parse().map_err(|_| {
        format!("`{text}` is not an IPv6 address (keepsight does not resolve host names; write e.g. 2001:db8::1 or fe80::/10)")
    })?;
    let mask = if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits)
    };
    Ok(Val::V6(u128::from(a), mask))
}

/// Seconds with an optional fraction, as relative times are written (`40`, `0.5`). Like
/// tshark 4.0: at most nine fraction digits, and whatever follows them is ignored (`1.5e1` is
/// 1.5 s), but a number without a dot must be all digits (`1e2` is refused).
pub(crate) fn parse_seconds(text: &str) -> Result<i64, String> {
    seconds(text, false).ok_or_else(|| {
        format!("`{text}` is not a valid time in seconds (e.g. 40 or 0.25; at most 9 decimals)")
    })
}

/// `lenient_fraction`: extra fraction digits are dropped instead of refused (absolute times).
fn seconds(text: &str, lenient_fraction: bool) -> Option<i64> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, text),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if int.is_empty() || !int.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let digits = frac.map_or(0, |f| f.bytes().take_while(u8::is_ascii_digit).count());
    if digits > 9 && !lenient_fraction {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let mut ns: i64 = 0;
    for (i, c) in frac.unwrap_or("").bytes().take(digits.min(9)).enumerate() {
        ns += i64::from(c - b'0') * 10i64.pow(8 - i as u32);
    }
    let total = secs.checked_mul(1_000_000_000)?.checked_add(ns)?;
    Some(if neg { -total } else { total })
}

pub(crate) fn parse_float(text: &str) -> Result<f64, String> {
    let ok = !text.is_empty()
        && text
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+' | b'e' | b'E'));
    text.parse::<f64>()
        .ok()
        .filter(|_| ok)
        .ok_or_else(|| format!("`{text}` is not a valid number"))
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// Absolute times, UTC: `"Jan  1, 1970 00:00:00.5"` (seconds required), `"1970-01-01"`,
/// `"1970-01-01 13:45"`, `"1970-01-01T13:45:00Z"`, `"1970-01-01T13:45:00+01:00"`. tshark reads
/// them in the local time zone; keepsight's tests run it on UTC machines, where the two agree.
pub(crate) fn parse_abs_time(text: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "`{text}` is not a date keepsight understands; write \"Nov 12, 1999 08:55:44.123\" or \"2011-07-04 12:34:56\" (UTC)"
        )
    };
    if text.starts_with(char::is_whitespace) {
        return Err(bad());
    }
    let t = text.trim_end();
    let t = t
        .strip_suffix("UTC")
        .or_else(|| t.strip_suffix('Z'))
        .unwrap_or(t)
        .trim_end();
    if let Some((md, rest)) = t.split_once(',') {
        // "Mon DD, YYYY HH:MM:SS[.frac]"
        let mut it = md.split_whitespace();
        let mon = it.next().ok_or_else(bad)?.to_ascii_lowercase();
        let day: u32 = it.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        if it.next().is_some() {
            return Err(bad());
        }
        let m = MONTHS.iter().position(|&m| mon == m).ok_or_else(bad)? as u32 + 1;
        let mut rest = rest.split_whitespace();
        let y: i64 = rest.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let tm = rest.next().ok_or_else(bad)?;
        if rest.next().is_some() || tm.split(':').count() != 3 {
            return Err(bad());
        }
        return combine(y, m, day, tm).ok_or_else(bad);
    }
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, tm.trim_start()),
        None => (t, "00:00:00"),
    };
    // A numeric offset after the time: "+01:00" means the clock ran one hour ahead of UTC.
    let (time, offset_s) = match time.rfind(['+', '-']) {
        Some(i) => {
            let (h, m) = time[i + 1..]
                .split_once(':')
                .unwrap_or((&time[i + 1..], "0"));
            let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            let sign = if time.as_bytes()[i] == b'-' { -1 } else { 1 };
            (&time[..i], sign * (h * 3600 + m * 60))
        }
        None => (time, 0),
    };
    let mut it = date.split('-');
    let y: i64 = it.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let m: u32 = it.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let d: u32 = it.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    if it.next().is_some() {
        return Err(bad());
    }
    let t = combine(y, m, d, time).ok_or_else(bad)?;
    t.checked_sub(offset_s * 1_000_000_000).ok_or_else(bad)
}

fn combine(y: i64, m: u32, d: u32, time: &str) -> Option<i64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1..=9999).contains(&y) {
        return None;
    }
    let mut parts = time.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let mi: i64 = parts.next().unwrap_or("0").parse().ok()?;
    let sec_text = parts.next().unwrap_or("0");
    if parts.next().is_some() || h > 23 || mi > 59 {
        return None;
    }
    let sec_ns = seconds(sec_text, true)?;
    if !(0..61_000_000_000).contains(&sec_ns) {
        return None;
    }
    let days = keepsight_time::days_from_civil(y, m, d);
    days.checked_mul(86_400)?
        .checked_add(h * 3600 + mi * 60)?
        .checked_mul(1_000_000_000)?
        .checked_add(sec_ns)
}

/// The bytes of a string literal, borrowed for the lifetime of the compiled filter.
pub(crate) fn owned(bytes: Vec<u8>) -> Val<'static> {
    Val::Bytes(Cow::Owned(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_int("010"), Ok(8));
        assert_eq!(parse_int("0x1"), Ok(1));
        assert_eq!(parse_int("0B10"), Ok(2));
        assert_eq!(parse_int("+2"), Ok(2));
        assert_eq!(parse_int("-1"), Ok(-1));
        assert_eq!(parse_int("0"), Ok(0));
        assert!(parse_int("08").is_err());
        assert!(parse_int("1.0").is_err());
        assert!(parse_int("0x").is_err());
        assert!(parse_int("18446744073709551617")
            .unwrap_err()
            .contains("overflow"));
    }

    #[test]
    fn byte_strings_follow_tshark() {
        assert_eq!(parse_bytes("01"), Ok(vec![1]));
        assert_eq!(parse_bytes("1"), Ok(vec![1]));
        assert_eq!(parse_bytes("0102"), Ok(vec![1, 2]));
        assert_eq!(parse_bytes("102"), Ok(vec![0x10, 2]));
        assert_eq!(parse_bytes("abc"), Ok(vec![0xab, 0x0c]));
        assert_eq!(parse_bytes("1.2"), Ok(vec![1, 2]));
        assert_eq!(parse_bytes("001.02"), Ok(vec![0, 1, 2]));
        assert_eq!(parse_bytes("41-41"), Ok(vec![0x41, 0x41]));
        assert_eq!(parse_bytes("01-"), Ok(vec![1]));
        assert_eq!(parse_bytes("0x41"), Ok(vec![0x41]));
        assert!(parse_bytes("0xc").is_err());
        assert!(parse_bytes("0x0102").is_err());
        assert!(parse_bytes("01::02").is_err());
        assert!(parse_bytes("hello").is_err());
    }

    #[test]
    fn addresses_and_times() {
        assert_eq!(
            parse_ipv4("10.0.0.0/24"),
            Ok(Val::V4(0x0a00_0000, 0xffff_ff00))
        );
        assert!(parse_ipv4("10.1").is_err());
        assert!(parse_ipv4("10.0.0.0/33").is_err());
        assert_eq!(parse_ether("0200.0000.0001"), Ok([2, 0, 0, 0, 0, 1]));
        assert!(parse_ether("02:00:00:00:00").is_err());
        assert_eq!(parse_seconds("0.001"), Ok(1_000_000));
        assert_eq!(parse_seconds("-1.5"), Ok(-1_500_000_000));
        assert!(parse_seconds("1e2").is_err());
        assert_eq!(
            parse_seconds("1.5e1"),
            Ok(1_500_000_000),
            "tshark ignores what follows the digits"
        );
        assert!(parse_seconds("40.0000000001").is_err(), "ten decimals");
        assert!(
            parse_abs_time("Jan 12, 1970 13:50").is_err(),
            "seconds are required here"
        );
        assert!(parse_abs_time("January 12, 1970 13:50:00").is_err());
        assert!(parse_abs_time(" Jan 12, 1970 13:50:00").is_err());
        assert_eq!(
            parse_abs_time("1970-01-12T13:50:00+01:00"),
            parse_abs_time("1970-01-12 12:50:00")
        );
        assert_eq!(
            parse_abs_time("1970-01-12 13:50"),
            parse_abs_time("Jan 12,1970  13:50:00")
        );
        let a = parse_abs_time("Jan 12, 1970 13:50:00").unwrap();
        assert_eq!(a, parse_abs_time("1970-01-12 13:50:00").unwrap());
        assert_eq!(a, parse_abs_time("1970-01-12T13:50:00Z").unwrap());
        assert_eq!(a, (11 * 86_400 + 13 * 3600 + 50 * 60) * 1_000_000_000);
        assert!(parse_abs_time("yesterday").is_err());
    }
}
