//! What the user may tell the diagnoser; everything is optional.

use crate::log::AppLog;
use crate::middlebox::{Middlebox, DEFAULT_TABLE};

/// Overrides and inputs. `Options::default()` is the no-configuration diagnosis.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--period`: the heartbeat period, instead of estimating it.
    pub period_ns: Option<i64>,
    /// `--timeout`: how long the heartbeat sender waits for the reply.
    pub timeout_ns: Option<i64>,
    /// `--probe`: exact probe payload; only this payload is taken as the heartbeat probe.
    pub probe: Option<Vec<u8>>,
    /// `--reply`: exact reply payload; only this payload counts as the answer.
    pub reply: Option<Vec<u8>>,
    /// Middlebox idle timeouts to compare idle gaps against.
    pub middleboxes: Vec<Middlebox>,
    /// The application's log, to line up with the capture.
    pub log: Option<AppLog>,
    /// Cap on findings of one kind (the rest are counted in `findings_dropped`).
    pub max_findings_per_kind: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            period_ns: None,
            timeout_ns: None,
            probe: None,
            reply: None,
            middleboxes: DEFAULT_TABLE.to_vec(),
            log: None,
            max_findings_per_kind: 20_000,
        }
    }
}

/// Parses `45s`, `1.5s`, `500ms`, `250us`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "" | "s" | "sec" => 1e9,
        "ms" => 1e6,
        "us" | "µs" => 1e3,
        "ns" => 1.0,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return None,
    };
    let ns = v * mult;
    (ns.is_finite() && ns > 0.0 && ns < 1e18).then_some(ns as i64)
}

/// Parses a hex payload such as `01`, `0x41`, `de:ad:be:ef`.
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !matches!(b, b':' | b' ' | b'-'))
        .collect();
    if digits.is_empty() || digits.len() % 2 == 1 {
        return None;
    }
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_hex() {
        assert_eq!(parse_duration("45s"), Some(45_000_000_000));
        assert_eq!(parse_duration("1.5"), Some(1_500_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("2m"), Some(120_000_000_000));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("abc"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_hex("01"), Some(vec![1]));
        assert_eq!(parse_hex("0x41"), Some(vec![0x41]));
        assert_eq!(parse_hex("de:ad"), Some(vec![0xde, 0xad]));
        assert_eq!(parse_hex("1"), None);
        assert_eq!(parse_hex("zz"), None);
    }
}
