//! The tallies of failed attempts to one server endpoint, and the limits that keep them small:
//! the leaf the finders (sources, storms, findings) and the analysis share.

use super::distinct::{ip_key, Distinct};
use std::net::{IpAddr, SocketAddr};

/// Streams kept as examples per tally.
pub(crate) const STREAM_SAMPLE: usize = 8;
/// Sources kept per tally for the top sources.
pub(crate) const TOP_SOURCES: usize = 4;
/// Sources a tally counts exactly (then in a 1 KiB sketch): 64 addresses take the sketch's
/// size, and a capture may have a tally for each of many thousand endpoints.
pub(crate) const TALLY_EXACT: usize = 64;
/// Ports and hosts a tracked source counts exactly: a port scan's count stays exact.
pub(crate) const SOURCE_EXACT: usize = 1024;
/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Pending,
    Answered,
    Refused,
    Unanswered,
}

/// An attempt not yet answered, refused or expired.
pub(super) struct Pending {
    pub(super) client: IpAddr,
    pub(super) endpoint: u32,
    pub(super) first_ts: i64,
    pub(super) last_ts: i64,
    pub(super) first_frame: u32,
    pub(super) syns: u32,
}

/// The failed attempts of one kind (refused or unanswered) to one server endpoint.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) attempts: u64,
    pub(crate) syns: u64,
    pub(crate) first_ts: i64,
    pub(crate) first_frame: u32,
    pub(crate) last_ts: i64,
    pub(crate) sources: Distinct<TALLY_EXACT>,
    /// Space-saving counts of the sources with the most attempts.
    pub(crate) top: Vec<(IpAddr, u64)>,
    pub(crate) streams: Vec<u32>,
    /// Some attempt waited long enough to prove the silence.
    pub(crate) waited: bool,
}

impl Tally {
    pub(super) fn add(&mut self, p: &Pending, stream: u32, end_ts: i64, waited: bool) {
        if self.attempts == 0 || p.first_ts < self.first_ts {
            self.first_ts = p.first_ts;
            self.first_frame = p.first_frame;
        }
        self.last_ts = if self.attempts == 0 {
            end_ts
        } else {
            self.last_ts.max(end_ts)
        };
        self.attempts += 1;
        self.syns += u64::from(p.syns);
        self.sources.insert(ip_key(p.client));
        if let Some(t) = self.top.iter_mut().find(|(ip, _)| *ip == p.client) {
            t.1 += 1;
        } else if self.top.len() < TOP_SOURCES {
            self.top.push((p.client, 1));
        } else if let Some(t) = self.top.iter_mut().min_by_key(|(_, n)| *n) {
            *t = (p.client, t.1 + 1);
        }
        if self.streams.len() < STREAM_SAMPLE {
            self.streams.push(stream);
        }
        self.waited |= waited;
    }
}

/// What happened to the attempts to one server endpoint.
pub(crate) struct Endpoint {
    pub(crate) addr: SocketAddr,
    pub(crate) answered: u64,
    /// Attempts first taken for unanswered that got a late answer.
    pub(crate) late_answered: u64,
    pub(crate) refused: Option<Box<Tally>>,
    pub(crate) unanswered: Option<Box<Tally>>,
}
