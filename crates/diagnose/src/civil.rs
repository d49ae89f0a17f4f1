//! Calendar arithmetic and UTC timestamps for the diagnosis: keepsight-time's, under the names
//! this crate uses.

pub use keepsight_time::civil::{civil_from_days, clock_millis as fmt_clock, days_from_civil};
pub use keepsight_time::rfc3339::format_micros as fmt_utc;
pub use keepsight_time::{DAY_NS, NS};
