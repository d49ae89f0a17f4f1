//! The one duration grammar of keepsight: every flag that takes a duration (`--every`,
//! `--period`, `--idle`, `--keepalive-timeout`...) and every nginx-style value inside another
//! (`so_keepalive=30m::10`, `0.1..1.0 over 10m`) reads it through [`parse_duration`].
//!
//! It is nginx's time syntax (a number with a unit, combinations from the largest unit to the
//! smallest with each unit at most once, spaces allowed between parts, a bare number meaning
//! seconds, also as the last part: `1m30` is 90 s, as nginx reads it) extended with what
//! measuring needs: a decimal fraction on the last part (`1.5s`, `0.25`) and units below the
//! millisecond (`us`, `ns`).

use std::fmt;
use std::time::Duration;

/// The forms accepted, for error messages and help texts.
pub const ACCEPTED_FORMS: &str = "use a number with a unit: ns, us, ms, s, m, h, d, w \
     (e.g. `1.5s`, `500ms`, `30m`, `1h30m`, `2d`); a bare number means seconds";

/// Units from largest to smallest, with their length in nanoseconds. Aliases share a rank: a
/// combination must use strictly decreasing ranks.
const UNITS: [(&str, u8, u64); 13] = [
    ("y", 0, 365 * 86_400 * 1_000_000_000),
    ("M", 1, 30 * 86_400 * 1_000_000_000),
    ("w", 2, 7 * 86_400 * 1_000_000_000),
    ("d", 3, 86_400 * 1_000_000_000),
    ("h", 4, 3_600 * 1_000_000_000),
    ("m", 5, 60 * 1_000_000_000),
    ("min", 5, 60 * 1_000_000_000),
    ("s", 6, 1_000_000_000),
    ("sec", 6, 1_000_000_000),
    ("ms", 7, 1_000_000),
    ("us", 8, 1_000),
    ("µs", 8, 1_000),
    ("ns", 9, 1),
];

/// The rank of seconds, which a bare number has.
const SECONDS_RANK: u8 = 6;

/// The longest duration accepted: what fits in `i64` nanoseconds (about 292 years), the unit
/// timestamps and analyses use.
pub const MAX: Duration = Duration::from_nanos(i64::MAX as u64);

/// Why a duration does not parse. The text names the input and what is accepted; a front end
/// adds the flag (clap does so for value parsers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    input: String,
    reason: String,
}

impl DurationError {
    fn new(input: &str, reason: impl Into<String>) -> Self {
        DurationError {
            input: input.to_string(),
            reason: reason.into(),
        }
    }

    /// The text that was rejected.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Why it was rejected, without the input.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid duration `{}`: {}", self.input, self.reason)
    }
}

impl std::error::Error for DurationError {}

/// Parses a duration: `1.5s`, `500ms`, `30m`, `1h30m`, `1h 30m`, `2d`, `250us`, `45` (seconds),
/// `1m30` (90 s, as nginx). Rejected, with a reason: empty text, signs, unknown units, units out
/// of order or repeated, a fraction before the last part, more than [`MAX`].
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let err = |reason: String| DurationError::new(s, reason);
    let text = s.trim();
    if text.is_empty() {
        return Err(err(format!("empty; {ACCEPTED_FORMS}")));
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut total: u128 = 0;
    // Rank of the smallest unit used so far; the next must be smaller.
    let mut last: Option<(u8, &str)> = None;
    let mut finished = false;
    while i < bytes.len() {
        if bytes[i] == b' ' {
            i += 1;
            continue;
        }
        if finished {
            return Err(err(format!(
                "only the last part may be a bare number or have a fraction; {ACCEPTED_FORMS}"
            )));
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let whole = &text[start..i];
        let mut fraction = "";
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            let from = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            fraction = &text[from..i];
            finished = true;
            if fraction.is_empty() {
                return Err(err(format!(
                    "a `.` must be followed by digits; {ACCEPTED_FORMS}"
                )));
            }
        }
        if whole.is_empty() && fraction.is_empty() {
            let c = text[i..].chars().next().unwrap_or(' ');
            let reason = match c {
                '-' | '+' => format!("a duration has no sign; {ACCEPTED_FORMS}"),
                _ => format!("expected a number, found `{c}`; {ACCEPTED_FORMS}"),
            };
            return Err(err(reason));
        }
        let unit_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_digit() && !matches!(bytes[i], b' ' | b'.') {
            i += 1;
        }
        let unit = &text[unit_start..i];
        let (rank, scale) = if unit.is_empty() {
            finished = true;
            (SECONDS_RANK, 1_000_000_000)
        } else {
            match UNITS.iter().find(|(name, _, _)| *name == unit) {
                Some(&(_, rank, scale)) => (rank, scale),
                None => return Err(err(format!("unknown unit `{unit}`; {ACCEPTED_FORMS}"))),
            }
        };
        if let Some((last_rank, last_unit)) = last {
            if rank <= last_rank {
                let shown = if unit.is_empty() { "seconds" } else { unit };
                return Err(err(format!(
                    "`{shown}` after `{last_unit}`: units go from largest to smallest, each at most once"
                )));
            }
        }
        last = Some((rank, if unit.is_empty() { "s" } else { unit }));
        total = part_ns(whole, fraction, scale)
            .and_then(|ns| total.checked_add(ns))
            .filter(|t| *t <= MAX.as_nanos())
            .ok_or_else(|| err("too large: at most about 292 years".to_string()))?;
    }
    Ok(Duration::from_nanos(total as u64))
}

