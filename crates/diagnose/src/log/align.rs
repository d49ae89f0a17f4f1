//! The clock offset under which a log's lines line up with the capture's events.
//!
//! Each (line, incident) pair fits a closed range of offsets. The offset that aligns the most
//! distinct incidents is found by sweeping the ranges' ends once, sorted, instead of trying
//! offsets one by one. Counting incidents, not lines, keeps a burst of lines about one event
//! from outweighing two separate incidents that agree.
//!
//! An incident may have been noticed over a span (a heartbeat overdue from the moment it was
//! due), which fits a wide range of offsets; a line that fits its very moment (the late beat,
//! the reset) pins the offset down. Among the offsets aligning the most incidents, those where
//! the most incidents are aligned at their moment win.

/// A log line fits a capture incident (by index) for offsets in `lo..=hi`, and its moment for
/// offsets in `moment_lo..=moment_hi` (empty when `moment_lo > moment_hi`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pair {
    pub incident: u32,
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
    /// ...and of them, those aligned at their moment.
    pub at_moment: u32,
    /// The offset chosen among the best ones: zero when it is one of them, else the one nearest
    /// zero (a step inside the best range, whose edges only just fit).
    pub offset_ns: i64,
    /// Whether zero offset is among the best.
    pub zero_fits: bool,
}

/// How far inside a best range the chosen offset stays from its edge.
const INSIDE_NS: i64 = 50_000_000;

/// Adds each incident's ranges, merged, to `edges` as a count change at the start and past the
/// end; `pairs` sorted by incident. `which`: 0 for the spans, 1 for the moments.
fn add_merged(pairs: &[Pair], which: usize, edges: &mut Vec<(i64, [i32; 2])>) {
    let mut delta = [0; 2];
    delta[which] = 1;
    let undo = delta.map(|d| -d);
    let mut ranges: Vec<(u32, i64, i64)> = pairs
        .iter()
        .map(|p| match which {
            0 => (p.incident, p.lo, p.hi),
            _ => (p.incident, p.moment_lo, p.moment_hi),
        })
        .filter(|r| r.1 <= r.2)
        .collect();
    ranges.sort_unstable();
    let mut cur: Option<(u32, i64, i64)> = None;
    for (k, lo, hi) in ranges {
        cur = match cur {
            Some((ck, clo, chi)) if ck == k && lo <= chi.saturating_add(1) => {
                Some((ck, clo, chi.max(hi)))
            }
            Some((_, clo, chi)) => {
                edges.extend([(clo, delta), (chi.saturating_add(1), undo)]);
                Some((k, lo, hi))
            }
            None => Some((k, lo, hi)),
        };
    }
    if let Some((_, lo, hi)) = cur {
        edges.extend([(lo, delta), (hi.saturating_add(1), undo)]);
    }
}

/// The best offset for these pairs, or `None` when there are none.
pub(crate) fn best_offset(pairs: &[Pair]) -> Option<Fit> {
    let mut edges: Vec<(i64, [i32; 2])> = Vec::with_capacity(pairs.len() * 4);
    add_merged(pairs, 0, &mut edges);
    add_merged(pairs, 1, &mut edges);
    edges.sort_unstable_by_key(|e| e.0);

    // Plateaus of the best (incidents, at their moment), as closed ranges.
    let mut score = [0i32; 2];
    let mut best = [0i32; 2];
    let mut plateaus: Vec<(i64, i64)> = Vec::new();
    let mut k = 0;
    while k < edges.len() {
        let at = edges[k].0;
        while k < edges.len() && edges[k].0 == at {
            score[0] += edges[k].1[0];
            score[1] += edges[k].1[1];
            k += 1;
        }
        let Some(&(next, _)) = edges.get(k) else {
            break;
        };
        if score[0] <= 0 || score < best {
            continue;
        }
        if score > best {
            best = score;
            plateaus.clear();
        }
        match plateaus.last_mut() {
            Some(last) if last.1 + 1 == at => last.1 = next - 1,
            _ => plateaus.push((at, next - 1)),
        }
    }
    if best[0] == 0 {
        return None;
    }
    let zero_fits = plateaus.iter().any(|&(a, b)| a <= 0 && 0 <= b);
    let offset_ns = if zero_fits {
        0
    } else {
        plateaus
            .iter()
            .map(|&(a, b)| {
                let inside = INSIDE_NS.min((b - a) / 2);
                if b < 0 {
                    b - inside
                } else {
                    a + inside
                }
            })
            .min_by_key(|o| (o.unsigned_abs(), *o < 0))
            .unwrap_or(0)
    };
    Some(Fit {
        score: best[0] as u32,
        at_moment: best[1] as u32,
        offset_ns,
        zero_fits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pair whose moment is the whole span.
    fn p(incident: u32, lo: i64, hi: i64) -> Pair {
        Pair {
            incident,
            lo,
            hi,
            moment_lo: lo,
            moment_hi: hi,
        }
    }

    #[test]
    fn the_offset_most_incidents_agree_on_nearest_zero() {
        // Two incidents agree on 3..5; a third fits -2..-1 alone.
        let f = best_offset(&[p(0, 3, 6), p(1, 2, 5), p(2, -2, -1)]).unwrap();
        assert_eq!((f.score, f.zero_fits), (2, false));
        // The best range's edge fits only just: a step inside it (here half its width).
        assert_eq!(f.offset_ns, 4);
        // Zero wins when it is among the best.
        let f = best_offset(&[p(0, -5, 5), p(1, -1, 9)]).unwrap();
        assert_eq!((f.score, f.offset_ns, f.zero_fits), (2, 0, true));
        // Of two equally good ranges, the nearer to zero; below zero, inside from its upper end.
        let f = best_offset(&[p(0, -900, -100), p(1, 500, 900)]).unwrap();
        assert_eq!(f.offset_ns, -500);
    }

    #[test]
    fn lines_about_one_incident_count_once() {
        // Ten lines about one incident at 100..200 lose to two incidents at 1000..1100.
        let mut pairs: Vec<Pair> = (0..10).map(|_| p(0, 100, 200)).collect();
        pairs.extend([p(1, 1000, 1100), p(2, 1000, 1100)]);
        let f = best_offset(&pairs).unwrap();
        assert_eq!(f.score, 2);
        assert_eq!(f.offset_ns, 1050);
        // One incident's overlapping ranges merge: it counts once wherever they overlap.
        assert_eq!(best_offset(&[p(0, 0, 10), p(0, 5, 20), p(0, 21, 30)]).unwrap().score, 1);
        assert_eq!(best_offset(&[]), None);
    }

    #[test]
    fn lines_at_the_moment_pin_the_offset_inside_wide_spans() {
        // Two incidents noticed over spans fitting 1000..5000 and 1100..5200; lines at their
        // moments fit 3000..4200 and 2900..4100: the offset comes from the moments, although
        // 1100 is nearer zero and aligns as many incidents.
        let pair = |incident, lo, hi, moment_lo, moment_hi| Pair {
            incident,
            lo,
            hi,
            moment_lo,
            moment_hi,
        };
        let f = best_offset(&[
            pair(0, 1000, 5000, 3000, 4200),
            pair(1, 1100, 5200, 2900, 4100),
        ])
        .unwrap();
        assert_eq!((f.score, f.at_moment), (2, 2));
        assert_eq!(f.offset_ns, 3000 + 550);
        // A line only inside a span still aligns its incident, at no moment.
        let f = best_offset(&[pair(0, -10, 10, 1, 0)]).unwrap();
        assert_eq!((f.score, f.at_moment, f.offset_ns), (1, 0, 0));
    }
}
