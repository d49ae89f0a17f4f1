//! The clock offset under which a log's lines line up with the capture's events.
//!
//! Each (line, incident) pair fits a closed range of offsets. The offsets are tried on a fine
//! grid, each scored by the number of distinct incidents some line fits there: each incident's
//! ranges are merged first, then added to a difference array, so the cost is one pass over the
//! pairs and one over the grid, with no sort of all pairs. Counting incidents, not lines, keeps
//! a burst of lines about one event from outweighing two separate incidents that agree.
//!
//! An incident may have been noticed over a span (a heartbeat overdue from the moment it was
//! due), which fits a wide range of offsets; a line that fits its very moment (the late beat,
//! the reset) pins the offset down. Among the offsets aligning the most incidents, those where
//! the most incidents are aligned at their moment win, then those where the most streams have a
//! line naming them at their first or last packet ("connected from port N", "closing"): such
//! anchors tell a line written at a deadline from one written at the late beat.

/// A log line fits a capture incident for offsets in `lo..=hi`, and its moment for offsets in
/// `moment_lo..=moment_hi` (empty when `moment_lo > moment_hi`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pair {
    pub lo: i64,
    pub hi: i64,
    pub moment_lo: i64,
    pub moment_hi: i64,
}

/// The best offset of one reading of the log's times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fit {
    /// Distinct incidents aligned...
    pub score: u32,
    /// ...and of them, those aligned at their moment...
    pub at_moment: u32,
    /// ...and the streams a line naming them fits at their first or last packet.
    pub anchors: u32,
    /// The offset chosen among the best ones: zero when it is one of them, else the one nearest
    /// zero (a step inside the best range, whose edges only just fit).
    pub offset_ns: i64,
    /// Whether zero offset is among the best.
    pub zero_fits: bool,
    /// The best offsets form one unbroken range, this wide: no other reading of the clocks
    /// aligns as well.
    pub unique_width_ns: Option<i64>,
}

/// Spacing of the offsets tried: far below the narrowest range a line fits (its granularity
/// plus the allowed logging lag and lead, over a second), so no pair falls between two.
pub(crate) const STEP_NS: i64 = 10_000_000;
/// How far inside a best range the chosen offset stays from its edge.
const INSIDE_NS: i64 = 50_000_000;

/// Offsets `-range..=range` in steps of [`STEP_NS`], scored incident by incident.
pub(crate) struct Grid {
    range: i64,
    /// Per offset, the change in (incidents, incidents at their moment, anchored streams) from
    /// the one before.
    diff: Vec<[i32; 3]>,
    merged: Vec<(i64, i64)>,
}

impl Grid {
    pub(super) fn new(range: i64) -> Grid {
        Grid {
            range,
            diff: vec![[0; 3]; (2 * range / STEP_NS + 2) as usize],
            merged: Vec::new(),
        }
    }

    /// Forgets every incident added.
    pub(super) fn clear(&mut self) {
        self.diff.fill([0; 3]);
    }

    fn offset(&self, k: usize) -> i64 {
        k as i64 * STEP_NS - self.range
    }

    /// Adds the ranges of the (line, event) pairs of one incident.
    pub(super) fn add_incident(&mut self, pairs: &[Pair]) {
        self.add_merged(pairs, 0);
        self.add_merged(pairs, 1);
    }

    /// Adds the ranges in which lines naming one stream fit its first or last packet (`lo..=hi`
    /// of each pair).
    pub(super) fn add_anchor(&mut self, pairs: &[Pair]) {
        self.add_merged(pairs, 2);
    }

    /// Counts the offsets where any of the pairs' ranges (spans for `which` 0 and 2, moments
    /// for 1) fits, once.
    fn add_merged(&mut self, pairs: &[Pair], which: usize) {
        let mut ranges = std::mem::take(&mut self.merged);
        ranges.clear();
        ranges.extend(pairs.iter().map(|p| match which {
            1 => (p.moment_lo, p.moment_hi),
            _ => (p.lo, p.hi),
        }));
        ranges.retain(|r| r.0 <= r.1);
        ranges.sort_unstable();
        let mut cur: Option<(i64, i64)> = None;
        for &(lo, hi) in &ranges {
            cur = match cur {
                Some((clo, chi)) if lo <= chi => Some((clo, chi.max(hi))),
                Some(c) => {
                    self.add_range(c, which);
                    Some((lo, hi))
                }
                None => Some((lo, hi)),
            };
        }
        if let Some(c) = cur {
            self.add_range(c, which);
        }
        self.merged = ranges;
    }

    /// Counts the grid offsets within `lo..=hi`.
    fn add_range(&mut self, (lo, hi): (i64, i64), which: usize) {
        let last = self.diff.len() as i64 - 2;
        let first = (lo + self.range + STEP_NS - 1).div_euclid(STEP_NS).max(0);
        let end = (hi + self.range).div_euclid(STEP_NS).min(last);
        if first <= end {
            self.diff[first as usize][which] += 1;
            self.diff[end as usize + 1][which] -= 1;
        }
    }

