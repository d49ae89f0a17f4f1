//! What the summary of one stream and its parts (the heartbeat, keep-alive and middlebox
//! findings) all need: the stream in context and the units findings are written in. A leaf, so
//! the parts depend on it rather than on the module that calls them.

use crate::options::Options;
use crate::report::{round, secs};
use crate::stream::Stream;

/// Seconds, to the microsecond.
pub(super) fn s3(ns: i64) -> f64 {
    round(secs(ns), 6)
}

/// Milliseconds, to the microsecond.
pub(super) fn ms(ns: i64) -> f64 {
    round(ns as f64 / 1e6, 3)
}

/// The stream being summarized, and which side is the client.
pub(super) struct StreamCx<'a> {
    pub(super) s: &'a Stream,
    pub(super) opts: &'a Options,
    pub(super) client_dir: usize,
}

impl StreamCx<'_> {
    /// `client` or `server`: who sends in direction `d`.
    pub(super) fn role(&self, d: usize) -> &'static str {
        if d == self.client_dir {
            "client"
        } else {
            "server"
        }
    }

    pub(super) fn sid(&self) -> Option<u32> {
        Some(self.s.id)
    }
}

/// When the connection ended: its first RST, else its first FIN.
pub(super) fn close_ts(s: &Stream) -> Option<i64> {
    s.rst
        .map(|r| r.ts)
        .or_else(|| s.dirs.iter().filter_map(|d| d.fin).map(|e| e.ts).min())
}
