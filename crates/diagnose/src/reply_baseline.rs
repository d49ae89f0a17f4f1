//! A connection's usual heartbeat reply latency (its baseline) and the replies far slower than
//! it, kept online in constant memory: the baseline is the median of the first replies that
//! were not themselves slow, so a later jump is measured against what the connection did before
//! it, however long the jump lasts.
//!
//! Why "slow" is at least [`SLOW_FACTOR`] times the baseline *and* at least [`MIN_EXCESS_NS`]
//! above it: a healthy reply latency is the path's round trip plus the peer's scheduling, and
//! its spread is a few times its median (a GC pause, a busy event loop, a 40 ms delayed ACK
//! meeting Nagle). Ten times the median is beyond that spread on any path, and the median itself
//! is not moved by the few outliers the sample may hold. On a loopback or LAN the baseline is
//! well under a millisecond, where ten times is still harmless; the absolute floor keeps such
//! jumps out: below 200 ms (Linux's minimum retransmission timeout, the cost of one lost
//! segment) a slower reply is within what any heartbeat deadline must absorb anyway.

/// A reply is slow at this many times the baseline...
pub(crate) const SLOW_FACTOR: i64 = 10;
/// ...and at least this much above it.
pub(crate) const MIN_EXCESS_NS: i64 = 200_000_000;
/// Replies that make the baseline: the first ones that were not slow.
const SAMPLE: usize = 8;
/// Replies needed before the connection's own baseline judges anything.
const MIN_SAMPLE: usize = 3;
/// Slow replies kept (more are only counted), as many as any other anomaly record.
const MAX_SLOW: usize = 32;

/// Whether `latency` is far beyond `baseline`.
pub(crate) fn is_slow(latency: i64, baseline: i64) -> bool {
    latency >= baseline.saturating_mul(SLOW_FACTOR) && latency - baseline >= MIN_EXCESS_NS
}

/// `latency / baseline`, a baseline of zero counted as 1 µs (a capture's resolution).
pub(crate) fn factor(latency: i64, baseline: i64) -> f64 {
    latency as f64 / baseline.max(1_000) as f64
}

/// A reply (`R`: what the caller knows of it) slower than the connection's own baseline at the
/// time it came.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SlowReply<R> {
    pub latency: i64,
    pub baseline: i64,
    pub reply: R,
}

#[derive(Debug, Clone)]
pub(crate) struct Baseline<R> {
    /// The sample, sorted (a fixed array: a reply costs no allocation).
    sample: [i64; SAMPLE],
    len: u8,
    /// The slow replies, in order (the first [`MAX_SLOW`]).
    pub slow: Vec<SlowReply<R>>,
    pub slow_count: u64,
}

impl<R> Default for Baseline<R> {
    fn default() -> Self {
        Baseline {
            sample: [0; SAMPLE],
            len: 0,
            slow: Vec::new(),
            slow_count: 0,
        }
    }
}

impl<R> Baseline<R> {
    pub(crate) fn on_reply(&mut self, latency: i64, reply: R) {
        if let Some(baseline) = self.own() {
            if is_slow(latency, baseline) {
                self.slow_count += 1;
                if self.slow.len() < MAX_SLOW {
                    self.slow.push(SlowReply {
                        latency,
                        baseline,
                        reply,
                    });
                }
                return;
            }
        }
        let n = self.len as usize;
        if n < SAMPLE {
            let at = self.sample[..n].partition_point(|&v| v <= latency);
            self.sample.copy_within(at..n, at + 1);
            self.sample[at] = latency;
            self.len += 1;
        }
    }

    /// The connection's usual latency, once enough replies showed it.
    pub(crate) fn own(&self) -> Option<i64> {
        (self.len as usize >= MIN_SAMPLE).then(|| self.median())?
    }

    /// The median of whatever replies the sample holds (for the service's baseline). The
    /// sample is sorted, so this reads it in place (it runs on every reply).
    pub(crate) fn median(&self) -> Option<i64> {
        let n = self.len as usize;
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(self.sample[n / 2]),
            _ => {
                let (a, b) = (self.sample[n / 2 - 1], self.sample[n / 2]);
                Some(((i128::from(a) + i128::from(b)) / 2) as i64)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    /// The frame of the reply stands for the reply.
    fn reply(n: u32) -> u32 {
        n
    }

    #[test]
    fn a_jump_is_measured_against_the_replies_before_it() {
        let mut b = Baseline::default();
        for (i, lat) in [MS, 2 * MS, MS, 3 * MS].into_iter().enumerate() {
            b.on_reply(lat, reply(i as u32));
        }
        assert!(b.slow.is_empty());
        // However long the jump lasts, the baseline stays what the connection did before it.
        for i in 0..20 {
            b.on_reply(5_000 * MS, reply(100 + i));
        }
        assert_eq!(b.slow_count, 20);
        assert!(b.slow.iter().all(|s| s.baseline == 1_500_000));
        assert_eq!(b.own(), Some(1_500_000));
    }

    #[test]
    fn jitter_and_small_jumps_are_not_slow() {
        let mut b = Baseline::default();
        // 0.1 ms loopback answers, then a 20x jump that stays under the absolute floor.
        for i in 0..5 {
            b.on_reply(MS / 10, reply(i));
        }
        b.on_reply(2 * MS, reply(9));
        b.on_reply(150 * MS, reply(10));
        assert!(b.slow.is_empty());
        // 100 ms usual, 900 ms once: 9x, within a busy server's spread.
        let mut b = Baseline::default();
        for i in 0..5 {
            b.on_reply(100 * MS, reply(i));
        }
        b.on_reply(900 * MS, reply(9));
        assert!(b.slow.is_empty());
        b.on_reply(1_000 * MS, reply(10));
        assert_eq!(b.slow.len(), 1);
        assert_eq!(factor(1_000 * MS, 100 * MS), 10.0);
        // Before three replies nothing is judged.
        let mut b = Baseline::default();
        b.on_reply(MS, reply(1));
        b.on_reply(4_000 * MS, reply(2));
        assert!(b.slow.is_empty());
        assert_eq!(b.own(), None);
    }
}
