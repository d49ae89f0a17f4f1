//! `keepsight-tables`: a diagnosis as Parquet tables that query engines read as they are
//! (DuckDB, Spark, Trino, Athena).
//!
//! One capture's [`keepsight_diagnose::Report`] becomes the tables `streams`, `findings`,
//! `heartbeats` (one row per beat, with [`keepsight_diagnose::Options::record_beats`]) and
//! `log_matches`, and optionally `segments` (one row per TCP segment, streamed while the
//! capture is read: [`Segments`]). Each table is a directory of Hive partitions,
//! `DIR/TABLE/host=HOST/date=YYYY-MM-DD/CAPTURE_ID.parquet`, so the files of a fleet's captures
//! can be copied into one tree (or one bucket) and read as one table, with `host` and `date`
//! as columns and partition pruning for free. Every row carries the capture's id and file
//! name, the connection's 5-tuple and its initial sequence numbers, which join rows of one
//! connection seen by two captures.
//!
//! Values follow the JSON report: times are UTC timestamps in microseconds (the JSON's RFC 3339
//! strings), durations float seconds in columns ending in `_s`; a table's rows come in the
//! JSON's order.
//!
//! What it is not: it computes nothing (the diagnosis does) and reads no capture; it writes
//! only what a report (and the caller's segments) hold.

mod column;
mod model;
mod tables;

pub use model::{capture_id, date_of, host_label, id_of, Capture, Error, Isns, Written};
use std::path::Path;
pub use tables::Segments;

/// Writes the report's tables under `dir` (created if missing): `streams`, `findings`,
/// `heartbeats`, and `log_matches` when the report lined a log up. Each file is written under
/// a hidden name and renamed into its partition when complete, so a reader never sees half a
/// file; a capture written again replaces its own files.
pub fn write_report(
    dir: &Path,
    capture: &Capture,
    report: &keepsight_diagnose::Report,
    isns: Isns<'_>,
) -> Result<Vec<Written>, Error> {
    tables::write_report(dir, capture, report, isns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_labels_are_safe_path_components() {
        assert_eq!(
            host_label(Some("web-1.example"), Some("eth0")),
            "web-1.example"
        );
        assert_eq!(host_label(None, Some("eth0")), "eth0");
        assert_eq!(host_label(None, None), "unknown");
        assert_eq!(host_label(Some("  "), None), "unknown");
        assert_eq!(host_label(Some("a/b=c d"), None), "a_b_c_d");
        assert_eq!(host_label(Some(".."), None), "__");
        assert_eq!(
            host_label(Some("\\Device\\NPF_{1}"), None),
            "_Device_NPF__1_"
        );
    }

    #[test]
    fn ids_tell_captures_apart_and_stay_the_same() {
        assert_eq!(id_of(3, b"abc"), id_of(3, b"abc"));
        assert_ne!(id_of(3, b"abc"), id_of(4, b"abc"));
        assert_ne!(id_of(3, b"abc"), id_of(3, b"abd"));
        assert_eq!(id_of(0, b"").len(), 16);
    }

    #[test]
    fn partitions_are_hive_style() {
        let c = Capture {
            id: "00ff".into(),
            file: "x.pcap".into(),
            host: "web-1".into(),
        };
        assert_eq!(date_of(1_700_000_000_000_000_000), "2023-11-14");
        assert_eq!(
            c.partition(Path::new("t"), "streams", "2023-11-14"),
            Path::new("t/streams/host=web-1/date=2023-11-14")
        );
    }
}
