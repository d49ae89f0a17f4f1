//! Connection attempts: SYNs nobody answered (`syn_unanswered`), SYNs answered by a reset
//! (`connection_refused`), one source trying many ports or hosts (`scan`), and a client retrying
//! a server after failed attempts (`reconnect_storm`), tied to the earlier connection's death
//! when the capture shows it.
//!
//! An *attempt* is a `tcp.stream` opened by a SYN without ACK; its SYN's sender is the client.
//! It is *answered* by the server's SYN-ACK (or any other packet from the server, or the
//! client's next non-SYN packet: the answer was not captured), *refused* by a RST from the
//! server before that, and *unanswered* when [`UNANSWERED_AFTER_NS`] pass after its last SYN
//! with neither (attempts still open at the end of the capture count as unanswered; a server
//! without a single attempt that waited at least 1 s gets no `syn_unanswered`, so a capture cut
//! right after a SYN does not claim one). A late SYN-ACK still moves an expired attempt to the
//! answered ones.
//!
//! Memory is bounded whatever the capture holds: an attempt is kept only until it is answered,
//! refused or expired (a few seconds), then it is a bit in a per-stream bitset and a count in
//! its server endpoint's tally; distinct sources are counted exactly up to 64 per endpoint (1024 ports or
//! hosts per tracked source) and in a 1 KiB sketch beyond ([`distinct`]); scans are looked for among the 32 sources with the most
//! attempts (space-saving top-k: a scanner with more than 1/32 of all attempts is never
//! missed); retry runs are kept per (client address, server endpoint) for at most
//! [`storm::KEYS`] pairs, 64 attempts each. Server endpoints beyond [`ENDPOINTS`] are counted,
//! not tracked.

mod distinct;
mod findings;
pub(crate) use findings::about;
mod sources;
mod storm;
mod tally;

use crate::finding::Finding;
use crate::report::StreamReport;
use keepsight_tcp::Segment;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use tally::{Endpoint, Outcome, Pending};

/// An attempt with no answer this long after its last SYN is unanswered. Linux retransmits a
/// SYN after 1, 3, 7, 15 ... s: each retransmission restarts the wait.
pub(crate) const UNANSWERED_AFTER_NS: i64 = 3_000_000_000;
/// An unanswered attempt that waited this long proves the silence (not a capture cut).
const WAITED_NS: i64 = 1_000_000_000;
/// Server endpoints tracked one by one.
pub(crate) const ENDPOINTS: usize = 1 << 17;
/// Stream numbers tracked in the bitsets (an engine numbers densely from 0).
const DENSE_BITS: u32 = 1 << 26;

/// One bit per stream number.
#[derive(Default)]
struct Bits {
    dense: Vec<u64>,
    sparse: FxHashSet<u32>,
}

impl Bits {
    #[inline]
    fn get(&self, n: u32) -> bool {
        if n >= DENSE_BITS {
            return self.sparse.contains(&n);
        }
        self.dense
            .get(n as usize / 64)
            .is_some_and(|w| w & (1 << (n % 64)) != 0)
    }

    fn set(&mut self, n: u32, on: bool) {
        if n >= DENSE_BITS {
            if on {
                self.sparse.insert(n);
            } else {
                self.sparse.remove(&n);
            }
            return;
        }
        let w = n as usize / 64;
        if self.dense.len() <= w {
            if !on {
                return;
            }
            self.dense.resize(w + 1, 0);
        }
        if on {
            self.dense[w] |= 1 << (n % 64);
        } else {
            self.dense[w] &= !(1 << (n % 64));
        }
    }
}

/// The connection-attempt analysis: fed every segment in capture order.
#[derive(Default)]
pub(crate) struct Connects {
    pending: FxHashMap<u32, Pending>,
    /// (last SYN time, stream), oldest first; entries of re-sent SYNs are skipped when stale.
    expiry: VecDeque<(i64, u32)>,
    /// Streams opened by a SYN.
    seen: Bits,
    /// Streams whose attempt expired unanswered (a late answer may still come).
    expired: Bits,
    /// Streams with an attempt in `pending`: one bit test spares the other segments a lookup.
    open: Bits,
    endpoints: Vec<Endpoint>,
    endpoint_of: FxHashMap<SocketAddr, u32>,
    /// Attempts to server endpoints beyond [`ENDPOINTS`].
    untracked: u64,
    sources: sources::Sources,
    retries: storm::Retries,
    now: i64,
}

impl Connects {
    pub(crate) fn on_segment(&mut self, seg: &Segment<'_>) {
        let ts = seg.ts_ns;
        if ts > self.now {
            self.now = ts;
            self.expire(ts);
        }
        let f = seg.flags;
        if f.syn() && !f.ack() {
            self.on_syn(seg);
            return;
        }
        if !self.open.get(seg.stream) {
            if f.syn() && f.ack() && self.expired.get(seg.stream) {
                self.late_answer(seg);
            }
            return;
        }
        if let Some(p) = self.pending.get(&seg.stream) {
            let server = self.endpoints[p.endpoint as usize].addr;
            let outcome = if seg.src == server {
                if f.rst() {
                    Outcome::Refused
                } else {
                    Outcome::Answered
                }
            } else if seg.dst == server {
                // The client going on: it was answered, though the capture missed the answer; its
                // own reset gives the attempt up.
                if f.rst() {
                    Outcome::Unanswered
                } else {
                    Outcome::Answered
                }
            } else {
                return;
            };
            self.resolve(seg.stream, outcome, ts);
        }
    }