    /// The best offset, or `None` when no incident fits any.
    pub(super) fn best(&self) -> Option<Fit> {
        let mut score = [0i32; 3];
        let mut best = [0i32; 3];
        // Runs of the best score, as (first, last) grid indices.
        let mut plateaus: Vec<(usize, usize)> = Vec::new();
        for (k, d) in self.diff[..self.diff.len() - 1].iter().enumerate() {
            for (s, d) in score.iter_mut().zip(d) {
                *s += d;
            }
            if score[0] <= 0 || score < best {
                continue;
            }
            if score > best {
                best = score;
                plateaus.clear();
            }
            match plateaus.last_mut() {
                Some(last) if last.1 + 1 == k => last.1 = k,
                _ => plateaus.push((k, k)),
            }
        }
        if best[0] == 0 {
            return None;
        }
        let ranges = plateaus
            .iter()
            .map(|&(a, b)| (self.offset(a), self.offset(b)));
        let zero_fits = ranges.clone().any(|(a, b)| a <= 0 && 0 <= b);
        let offset_ns = if zero_fits {
            0
        } else {
            ranges
                .map(|(a, b)| {
                    let inside = INSIDE_NS.min((b - a) / 2 / STEP_NS * STEP_NS);
                    if b < 0 {
                        b - inside
                    } else {
                        a + inside
                    }
                })
                .min_by_key(|o| (o.unsigned_abs(), *o < 0))
                .unwrap_or(0)
        };
        let unique_width_ns = match plateaus[..] {
            [(a, b)] => Some(self.offset(b) - self.offset(a)),
            _ => None,
        };
        Some(Fit {
            unique_width_ns,
            score: best[0] as u32,
            at_moment: best[1] as u32,
            anchors: best[2] as u32,
            offset_ns,
            zero_fits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    /// A pair whose moment is the whole span (ms).
    fn p(lo: i64, hi: i64) -> Pair {
        Pair {
            lo: lo * MS,
            hi: hi * MS,
            moment_lo: lo * MS,
            moment_hi: hi * MS,
        }
    }

    /// The best of incidents given as lists of pairs, on a ±2 s grid.
    fn best(incidents: &[Vec<Pair>]) -> Option<Fit> {
        let mut g = Grid::new(2000 * MS);
        for inc in incidents {
            g.add_incident(inc);
        }
        g.best()
    }

    #[test]
    fn the_offset_most_incidents_agree_on_nearest_zero() {
        // Two incidents agree on 300..500 ms; a third fits -200..-100 alone.
        let f = best(&[vec![p(300, 600)], vec![p(200, 500)], vec![p(-200, -100)]]).unwrap();
        assert_eq!((f.score, f.zero_fits), (2, false));
        // The best range's edge fits only just: a step inside it.
        assert_eq!(f.offset_ns, 350 * MS);
        // Zero wins when it is among the best.
        let f = best(&[vec![p(-500, 500)], vec![p(-100, 900)]]).unwrap();
        assert_eq!((f.score, f.offset_ns, f.zero_fits), (2, 0, true));
        // Of two equally good ranges, the nearer to zero; below zero, inside from its upper end.
        let f = best(&[vec![p(-1900, -100)], vec![p(500, 1900)]]).unwrap();
        assert_eq!(f.offset_ns, -150 * MS);
        // Off-grid ends: the grid offsets inside the range.
        let f = best(&[vec![p(1234, 1251)]]).unwrap();
        assert_eq!(f.offset_ns, 1240 * MS);
    }

    #[test]
    fn lines_about_one_incident_count_once() {
        // Ten lines about one incident at 100..200 ms lose to two incidents at 1000..1100 ms.
        let f = best(&[
            (0..10).map(|_| p(100, 200)).collect(),
            vec![p(1000, 1100)],
            vec![p(1000, 1100)],
        ])
        .unwrap();
        assert_eq!(f.score, 2);
        assert_eq!(f.offset_ns, 1050 * MS);
        // One incident's overlapping ranges merge: it counts once wherever they overlap.
        assert_eq!(
            best(&[vec![p(0, 100), p(50, 200), p(210, 300)]])
                .unwrap()
                .score,
            1
        );
        assert_eq!(best(&[]), None);
        // Ranges entirely off the grid count nowhere.
        assert_eq!(best(&[vec![p(2500, 3000)]]), None);
    }

    #[test]
    fn lines_at_the_moment_pin_the_offset_inside_wide_spans() {
        // Two incidents noticed over spans fitting 100..1900 and 110..1950 ms; lines at their
        // moments fit 1000..1400 and 900..1300: the offset comes from the moments, although
        // 110 is nearer zero and aligns as many incidents.
        let pair = |lo: i64, hi: i64, moment_lo: i64, moment_hi: i64| Pair {
            lo: lo * MS,
            hi: hi * MS,
            moment_lo: moment_lo * MS,
            moment_hi: moment_hi * MS,
        };
        let f = best(&[
            vec![pair(100, 1900, 1000, 1400)],
            vec![pair(110, 1950, 900, 1300)],
        ])
        .unwrap();
        assert_eq!((f.score, f.at_moment), (2, 2));
        assert_eq!(f.offset_ns, 1050 * MS);
        // Lines naming streams at their first packets break a tie the moments leave.
        let mut g = Grid::new(2000 * MS);
        g.add_incident(&[pair(100, 1900, 1000, 1400), pair(100, 1900, 200, 600)]);
        g.add_anchor(&[p(950, 1450)]);
        let f = g.best().unwrap();
        assert_eq!(
            (f.score, f.at_moment, f.anchors, f.offset_ns),
            (1, 1, 1, 1050 * MS)
        );
        // A line only inside a span still aligns its incident, at no moment.
        let f = best(&[vec![pair(-10, 10, 1, 0)]]).unwrap();
        assert_eq!((f.score, f.at_moment, f.offset_ns), (1, 0, 0));
    }
}
