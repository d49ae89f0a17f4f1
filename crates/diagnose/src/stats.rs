//! Small, bounded statistics used per stream: nothing here grows with the number of packets.

/// Median of a small sample (copies and sorts; called at report time, not per packet).
pub(crate) fn median(values: &[i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        ((i128::from(v[n / 2 - 1]) + i128::from(v[n / 2])) / 2) as i64
    })
}

/// Median absolute deviation from `center`.
pub(crate) fn mad(values: &[i64], center: i64) -> Option<i64> {
    let dev: Vec<i64> = values
        .iter()
        .map(|&v| v.saturating_sub(center).saturating_abs())
        .collect();
    median(&dev)
}

/// Nearest-rank quantile of a sorted slice, q in [0, 1].
fn quantile_sorted(v: &[i64], q: f64) -> i64 {
    let n = v.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    v[rank - 1]
}

/// Log-scale histogram resolution: buckets per decade. 32 gives ~7 % wide buckets, so a quantile
/// read from the histogram is within ~3.6 % of the true value.
const PER_DECADE: f64 = 32.0;
/// 1 ns .. 10^12 ns (~17 min).
const BUCKETS: usize = 12 * 32 + 1;
/// Exact values kept before switching to the histogram: most heartbeat streams never get there.
const EXACT: usize = 64;

/// Distribution of durations (ns): exact while small, then a fixed-size log histogram.
#[derive(Debug, Default, Clone)]
pub(crate) struct DurationStats {
    exact: Vec<i64>,
    hist: Option<Box<[u32; BUCKETS]>>,
    count: u64,
    max: i64,
    min: i64,
}

fn bucket(ns: i64) -> usize {
    if ns <= 1 {
        return 0;
    }
    (((ns as f64).log10() * PER_DECADE) as usize).min(BUCKETS - 1)
}

fn bucket_value(b: usize) -> i64 {
    // Geometric middle of the bucket.
    10f64.powf((b as f64 + 0.5) / PER_DECADE) as i64
}

impl DurationStats {
    pub(crate) fn push(&mut self, ns: i64) {
        let ns = ns.max(0);
        if self.count == 0 || ns > self.max {
            self.max = ns;
        }
        if self.count == 0 || ns < self.min {
            self.min = ns;
        }
        self.count += 1;
        if let Some(h) = self.hist.as_mut() {
            h[bucket(ns)] = h[bucket(ns)].saturating_add(1);
            return;
        }
        if self.exact.len() < EXACT {
            self.exact.push(ns);
            return;
        }
        let mut h = Box::new([0u32; BUCKETS]);
        for &v in self.exact.iter().chain(std::iter::once(&ns)) {
            h[bucket(v)] += 1;
        }
        self.exact = Vec::new();
        self.hist = Some(h);
    }

    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    pub(crate) fn max(&self) -> Option<i64> {
        (self.count > 0).then_some(self.max)
    }

    /// Quantile q in [0, 1]; exact while fewer than 64 values were seen, else within ~4 %.
    pub(crate) fn quantile(&self, q: f64) -> Option<i64> {
        if self.count == 0 {
            return None;
        }
        if q >= 1.0 {
            return Some(self.max);
        }
        match &self.hist {
            None => {
                let mut v = self.exact.clone();
                v.sort_unstable();
                Some(quantile_sorted(&v, q))
            }
            Some(h) => {
                let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
                let mut seen = 0u64;
                for (b, &c) in h.iter().enumerate() {
                    seen += u64::from(c);
                    if seen >= rank {
                        return Some(bucket_value(b).clamp(self.min, self.max));
                    }
                }
                Some(self.max)
            }
        }
    }
}

/// The first `cap` values of a series, with the frame and time each one belongs to.
#[derive(Debug, Clone)]
pub(crate) struct Sample<T> {
    pub items: Vec<T>,
}

impl<T> Default for Sample<T> {
    fn default() -> Self {
        Sample { items: Vec::new() }
    }
}

impl<T> Sample<T> {
    /// Keeps the value if there is room; returns false once full.
    pub(crate) fn push(&mut self, cap: usize, v: T) -> bool {
        if self.items.len() < cap {
            self.items.push(v);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_mad() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5, 1, 9]), Some(5));
        assert_eq!(median(&[1, 3, 5, 100]), Some(4));
        assert_eq!(mad(&[10, 11, 9, 50], 10), Some(1));
    }

    #[test]
    fn exact_quantiles_then_histogram_within_tolerance() {
        let mut s = DurationStats::default();
        for i in 1..=50 {
            s.push(i * 1000);
        }
        assert_eq!(s.quantile(0.5), Some(25_000));
        assert_eq!(s.quantile(0.99), Some(50_000));
        assert_eq!(s.max(), Some(50_000));
        // Past the exact buffer: 1..=1000 µs, median 500 µs, p99 990 µs.
        let mut s = DurationStats::default();
        for i in 1..=1000 {
            s.push(i * 1000);
        }
        let m = s.quantile(0.5).unwrap() as f64;
        assert!((m / 500_000.0 - 1.0).abs() < 0.05, "median {m}");
        let p = s.quantile(0.99).unwrap() as f64;
        assert!((p / 990_000.0 - 1.0).abs() < 0.05, "p99 {p}");
        assert_eq!(s.max(), Some(1_000_000));
        assert_eq!(s.count(), 1000);
    }

    #[test]
    fn odd_values_do_not_panic() {
        let mut s = DurationStats::default();
        for v in [i64::MIN, -1, 0, 1, i64::MAX] {
            s.push(v);
        }
        for _ in 0..100 {
            s.push(i64::MAX);
        }
        assert!(s.quantile(0.5).is_some());
        assert_eq!(DurationStats::default().quantile(0.5), None);
    }
}
