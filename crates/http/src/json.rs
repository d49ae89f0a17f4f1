//! The JSON rendering of a [`Report`] (`keepsight http --json`), following keepsight's one JSON
//! convention (as `keepsight diagnose --json`): times are RFC 3339 UTC strings
//! (`2024-03-01T09:00:37.825977Z`), durations float seconds in fields named `_s`.
//!
//! Schema 2 (schema 1, before this convention, wrote integer nanoseconds in `_ns` fields and
//! times as nanoseconds since the epoch): see the README's "JSON conventions".

use crate::model::Report;
use serde::{Serialize, Serializer};

/// The schema number of [`Document`]; renaming or removing a field bumps it.
pub const SCHEMA: u32 = 2;

/// What `keepsight http --json` prints: the schema number, then the report's fields.
#[derive(Serialize)]
pub struct Document<'a> {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The report, its fields at the top level.
    #[serde(flatten)]
    pub report: &'a Report,
}

impl<'a> Document<'a> {
    /// The report under the current [`SCHEMA`].
    pub fn new(report: &'a Report) -> Self {
        Document {
            schema: SCHEMA,
            report,
        }
    }
}

/// A capture time (ns since the epoch) as RFC 3339 UTC with microseconds.
pub(crate) fn time<S: Serializer>(ns: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&keepsight_time::rfc3339::format_micros(*ns))
}

/// A duration in ns as float seconds.
pub(crate) fn secs<S: Serializer>(ns: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(keepsight_time::secs_f64(*ns))
}

/// [`secs`] of an optional duration (`None` only reaches here when not skipped: `null`).
pub(crate) fn opt_secs<S: Serializer>(ns: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    ns.map(keepsight_time::secs_f64).serialize(s)
}

/// [`secs`] of each duration.
pub(crate) fn secs_list<S: Serializer>(ns: &[i64], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(ns.iter().map(|&n| keepsight_time::secs_f64(n)))
}
