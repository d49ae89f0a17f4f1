//! A small log-linear histogram of durations in microseconds (about 1.6 % relative precision),
//! cheap enough to record every heartbeat of 20,000 connections.

use serde::Serialize;
use std::time::Duration;

/// Values below `SUB` µs get a bucket each; above, every power of two is split into `HALF`
/// buckets, so a bucket's width is at most 1/64 of its values.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
const HALF: u64 = SUB / 2;
/// Enough buckets for values up to 2^40 µs (about 12 days); larger values share the last one.
const BUCKETS: usize = (SUB + 34 * HALF) as usize;

/// Durations recorded into fixed buckets: constant memory (about 18 KiB) however many are
/// recorded, and histograms of many connections merge by adding counts.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max_us: u64,
    sum_us: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max_us: 0,
            sum_us: 0,
        }
    }
}

fn index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = u64::from(msb - SUB_BITS + 1);
    let m = v >> shift;
    ((SUB + (shift - 1) * HALF + (m - HALF)) as usize).min(BUCKETS - 1)
}

/// Largest value that falls into bucket `i`.
fn upper(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let j = i - SUB;
    let shift = j / HALF + 1;
    let m = j % HALF + HALF;
    ((m + 1) << shift) - 1
}

impl Histogram {
    /// Counts one duration (values past the last bucket count there; `max` stays exact).
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.counts[index(us)] += 1;
        self.total += 1;
        self.max_us = self.max_us.max(us);
        self.sum_us += u128::from(us);
    }

    /// Adds `other`'s counts, e.g. to report all connections' lateness as one distribution.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max_us = self.max_us.max(other.max_us);
        self.sum_us += other.sum_us;
    }

    /// Durations recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value at quantile `q` (0..=1), as the upper bound of its bucket (never above max).
    pub fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_micros(upper(i).min(self.max_us));
            }
        }
        Duration::from_micros(self.max_us)
    }

    /// The mean, percentiles and maximum, for `--stats` lines and JSON.
    pub fn summary(&self) -> Summary {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        Summary {
            count: self.total,
            mean_ms: if self.total == 0 {
                0.0
            } else {
                self.sum_us as f64 / self.total as f64 / 1000.0
            },
            p50_ms: ms(self.quantile(0.5)),
            p90_ms: ms(self.quantile(0.9)),
            p99_ms: ms(self.quantile(0.99)),
            p999_ms: ms(self.quantile(0.999)),
            max_ms: self.max_us as f64 / 1000.0,
        }
    }
}

/// Percentiles of a [`Histogram`], in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Summary {
    /// Durations recorded.
    pub count: u64,
    /// Their mean, exact (from the sum, not the buckets).
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile: the tail that decides whether a peer's timeout fires.
    pub p999_ms: f64,
    /// The largest duration, exact.
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_and_bound_their_values() {
        let mut prev_upper = None;
        for i in 0..BUCKETS - 1 {
            if let Some(p) = prev_upper {
                assert!(upper(i) > p);
            }
            prev_upper = Some(upper(i));
        }
        for v in (0..200_000u64).chain([1 << 30, (1 << 30) + 12345, 999_999_999]) {
            let i = index(v);
            assert!(upper(i) >= v, "{v} above its bucket's upper bound");
            if i > 0 {
                assert!(upper(i - 1) < v, "{v} belongs in an earlier bucket");
            }
            assert!((upper(i) - v) as f64 <= v as f64 / 32.0 + 1.0);
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for us in 1..=1000 {
            h.record(Duration::from_micros(us));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 0.5).abs() < 0.01, "{s:?}");
        assert!((s.p99_ms - 0.99).abs() < 0.02, "{s:?}");
        assert_eq!(s.max_ms, 1.0);
        let mut other = Histogram::default();
        other.record(Duration::from_secs(2));
        h.merge(&other);
        assert_eq!(h.summary().max_ms, 2000.0);
        assert_eq!(h.count(), 1001);
    }
}
