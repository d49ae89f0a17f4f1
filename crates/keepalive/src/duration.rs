//! Duration strings in nginx's syntax (`75s`, `30m`, `1h30m`, `500ms`, bare numbers = seconds).

use std::fmt;
use std::time::Duration;

/// Why a duration, a keep-alive specification or another setting could not be parsed.
///
/// The message names the offending input and what would have been accepted, so it can be shown
/// to a user as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    what: &'static str,
    input: String,
    reason: String,
}

impl ParseError {
    pub(crate) fn new(what: &'static str, input: &str, reason: impl Into<String>) -> Self {
        ParseError {
            what,
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

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} `{}`: {}", self.what, self.input, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// Units in the order nginx requires them: each at most once, largest first.
const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

const ACCEPTED: &str = "use a number with a unit: ms, s, m, h, d (e.g. `75s`, `30m`, `1h30m`, `500ms`); a bare number means seconds";

/// Parses a duration the way nginx reads time values in its configuration.
///
/// Accepted: `500ms`, `75s`, `30m`, `2h`, `1d`, combinations from largest to smallest unit with
/// each unit at most once (`1h30m`, `1m30s`, `1h 30m`), and a bare number meaning seconds, also
/// as the last part of a combination (`1m30` = 90 s). Not accepted: fractions (`1.5s`), signs,
/// units out of order (`30s1m`), repeated units, values that overflow.
pub fn parse_duration(s: &str) -> Result<Duration, ParseError> {
    parse_duration_as("duration", s)
}

pub(crate) fn parse_duration_as(what: &'static str, s: &str) -> Result<Duration, ParseError> {
    let err = |reason: String| ParseError::new(what, s, reason);
    if s.trim().is_empty() {
        return Err(err(format!("empty; {ACCEPTED}")));
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total_ms: u64 = 0;
    // Index into UNITS of the smallest unit used so far; the next one must be smaller.
    let mut last_unit: Option<usize> = None;
    let mut saw_bare = false;
    while i < bytes.len() {
        if bytes[i] == b' ' {
            i += 1;
            continue;
        }
        if saw_bare {
            return Err(err(format!(
                "a bare number (seconds) can only be the last part; {ACCEPTED}"
            )));
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            let c = s[i..].chars().next().unwrap_or(' ');
            let reason = match c {
                '-' | '+' => "a duration has no sign".to_string(),
                _ => format!("expected a number at byte {start}, found `{c}`; {ACCEPTED}"),
            };
            return Err(err(reason));
        }
        let number: u64 = s[start..i]
            .parse()
            .map_err(|_| err("number too large".to_string()))?;
        if i < bytes.len() && (bytes[i] == b'.' || bytes[i] == b',') {
            return Err(err(
                "fractions are not accepted; use a smaller unit (e.g. `1500ms`, `90s`)".into(),
            ));
        }
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[unit_start..i];
        let (index, scale) = if unit.is_empty() {
            saw_bare = true;
            (3, 1_000)
        } else {
            match UNITS.iter().position(|(name, _)| *name == unit) {
                Some(index) => (index, UNITS[index].1),
                None => {
                    return Err(err(format!("unknown unit `{unit}`; {ACCEPTED}")));
                }
            }
        };
        if let Some(last) = last_unit {
            if index <= last {
                let shown = if unit.is_empty() { "seconds" } else { unit };
                return Err(err(format!(
                    "`{shown}` after `{}`: units must go from largest to smallest, each at most once",
                    UNITS[last].0
                )));
            }
        }
        last_unit = Some(index);
        total_ms = number
            .checked_mul(scale)
            .and_then(|v| total_ms.checked_add(v))
            .ok_or_else(|| err("too large".to_string()))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration compactly in the same syntax `parse_duration` reads (`2h`, `1h30m`,
/// `1m15s`, `250ms`, `0s`), so values printed by keepsight can be pasted back into a flag.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (name, scale) in UNITS {
        let scale = u128::from(scale);
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

    fn ok(s: &str) -> u64 {
        parse_duration(s).unwrap().as_millis() as u64
    }

    fn bad(s: &str) -> String {
        parse_duration(s).unwrap_err().to_string()
    }

    #[test]
    fn units_and_combinations() {
        assert_eq!(ok("75s"), 75_000);
        assert_eq!(ok("75"), 75_000);
        assert_eq!(ok("30m"), 1_800_000);
        assert_eq!(ok("2h"), 7_200_000);
        assert_eq!(ok("1d"), 86_400_000);
        assert_eq!(ok("500ms"), 500);
        assert_eq!(ok("1h30m"), 5_400_000);
        assert_eq!(ok("1h 30m"), 5_400_000);
        assert_eq!(ok("1m30"), 90_000);
        assert_eq!(ok("1s500ms"), 1_500);
        assert_eq!(ok("0"), 0);
    }

    #[test]
    fn precise_errors() {
        assert!(bad("").contains("empty"));
        assert!(bad("30x").contains("unknown unit `x`"));
        assert!(bad("1.5s").contains("fractions"));
        assert!(bad("-5s").contains("no sign"));
        assert!(bad("30s1m").contains("`m` after `s`"));
        assert!(bad("1m1m").contains("`m` after `m`"));
        assert!(bad("30 1m").contains("last part"));
        assert!(bad("s").contains("expected a number at byte 0"));
        assert!(bad("99999999999999999999d").contains("too large"));
        assert!(bad("9999999999999999d").contains("too large"));
        assert_eq!(bad("30x"), "invalid duration `30x`: unknown unit `x`; use a number with a unit: ms, s, m, h, d (e.g. `75s`, `30m`, `1h30m`, `500ms`); a bare number means seconds");
    }

    #[test]
    fn format_round_trips() {
        for s in ["2h", "1h30m", "1m15s", "250ms", "0s", "1d2h3m4s5ms"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
