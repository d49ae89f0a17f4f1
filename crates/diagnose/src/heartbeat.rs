//! Heartbeat discovery: which recurring small payload of a stream is a request/reply heartbeat,
//! with its period and tolerance (estimated by [`crate::period`]), and the heartbeats shared by
//! the connections to one service.

use crate::options::Options;
use crate::period::{default_tolerance, estimate, with_timeout, MAX_PERIOD_NS};
use crate::stats::mad;
use crate::stream::{Candidate, Sig, Stream};
use std::collections::HashMap;
use std::net::SocketAddr;

/// Beats needed before a recurring payload is called a heartbeat (two intervals).
pub(crate) const MIN_BEATS: u64 = 3;

/// The heartbeat of a stream, as chosen among its candidates.
pub(crate) struct Chosen<'a> {
    pub dir: usize,
    pub cand: &'a Candidate,
    pub period: i64,
    pub tol: i64,
    pub jitter: i64,
    pub given: bool,
}

pub(crate) fn choose<'a>(s: &'a Stream, opts: &Options) -> Option<Chosen<'a>> {
    let mut best: Option<(bool, u64, Chosen<'a>)> = None;
    for (dir, d) in s.dirs.iter().enumerate() {
        for c in &d.cands {
            if c.count < MIN_BEATS {
                continue;
            }
            let Some((mut period, mut tol, jitter)) = estimate(c.gaps.items.iter().map(|g| g.gap))
            else {
                continue;
            };
            let given = opts.period_ns.is_some();
            if let Some(p) = opts.period_ns.map(|p| p.clamp(1, MAX_PERIOD_NS)) {
                let j =
                    mad(&c.gaps.items.iter().map(|g| g.gap).collect::<Vec<_>>(), p).unwrap_or(0);
                period = p;
                tol = default_tolerance(p, j.min(p / 10));
            } else if let Some((p, t)) = c.frozen {
                period = p;
                tol = t;
            }
            if period <= 0 {
                continue;
            }
            let tol = with_timeout(tol, jitter, opts.timeout_ns);
            // Regular: most intervals are one period or a whole multiple of it.
            let regular = c
                .gaps
                .items
                .iter()
                .filter(|g| {
                    let k = ((g.gap as f64) / (period as f64)).round().max(1.0) as i64;
                    (g.gap - k * period).abs() <= tol * k
                })
                .count();
            if regular * 2 < c.gaps.items.len() {
                continue;
            }
            // Request/reply: the peer answers most probes, well within a period. A reply that
            // takes about a period is the peer's own next message, not an answer.
            let med = c.latency.quantile(0.5).unwrap_or(i64::MAX);
            let answered = c.replies * 2 >= c.count && med < period / 4;
            if !answered && opts.probe.is_none() {
                // A one-way beat needs a beat more, and must not be the answer to the peer's
                // own messages (those follow the peer's data closely, every time).
                if c.count < MIN_BEATS + 1 || c.follows_peer * 2 >= c.count.saturating_sub(1) {
                    continue;
                }
            }
            let key = (answered, c.count);
            if best.as_ref().is_none_or(|(a, n, _)| key > (*a, *n)) {
                best = Some((
                    answered,
                    c.count,
                    Chosen {
                        dir,
                        cand: c,
                        period,
                        tol,
                        jitter,
                        given,
                    },
                ));
            }
        }
    }
    best.map(|(_, _, c)| c)
}

/// Heartbeats already established per service (server endpoint, sender is the client, probe):
/// a short connection to the same service, with too few beats to stand on its own, is judged
/// against the period its siblings showed.
#[derive(Debug, Default)]
pub(crate) struct Services {
    known: HashMap<(SocketAddr, bool, Sig), (i64, i64, i64)>,
}

/// Distinct services remembered (a bound for captures with very many servers).
const MAX_SERVICES: usize = 10_000;

impl Services {
    pub fn learn(&mut self, s: &Stream, h: &Chosen<'_>) {
        if h.given || self.known.len() >= MAX_SERVICES {
            return;
        }
        let (cdir, _) = s.client_dir();
        let key = (s.addr[1 - cdir], h.dir == cdir, h.cand.sig);
        self.known.entry(key).or_insert((h.period, h.tol, h.jitter));
    }

    /// The heartbeat of a stream too short to show its own period, from its siblings.
    pub fn choose<'a>(&self, s: &'a Stream) -> Option<Chosen<'a>> {
        let (cdir, _) = s.client_dir();
        let server = s.addr[1 - cdir];
        let mut best: Option<Chosen<'a>> = None;
        for (dir, d) in s.dirs.iter().enumerate() {
            for c in d.cands.iter().filter(|c| c.count >= 2) {
                if let Some(&(period, tol, jitter)) = self.known.get(&(server, dir == cdir, c.sig))
                {
                    if best.as_ref().is_none_or(|b| c.count > b.cand.count) {
                        best = Some(Chosen {
                            dir,
                            cand: c,
                            period,
                            tol,
                            jitter,
                            given: false,
                        });
                    }
                }
            }
        }
        best
    }
}
