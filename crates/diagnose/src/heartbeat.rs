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
/// Beats needed before a template (beats that differ, see [`crate::template`]) is called a
/// heartbeat: generalizing over the bytes asks for more of the timing. A few queries that open
/// a connection share a template and may come at a steady pace; five beats on one period are
/// no longer a burst.
pub(crate) const MIN_TEMPLATE_BEATS: u64 = 5;

/// Whether template candidate `c` has beats enough to be a heartbeat: [`MIN_TEMPLATE_BEATS`]
/// in general, but as few as an exact beat needs ([`MIN_BEATS`]) when the peer answered at
/// least two of them and the stream ended on one it never answered. That is the shape of a
/// peer that stopped answering and a sender that gave up; making it wait for five beats would
/// hide exactly the deaths discovery exists for (a sender giving up after two misses has beaten
/// only four times when its peer stopped after two answers), while a burst of queries that open
/// a connection does not end on an unanswered one.
fn template_beats_enough(c: &Candidate) -> bool {
    // With fewer beats than the records kept, the last unanswered one recorded is the latest.
    let ends_unanswered =
        c.pending.is_some() || c.unanswered.last().is_some_and(|u| u.frame == c.last.frame);
    c.count >= MIN_TEMPLATE_BEATS || c.count >= MIN_BEATS && c.replies >= 2 && ends_unanswered
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
            let Some((answered, chosen)) = evaluate(dir, c, opts, false) else {
                continue;
            };
            let key = (answered, c.count);
            if best.as_ref().is_none_or(|(a, n, _)| key > (*a, *n)) {
                best = Some((answered, c.count, chosen));
            }
        }
    }
    let (_, _, best) = best?;
    if opts.probe.is_none() {
        // Of an alternating pair, the message that opened the exchange is the probe, whatever
        // the latencies made the other one look like.
        if let Some((dir, p)) = crate::roles::opener(s, best.dir, best.cand) {
            if let Some((_, chosen)) = evaluate(dir, p, opts, true) {
                return Some(chosen);
            }
        }
    }
    Some(best)
}

/// Whether candidate `c` (sent in direction `dir`) is a heartbeat, and if so whether it is
/// answered (request/reply) and its period. `paired`: its peer's messages are known to be its
/// replies (an alternating pair it opens), however long they take.
fn evaluate<'a>(
    dir: usize,
    c: &'a Candidate,
    opts: &Options,
    paired: bool,
) -> Option<(bool, Chosen<'a>)> {
    if c.count < MIN_BEATS && !(c.known && c.count >= 2)
        || c.by_template() && !template_beats_enough(c)
    {
        return None;
    }
    // A template (beats that differ, or longer than an exact beat) is a heartbeat only while
    // the peer stays quiet between beats: a connection whose requests merely repeat, each
    // answered with more than a reply's worth, is request/response traffic.
    if c.by_template() && c.bulky * 4 > c.count {
        return None;
    }
    let (mut period, mut tol, jitter) = estimate(c.gaps.items.iter().map(|g| g.gap))?;
    let given = opts.period_ns.is_some();
    if let Some(p) = opts.period_ns.map(|p| p.clamp(1, MAX_PERIOD_NS)) {
        let j = mad(&c.gaps.items.iter().map(|g| g.gap).collect::<Vec<_>>(), p).unwrap_or(0);
        period = p;
        tol = default_tolerance(p, j.min(p / 10));
    } else if let Some(p) = c.declared {
        // The protocol said its interval: beats are judged against it, with the scheduler's
        // jitter the beats showed.
        period = p;
        tol = default_tolerance(p, jitter.min(p / 10));
    } else if let Some((p, t)) = c.frozen {
        period = p;
        tol = t;
    }
    if period <= 0 {
        return None;
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
    // A protocol's own heartbeat is one however irregular (every beat late is a finding).
    if regular * 2 < c.gaps.items.len() && !c.known {
        return None;
    }
    // Request/reply: the peer answers most probes, well within a period. A reply that
    // takes about a period is the peer's own next message, not an answer.
    let med = c.latency.quantile(0.5).unwrap_or(i64::MAX);
    let answered = paired || c.replies * 2 >= c.count && med < period / 4;
    if !answered && opts.probe.is_none() && !c.known {
        // A one-way beat needs a beat more, and must not be the answer to the peer's
        // own messages (those follow the peer's data closely, every time).
        if c.count < MIN_BEATS + 1 || c.follows_peer * 2 >= c.count.saturating_sub(1) {
            return None;
        }
    }
    Some((
        answered,
        Chosen {
            dir,
            cand: c,
            period,
            tol,
            jitter,
            given,
        },
    ))
}

/// Heartbeats already established per service (server endpoint, sender is the client, probe):
/// a short connection to the same service, with too few beats to stand on its own, is judged
/// against the period its siblings showed.
#[derive(Debug, Default)]
pub(crate) struct Services {
    known: HashMap<(SocketAddr, bool, Sig), (i64, i64, i64)>,
    /// Per service, the usual reply latency of each connection that showed one (stream,
    /// latency): what "the same server's other connections" answer in.
    latency: HashMap<(SocketAddr, bool, Sig), Vec<(u32, i64)>>,
}

/// Connections remembered per service for its reply baseline.
const MAX_LATENCIES: usize = 256;

/// Distinct services remembered (a bound for captures with very many servers).
const MAX_SERVICES: usize = 10_000;

impl Services {
    pub(crate) fn learn(&mut self, s: &Stream, h: &Chosen<'_>) {
        let (cdir, _) = s.client_dir();
        let key = (s.addr[1 - cdir], h.dir == cdir, h.cand.key());
        if let Some(m) = h.cand.baseline.median() {
            if self.latency.len() < MAX_SERVICES || self.latency.contains_key(&key) {
                let v = self.latency.entry(key).or_default();
                if v.len() < MAX_LATENCIES && !v.iter().any(|&(id, _)| id == s.id) {
                    v.push((s.id, m));
                }
            }
        }
        if h.given || self.known.len() >= MAX_SERVICES {
            return;
        }
        self.known.entry(key).or_insert((h.period, h.tol, h.jitter));
    }

    /// The usual reply latency of the other connections to the same service (the median of
    /// theirs), when at least one showed it.
    pub(crate) fn others_latency(&self, s: &Stream, h: &Chosen<'_>) -> Option<i64> {
        let (cdir, _) = s.client_dir();
        let key = (s.addr[1 - cdir], h.dir == cdir, h.cand.key());
        let others: Vec<i64> = self
            .latency
            .get(&key)?
            .iter()
            .filter(|&&(id, _)| id != s.id)
            .map(|&(_, m)| m)
            .collect();
        crate::stats::median(&others)
    }

    /// The heartbeat of a stream too short to show its own period, from its siblings.
    pub(crate) fn choose<'a>(&self, s: &'a Stream) -> Option<Chosen<'a>> {
        let (cdir, _) = s.client_dir();
        let server = s.addr[1 - cdir];
        let mut best: Option<Chosen<'a>> = None;
        for (dir, d) in s.dirs.iter().enumerate() {
            // A template's beats need to show their own period (see MIN_TEMPLATE_BEATS).
            for c in d.cands.iter().filter(|c| c.count >= 2 && !c.by_template()) {
                if let Some(&(period, tol, jitter)) =
                    self.known.get(&(server, dir == cdir, c.key()))
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
