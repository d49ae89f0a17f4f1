//! Calendar arithmetic and UTC timestamps for the diagnosis: keepsight-time's, under the names
//! this crate uses.

pub use keepsight_time::civil::{civil_from_days, clock_millis as fmt_clock, days_from_civil};
pub use keepsight_time::rfc3339::format_micros as fmt_utc;
pub use keepsight_time::{DAY_NS, NS};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_ns_is_what_the_shown_text_reads_back_as() {
        for t in [0, 1_709_283_600 * NS + 1_999, -86_400 * NS + 999_001, -1] {
            let shown = keepsight_time::rfc3339::parse(&fmt_utc(t)).unwrap();
            assert_eq!(crate::report::UtcTime(t).shown_ns(), shown, "{t}");
        }
    }
}
