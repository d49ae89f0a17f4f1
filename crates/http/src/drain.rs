//! Draining or a request limit? A server that says `Connection: close` after exactly N requests
//! on every connection applies a limit (nginx `keepalive_requests`); one that says it after a
//! varying number of requests closes like a coin flip per response (HAProxy
//! `set-header Connection close if { rand(100) lt 30 }`, an Envoy drain, a VIP migration): it
//! is draining its connections, and the number to report is the share of responses that
//! closed, with its uncertainty, not a limit.

use crate::model::{Drain, Ramp};

/// The two-sided 95 % quantile of the standard normal distribution.
const Z95: f64 = 1.959_963_984_540_054;

/// Fewest responses in each half of a server's traffic before a change of the close ratio
/// between the halves is called a ramp.
const RAMP_MIN_RESPONSES: u64 = 10;

/// The 95 % Wilson score interval of a proportion of `k` successes in `n` trials. Unlike the
/// normal approximation it stays within [0, 1] and is usable for small `n` and for `k` near 0
/// or `n` (which a drain of a few per cent gives). `(0, 1)` when there are no trials.
pub(crate) fn wilson_interval(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n_f = n as f64;
    let p = k.min(n) as f64 / n_f;
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denominator;
    let half_width = Z95 * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denominator;
    (
        (centre - half_width).max(0.0),
        (centre + half_width).min(1.0),
    )
}

/// What the request counts at which a server said `Connection: close` show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseCounts {
    /// The server never said close.
    NoCloses,
    /// Close on every first response, and no connection carried more: keep-alive is off.
    KeepAliveOff,
    /// Every close came at this count, and no connection carried more requests: a limit.
    Limit(u32),
    /// The closes came at different counts, or a connection carried more requests than the
    /// count the others closed at: the server is draining.
    Drain,
    /// A single close, contradicted by a connection that carried more requests: too little to
    /// call either (a close after an error response looks like that).
    Undecided,
}

/// Decides between a request limit and a drain. `closed_at`: the response number of every
/// `Connection: close` the server sent; `most_served_without_close`: the most responses a
/// connection of the same server got without being told to close (it ended otherwise).
pub(crate) fn classify(closed_at: &[u32], most_served_without_close: u32) -> CloseCounts {
    let Some(&first) = closed_at.first() else {
        return CloseCounts::NoCloses;
    };
    if closed_at.iter().any(|&n| n != first) || most_served_without_close > first {
        // One close says nothing about a share of responses.
        return if closed_at.len() >= 2 {
            CloseCounts::Drain
        } else {
            CloseCounts::Undecided
        };
    }
    if first <= 1 {
        CloseCounts::KeepAliveOff
    } else {
        CloseCounts::Limit(first)
    }
}

/// One connection of a draining server, for the ratio over time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionTally {
    pub first_ts_ns: i64,
    pub responses: u32,
    /// The server ended it with `Connection: close`.
    pub closed: bool,
}

/// The drain numbers of one server from its connections (any order).
pub(crate) fn drain(connections: &mut [ConnectionTally]) -> Drain {
    let responses: u64 = connections.iter().map(|c| u64::from(c.responses)).sum();
    let closes = connections.iter().filter(|c| c.closed).count() as u64;
    let (low, high) = wilson_interval(closes, responses);
    Drain {
        close_ratio: ratio(closes, responses),
        close_ratio_low: round4(low),
        close_ratio_high: round4(high),
        ramp: ramp(connections),
    }
}

/// The close ratio of the first and the second half of the responses (connections in the order
/// they opened, split where half the responses are reached), when the two halves' intervals do
/// not overlap.
fn ramp(connections: &mut [ConnectionTally]) -> Option<Ramp> {
    connections.sort_by_key(|c| c.first_ts_ns);
    let total: u64 = connections.iter().map(|c| u64::from(c.responses)).sum();
    let (mut n1, mut k1, mut n2, mut k2) = (0u64, 0u64, 0u64, 0u64);
    for c in connections.iter() {
        if 2 * n1 < total {
            n1 += u64::from(c.responses);
            k1 += u64::from(c.closed);
        } else {
            n2 += u64::from(c.responses);
            k2 += u64::from(c.closed);
        }
    }
    if n1 < RAMP_MIN_RESPONSES || n2 < RAMP_MIN_RESPONSES {
        return None;
    }
    let (lo1, hi1) = wilson_interval(k1, n1);
    let (lo2, hi2) = wilson_interval(k2, n2);
    (hi1 < lo2 || hi2 < lo1).then(|| Ramp {
        first_half_ratio: ratio(k1, n1),
        second_half_ratio: ratio(k2, n2),
    })
}

