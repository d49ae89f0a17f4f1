//! Heartbeat discovery: which recurring small payload of a stream is a request/reply heartbeat,
//! its period (robust to late and missed beats) and how far a beat may wander and still be on
//! time.

use crate::options::Options;
use crate::stats::{mad, median};
use crate::stream::{Candidate, Gap, Sig, Stream};
use std::collections::HashMap;
use std::net::SocketAddr;

/// Beats needed before a recurring payload is called a heartbeat (two intervals).
pub(crate) const MIN_BEATS: u64 = 3;

/// How far from the period a beat may come and still be on time: 10 % of the period, or 8
/// median absolute deviations for schedulers noisier than that.
pub(crate) fn default_tolerance(period: i64, mad: i64) -> i64 {
    (period / 10)
        .max(mad.saturating_mul(8))
        .max(1_000_000)
        .min(period.max(1_000_000))
}

/// With `--timeout`, a probe later than the timeout already trips a watchdog that counts from the
/// previous reply, so lateness is judged against the timeout when it is the tighter bound (but
/// never tighter than the scheduler's own jitter).
pub(crate) fn with_timeout(tol: i64, jitter: i64, opts: &Options) -> i64 {
    match opts.timeout_ns {
        Some(t) if t > 0 => tol.min(t.max(jitter.saturating_mul(8)).max(1_000_000)),
        _ => tol,
    }
}

/// Periods are kept below ~13 days so that sums of a few periods never overflow.
pub(crate) const MAX_PERIOD_NS: i64 = 1 << 50;

/// The densest cluster of gaps (within ±10 % of one another) is the period: late beats are
/// longer, missed beats are multiples, so neither can outvote the regular ones; with a tie the
/// shorter cluster wins (a late beat is never early). Returns (period, tolerance, jitter).
pub(crate) fn estimate(gaps: &[Gap]) -> Option<(i64, i64, i64)> {
    let vals: Vec<i64> = gaps.iter().map(|g| g.gap).filter(|&g| g > 0).collect();
    let mut best: Option<(usize, i64)> = None;
    for &c in &vals {
        let w = c / 10;
        let n = vals.iter().filter(|&&v| (v - c).abs() <= w).count();
        if best.is_none_or(|(bn, bc)| n > bn || (n == bn && c < bc)) {
            best = Some((n, c));
        }
    }
    let (_, c) = best?;
    let cluster: Vec<i64> = vals
        .iter()
        .copied()
        .filter(|&v| (v - c).abs() <= c / 10)
        .collect();
    let period = median(&cluster)?.min(MAX_PERIOD_NS);
    let jitter = mad(&cluster, period).unwrap_or(0);
    Some((period, default_tolerance(period, jitter), jitter))
}

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
            let Some((mut period, mut tol, jitter)) = estimate(&c.gaps.items) else {
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
            let tol = with_timeout(tol, jitter, opts);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(v: &[f64]) -> Vec<Gap> {
        v.iter()
            .enumerate()
            .map(|(i, &g)| Gap {
                gap: (g * 1e9) as i64,
                prev_frame: i as u32,
                frame: i as u32 + 1,
                ts: 0,
            })
            .collect()
    }

    #[test]
    fn period_ignores_late_and_missed_beats() {
        let (p, t, j) =
            estimate(&gaps(&[45.001, 44.998, 58.0, 45.002, 90.0, 45.0, 44.999])).unwrap();
        assert!((p - 45_000_000_000).abs() < 3_000_000, "{p}");
        assert_eq!(t, 4_500_000_000);
        assert!(j < 3_000_000);
        // Two intervals, one of them late: the shorter one is the period.
        let (p, _, _) = estimate(&gaps(&[45.0, 58.0])).unwrap();
        assert_eq!(p, 45_000_000_000);
        assert!(estimate(&[]).is_none());
        assert!(estimate(&gaps(&[0.0, -1.0])).is_none());
    }
}