/// `whole.fraction` units of `scale` ns, truncated to the nanosecond; `None` on overflow.
fn part_ns(whole: &str, fraction: &str, scale: u64) -> Option<u128> {
    let scale = u128::from(scale);
    let mut ns: u128 = 0;
    for d in whole.bytes() {
        ns = ns.checked_mul(10)?.checked_add(u128::from(d - b'0'))?;
        // Stop early: anything past MAX is refused anyway, and this keeps the product small.
        if ns > MAX.as_nanos() {
            return None;
        }
    }
    ns = ns.checked_mul(scale)?;
    // 18 digits are below a nanosecond even for the largest unit.
    let digits = &fraction.as_bytes()[..fraction.len().min(18)];
    let mut numerator: u128 = 0;
    for d in digits {
        numerator = numerator * 10 + u128::from(d - b'0');
    }
    let denominator = 10u128.pow(digits.len() as u32);
    ns.checked_add(numerator * scale / denominator)
}

/// Formats a duration compactly in the grammar [`parse_duration`] reads (`2h`, `1h30m`,
/// `1m15s`, `250ms`, `0s`), to the millisecond, so values keepsight prints can be pasted back
/// into a flag.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (name, scale) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= scale {
            out.push_str(&format!("{}{}", ms / scale, name));
            ms %= scale;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(s: &str) -> u128 {
        parse_duration(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .as_nanos()
    }

    fn bad(s: &str) -> String {
        parse_duration(s).unwrap_err().to_string()
    }

    const MS: u128 = 1_000_000;
    const SEC: u128 = 1_000_000_000;

    #[test]
    fn units_and_combinations() {
        assert_eq!(ns("1.5s"), 1_500 * MS);
        assert_eq!(ns("500ms"), 500 * MS);
        assert_eq!(ns("30m"), 1_800 * SEC);
        assert_eq!(ns("1h30m"), 5_400 * SEC);
        assert_eq!(ns("1h 30m"), 5_400 * SEC);
        assert_eq!(ns("2d"), 172_800 * SEC);
        assert_eq!(ns("1w"), 604_800 * SEC);
        assert_eq!(ns("75"), 75 * SEC);
        assert_eq!(ns("0"), 0);
        assert_eq!(ns("0.25"), 250 * MS);
        assert_eq!(ns(".5s"), 500 * MS);
        assert_eq!(ns("1s500ms"), 1_500 * MS);
        assert_eq!(ns("250us"), 250_000);
        assert_eq!(ns("250µs"), 250_000);
        assert_eq!(ns("7ns"), 7);
        assert_eq!(ns("1.5h"), 5_400 * SEC);
        assert_eq!(ns("2min"), 120 * SEC);
        assert_eq!(ns("45sec"), 45 * SEC);
        assert_eq!(ns(" 10s "), 10 * SEC);
        // Fractions are truncated to the nanosecond, never rounded up.
        assert_eq!(ns("0.0000000019s"), 1);
    }

    #[test]
    fn nginx_forms() {
        // nginx's own examples and what so_keepalive=30m::10 needs.
        assert_eq!(ns("30m"), 1_800 * SEC);
        assert_eq!(ns("1h"), 3_600 * SEC);
        assert_eq!(ns("10s"), 10 * SEC);
        assert_eq!(ns("1y"), 365 * 86_400 * SEC);
        assert_eq!(ns("1M"), 30 * 86_400 * SEC);
        // A bare number as the last part is seconds, as nginx reads `1h30`: not 1h30m.
        assert_eq!(ns("1h30"), 3_630 * SEC);
        assert_eq!(ns("1m30"), 90 * SEC);
    }

    #[test]
    fn precise_errors() {
        assert!(bad("").contains("empty"));
        assert!(bad("   ").contains("empty"));
        assert!(bad("-5s").contains("no sign"));
        assert!(bad("+5s").contains("no sign"));
        assert!(bad("30x").contains("unknown unit `x`"));
        assert!(bad("30s1m").contains("`m` after `s`"));
        assert!(bad("1m1m").contains("`m` after `m`"));
        assert!(bad("1min1m").contains("`m` after `min`"));
        assert!(bad("30 1m").contains("only the last part"));
        assert!(bad("1.5h30m").contains("only the last part"));
        assert!(bad("1.s").contains("followed by digits"));
        assert!(bad("s").contains("expected a number, found `s`"));
        assert!(bad("1.5.5s").contains("only the last part"));
        assert_eq!(
            bad("30x"),
            format!("invalid duration `30x`: unknown unit `x`; {ACCEPTED_FORMS}")
        );
    }

    #[test]
    fn overflow_is_refused_not_wrapped() {
        assert!(bad("99999999999999999999999999999999999999999d").contains("too large"));
        assert!(bad("9999999999999999d").contains("too large"));
        assert!(bad("300y").contains("too large"));
        assert!(bad("292y 6M").contains("too large"));
        assert_eq!(ns("9223372036854775807ns"), MAX.as_nanos());
        assert!(bad("9223372036854775808ns").contains("too large"));
        assert!(bad("9223372036.854775808").contains("too large"));
    }

    #[test]
    fn format_round_trips() {
        for s in ["2h", "1h30m", "1m15s", "250ms", "0s", "1d2h3m4s5ms"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
        assert_eq!(format_duration(parse_duration("1.5s").unwrap()), "1s500ms");
    }
}