fn ratio(k: u64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        round4(k as f64 / n as f64)
    }
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_textbook_values() {
        // 30 of 100: p = 0.3, interval 0.2189–0.3958 (Wilson 1927; Newcombe 1998 method 3).
        let (lo, hi) = wilson_interval(30, 100);
        assert!((lo - 0.21886).abs() < 1e-4, "{lo}");
        assert!((hi - 0.39581).abs() < 1e-4, "{hi}");
        // 0 of 10: the lower end is 0, the upper end 0.2775 (not 0 as the normal
        // approximation would say).
        let (lo, hi) = wilson_interval(0, 10);
        assert!(lo.abs() < 1e-12, "{lo}");
        assert!((hi - 0.27753).abs() < 1e-4, "{hi}");
        // All of them: symmetric to none.
        let (lo, hi) = wilson_interval(10, 10);
        assert!((lo - 0.72247).abs() < 1e-4, "{lo}");
        assert!((hi - 1.0).abs() < 1e-12, "{hi}");
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
        // The interval narrows as the sample grows and always holds the ratio.
        let (a, b) = wilson_interval(3, 10);
        let (c, d) = wilson_interval(300, 1000);
        assert!(b - a > d - c);
        assert!(a < 0.3 && 0.3 < b && c < 0.3 && 0.3 < d);
    }

    #[test]
    fn one_count_is_a_limit_varying_counts_a_drain() {
        assert_eq!(classify(&[100, 100, 100], 57), CloseCounts::Limit(100));
        assert_eq!(classify(&[3, 1, 7, 2], 0), CloseCounts::Drain);
        assert_eq!(classify(&[3], 2), CloseCounts::Limit(3));
        // A connection served past the count the others closed at: no limit.
        assert_eq!(classify(&[5, 5], 9), CloseCounts::Drain);
        assert_eq!(classify(&[1, 1, 1], 1), CloseCounts::KeepAliveOff);
        assert_eq!(classify(&[1, 1], 4), CloseCounts::Drain);
        // One close, and a longer connection beside it: neither.
        assert_eq!(classify(&[1], 4), CloseCounts::Undecided);
        assert_eq!(classify(&[5], 9), CloseCounts::Undecided);
        assert_eq!(classify(&[], 40), CloseCounts::NoCloses);
    }

    fn tally(first_ts_ns: i64, responses: u32, closed: bool) -> ConnectionTally {
        ConnectionTally {
            first_ts_ns,
            responses,
            closed,
        }
    }

    #[test]
    fn ratio_interval_and_ramp() {
        // 3 closes in 10 responses, evenly spread: no ramp (too few, and no change).
        let mut even = vec![tally(0, 3, true), tally(1, 3, true), tally(2, 4, true)];
        let d = drain(&mut even);
        assert_eq!(d.close_ratio, 0.3);
        assert_eq!(d.ramp, None);
        let mut c: Vec<ConnectionTally> = (0..10).map(|i| tally(i, 4, i % 2 == 0)).collect();
        let d = drain(&mut c);
        assert_eq!(d.close_ratio, 0.125);
        assert!(d.close_ratio_low < 0.125 && 0.125 < d.close_ratio_high);
        assert_eq!(d.ramp, None);
        // First 40 responses on long connections that never closed, then every response
        // closed: a ramp from 0 to 1.
        let mut ramping: Vec<ConnectionTally> = (0..4).map(|i| tally(i, 10, false)).collect();
        ramping.extend((10..50).map(|i| tally(i, 1, true)));
        ramping.reverse();
        let d = drain(&mut ramping);
        assert_eq!(
            d.ramp,
            Some(Ramp {
                first_half_ratio: 0.0,
                second_half_ratio: 1.0
            })
        );
    }
}
