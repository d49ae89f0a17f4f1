//! Time for every keepsight crate, written once: civil (proleptic Gregorian) date arithmetic,
//! RFC 3339 UTC timestamps, the timestamps application logs write, and the one duration
//! grammar all command-line flags and configuration values read.
//!
//! No time-zone database: times are UTC (local time, where tshark shows it, is the C library's
//! business in keepsight-fields). Timestamps are `i64` nanoseconds since the Unix epoch, the
//! unit captures and analyses use.

pub mod civil;
pub mod duration;
pub mod logstamp;
pub mod rfc3339;

pub use civil::{civil_from_days, days_from_civil, http_date, DAY_NS, NS};
pub use duration::{format_duration, parse_duration, DurationError, ACCEPTED_FORMS};

/// Seconds as a float, the unit of every `_s` field in keepsight's JSON.
pub fn secs_f64(ns: i64) -> f64 {
    ns as f64 / 1e9
}
