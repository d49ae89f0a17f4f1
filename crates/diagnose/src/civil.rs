//! Calendar arithmetic and UTC timestamps for the diagnosis: keepsight-time's, under the names
//! this crate uses.

pub use keepsight_time::civil::{civil_from_days, clock_millis as fmt_clock, days_from_civil};
pub use keepsight_time::rfc3339::format_micros as fmt_utc;
pub use keepsight_time::{DAY_NS, NS};

/// The time [`fmt_utc`] printed (exactly that form: microseconds, `Z`), back in ns since the
/// epoch.
pub fn parse_utc(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 27 || b[19] != b'.' || b[26] != b'Z' {
        return None;
    }
    keepsight_time::rfc3339::parse(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_utc_reads_what_fmt_utc_writes() {
        for t in [0, 1_709_283_600 * NS + 1_000, -86_400 * NS + 999_000] {
            assert_eq!(parse_utc(&fmt_utc(t)), Some(t));
        }
        assert_eq!(parse_utc("2024-03-01T09:00:00Z"), None);
    }
}
