//! The heartbeat period and its tolerance, from the gaps between beats: plain arithmetic on
//! durations (ns), used both while a stream is tracked (to freeze the period once enough beats
//! were seen) and when its heartbeat is chosen.

use crate::stats::{mad, median};

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
pub(crate) fn with_timeout(tol: i64, jitter: i64, timeout_ns: Option<i64>) -> i64 {
    match timeout_ns {
        Some(t) if t > 0 => tol.min(t.max(jitter.saturating_mul(8)).max(1_000_000)),
        _ => tol,
    }
}

/// Periods are kept below ~13 days so that sums of a few periods never overflow.
pub(crate) const MAX_PERIOD_NS: i64 = 1 << 50;

/// The densest cluster of gaps (within ±10 % of one another) is the period: late beats are
/// longer, missed beats are multiples, so neither can outvote the regular ones; with a tie the
/// shorter cluster wins (a late beat is never early). Returns (period, tolerance, jitter).
pub(crate) fn estimate(gaps: impl IntoIterator<Item = i64>) -> Option<(i64, i64, i64)> {
    let vals: Vec<i64> = gaps.into_iter().filter(|&g| g > 0).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(v: &[f64]) -> Vec<i64> {
        v.iter().map(|&g| (g * 1e9) as i64).collect()
    }

    #[test]
    fn period_ignores_late_and_missed_beats() {
        let (p, t, j) =
            estimate(gaps(&[45.001, 44.998, 58.0, 45.002, 90.0, 45.0, 44.999])).unwrap();
        assert!((p - 45_000_000_000).abs() < 3_000_000, "{p}");
        assert_eq!(t, 4_500_000_000);
        assert!(j < 3_000_000);
        // Two intervals, one of them late: the shorter one is the period.
        let (p, _, _) = estimate(gaps(&[45.0, 58.0])).unwrap();
        assert_eq!(p, 45_000_000_000);
        assert!(estimate([]).is_none());
        assert!(estimate(gaps(&[0.0, -1.0])).is_none());
    }

    #[test]
    fn a_timeout_tightens_the_tolerance_but_not_below_the_jitter() {
        let s = 1_000_000_000;
        assert_eq!(with_timeout(4 * s, 0, None), 4 * s);
        assert_eq!(with_timeout(4 * s, 0, Some(s)), s);
        assert_eq!(with_timeout(4 * s, s / 4, Some(s)), 2 * s);
        assert_eq!(with_timeout(s / 2, 0, Some(s)), s / 2);
    }
}
