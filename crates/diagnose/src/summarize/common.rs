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

/// How a stream's TCP connection ended: when, `fin` or `rst`, the side `role` names for its
/// sender, and the frame.
pub(super) fn tcp_close(
    s: &Stream,
    role: &dyn Fn(u8) -> &'static str,
) -> Option<(i64, &'static str, &'static str, u32)> {
    let ts = close_ts(s)?;
    let (kind, e) = match s.rst {
        Some(r) if r.ts == ts => ("rst", r),
        _ => (
            "fin",
            s.dirs.iter().filter_map(|d| d.fin).find(|e| e.ts == ts)?,
        ),
    };
    Some((ts, kind, role(e.dir), e.frame))
}

/// The median of `v` (the upper one of an even count), sorting it; `None` when empty.
pub(super) fn median(v: &mut [i64]) -> Option<i64> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}