    fn on_syn(&mut self, seg: &Segment<'_>) {
        let ts = seg.ts_ns;
        if let Some(p) = self.pending.get_mut(&seg.stream) {
            p.syns += 1;
            p.last_ts = ts;
            self.expiry.push_back((ts, seg.stream));
            return;
        }
        if self.seen.get(seg.stream) {
            // A SYN re-sent after its attempt expired: still unanswered.
            if self.expired.get(seg.stream) {
                if let Some(t) = self
                    .endpoint_of
                    .get(&seg.dst)
                    .and_then(|&e| self.endpoints[e as usize].unanswered.as_mut())
                {
                    t.syns += 1;
                    t.last_ts = t.last_ts.max(ts);
                }
            }
            return;
        }
        self.seen.set(seg.stream, true);
        let endpoint = match self.endpoint_of.get(&seg.dst) {
            Some(&e) => e,
            None if self.endpoints.len() < ENDPOINTS => {
                let e = self.endpoints.len() as u32;
                self.endpoints.push(Endpoint {
                    addr: seg.dst,
                    answered: 0,
                    late_answered: 0,
                    refused: None,
                    unanswered: None,
                });
                self.endpoint_of.insert(seg.dst, e);
                e
            }
            None => {
                self.untracked += 1;
                return;
            }
        };
        let client = seg.src.ip();
        self.sources.attempt(client, seg.dst, seg.stream, ts);
        self.retries
            .attempt(client, endpoint, seg.stream, seg.frame, ts);
        self.open.set(seg.stream, true);
        self.pending.insert(
            seg.stream,
            Pending {
                client,
                endpoint,
                first_ts: ts,
                last_ts: ts,
                first_frame: seg.frame,
                syns: 1,
            },
        );
        self.expiry.push_back((ts, seg.stream));
    }

    /// Expires the attempts whose last SYN is older than [`UNANSWERED_AFTER_NS`].
    fn expire(&mut self, now: i64) {
        while let Some(&(t, stream)) = self.expiry.front() {
            if now - t <= UNANSWERED_AFTER_NS {
                break;
            }
            self.expiry.pop_front();
            if self.pending.get(&stream).is_some_and(|p| p.last_ts == t) {
                self.resolve(stream, Outcome::Unanswered, now);
            }
        }
    }

    fn resolve(&mut self, stream: u32, outcome: Outcome, now: i64) {
        let Some(p) = self.pending.remove(&stream) else {
            return;
        };
        self.open.set(stream, false);
        let e = &mut self.endpoints[p.endpoint as usize];
        match outcome {
            Outcome::Answered | Outcome::Pending => e.answered += 1,
            Outcome::Refused => e
                .refused
                .get_or_insert_with(Default::default)
                .add(&p, stream, now, true),
            Outcome::Unanswered => {
                let waited = now - p.first_ts >= WAITED_NS || p.syns > 1;
                e.unanswered
                    .get_or_insert_with(Default::default)
                    .add(&p, stream, p.last_ts, waited);
                self.expired.set(stream, true);
            }
        }
        self.sources.outcome(p.client, outcome);
        self.retries.outcome(p.client, p.endpoint, stream, outcome);
    }

    /// A SYN-ACK for an attempt already counted as unanswered.
    fn late_answer(&mut self, seg: &Segment<'_>) {
        self.expired.set(seg.stream, false);
        let Some(&e) = self.endpoint_of.get(&seg.src) else {
            return;
        };
        self.endpoints[e as usize].late_answered += 1;
        let client = seg.dst.ip();
        self.sources.late_answer(client);
        self.retries
            .outcome(client, e, seg.stream, Outcome::Answered);
    }

    /// Closes the retry runs idle for long (call now and then; bounded work per entry).
    pub(crate) fn sweep(&mut self) {
        self.retries.sweep(self.now);
    }

    /// Ends the attempts still waiting at `end` and draws the findings that need no stream
    /// report; the reconnect storms wait for the reports ([`Concluded::finish`]), which the
    /// diagnoser keeps for the storms' (client, server) pairs ([`Concluded::storm_pairs`]).
    pub(crate) fn conclude(mut self, end: i64) -> Concluded {
        let open: Vec<u32> = {
            let mut v: Vec<u32> = self.pending.keys().copied().collect();
            v.sort_unstable();
            v
        };
        for stream in open {
            self.resolve(stream, Outcome::Unanswered, end);
        }
        self.retries.finish();
        Concluded {
            endpoints: self.endpoints,
            sources: self.sources,
            retries: self.retries,
        }
    }
}

/// The attempts of a whole capture, tallied: [`Connects::conclude`].
pub(crate) struct Concluded {
    endpoints: Vec<Endpoint>,
    sources: sources::Sources,
    retries: storm::Retries,
}

impl Concluded {
    /// The (client address, server endpoint) pairs of the storms that get a finding.
    pub(crate) fn storm_pairs(&self) -> FxHashSet<(IpAddr, SocketAddr)> {
        let (_, storms) =
            findings::attempt_findings(&self.endpoints, self.sources.top(), self.retries.storms());
        findings::storm_pairs(&storms, &self.endpoints)
    }

    /// The findings, with the streams' reports (every stream of the storms' pairs at least)
    /// and the other findings to tie a reconnect storm to the death of the connection before
    /// it.
    pub(crate) fn finish(self, reports: &[StreamReport], others: &[Finding]) -> Vec<Finding> {
        let (mut out, storms) =
            findings::attempt_findings(&self.endpoints, self.sources.top(), self.retries.storms());
        out.extend(findings::reconnect_storms(
            &storms,
            &self.endpoints,
            reports,
            others,
        ));
        out
    }
}

#[cfg(test)]
mod tests;
