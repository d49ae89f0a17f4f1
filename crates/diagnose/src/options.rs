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
    /// The application's logs (client and server, say), each lined up with the capture on
    /// its own (its own format, zone and clock offset).
    pub logs: Vec<AppLog>,
    /// Cap on findings of one kind (the rest are counted in `findings_dropped`).
    pub max_findings_per_kind: usize,
    /// TCP port ranges (inclusive) whose streams are HTTP/2 from their first byte (tshark's
    /// `-d tcp.port==N,http2`), for captures that begin after the connection preface.
    pub http2_ports: Vec<(u16, u16)>,
    /// TCP port ranges (inclusive) whose streams are WebSocket from their first byte (tshark's
    /// `-d tcp.port==N,websocket`), for captures that begin after the upgrade.
    pub websocket_ports: Vec<(u16, u16)>,
    /// `--tls-keylog`: the secrets that decrypt TLS streams, so their heartbeats are found by
    /// their exact (decrypted) bytes, and their alerts read, as on cleartext streams.
    pub tls_keys: Option<std::sync::Arc<keepsight_tls::KeyLog>>,
    /// Keep every beat of each candidate heartbeat (probe and reply frames and times), so the
    /// report can list the chosen heartbeat's beats one by one ([`crate::Report::beats`]).
    /// Off by default: it costs memory in proportion to the beats, which only a caller that
    /// writes them all out (a per-beat table) should pay.
    pub record_beats: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            period_ns: None,
            timeout_ns: None,
            probe: None,
            reply: None,
            middleboxes: DEFAULT_TABLE.to_vec(),
            logs: Vec::new(),
            max_findings_per_kind: 20_000,
            http2_ports: Vec::new(),
            websocket_ports: Vec::new(),
            tls_keys: None,
            record_beats: false,
        }
    }
}

/// A heartbeat duration (`--period`, `--timeout`) in nanoseconds: keepsight's one duration
/// grammar ([`keepsight_time::parse_duration`]: `45s`, `1.5s`, `500ms`, `250us`, `2m`, a bare
/// number of seconds), above zero.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let d = keepsight_time::parse_duration(s).map_err(|e| e.reason().to_string())?;
    match i64::try_from(d.as_nanos()) {
        Ok(0) => Err("must be above zero".into()),
        Ok(ns) => Ok(ns),
        Err(_) => Err("too large".into()),
    }
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
        assert_eq!(parse_duration("45s"), Ok(45_000_000_000));
        assert_eq!(parse_duration("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_duration("500ms"), Ok(500_000_000));
        assert_eq!(parse_duration("250us"), Ok(250_000));
        assert_eq!(parse_duration("2m"), Ok(120_000_000_000));
        assert!(parse_duration("-1s").unwrap_err().contains("no sign"));
        assert!(parse_duration("0s").unwrap_err().contains("above zero"));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(parse_hex("01"), Some(vec![1]));
        assert_eq!(parse_hex("0x41"), Some(vec![0x41]));
        assert_eq!(parse_hex("de:ad"), Some(vec![0xde, 0xad]));
        assert_eq!(parse_hex("1"), None);
        assert_eq!(parse_hex("zz"), None);
    }
}
