//! The clock offset under which a log's lines line up with the capture's events.
//!
//! Each (line, incident) pair fits a closed range of offsets. The offset that aligns the most
//! distinct incidents is found by sweeping the ranges' ends once, sorted, instead of trying
//! offsets one by one. Counting incidents, not lines, keeps a burst of lines about one event
//! from outweighing two separate incidents that agree.

/// A log line fits a capture incident (by index) for offsets in `lo..=hi`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pair {
    pub incident: u32,
    pub lo: i64,
    pub hi: i64,
}

/// The best offset of one reading of the log's times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fit {
    /// Distinct incidents aligned.
    pub score: u32,
    /// The offset chosen among the best ones: zero when it is one of them, else the one nearest
    /// zero (a step inside the best range, whose edges only just fit).
    pub offset_ns: i64,
    /// Whether zero offset is among the best.
    pub zero_fits: bool,
}

/// How far inside a best range the chosen offset stays from its edge.
const INSIDE_NS: i64 = 50_000_000;

/// The best offset for these pairs, or `None` when there are none.
pub(crate) fn best_offset(pairs: &mut [Pair]) -> Option<Fit> {
    if pairs.is_empty() {
        return None;
    }
    // Each incident's ranges merged, as +1 at a start and -1 past an end.
    let mut edges: Vec<(i64, i32)> = Vec::with_capacity(pairs.len() * 2);
    pairs.sort_unstable_by_key(|p| (p.incident, p.lo));
    let mut cur: Option<(u32, i64, i64)> = None;
    for p in pairs.iter() {
        cur = match cur {
            Some((k, lo, hi)) if k == p.incident && p.lo <= hi.saturating_add(1) => {
                Some((k, lo, hi.max(p.hi)))
            }
            Some((_, lo, hi)) => {
                edges.extend([(lo, 1), (hi.saturating_add(1), -1)]);
                Some((p.incident, p.lo, p.hi))
            }
            None => Some((p.incident, p.lo, p.hi)),
        };
    }
    if let Some((_, lo, hi)) = cur {
        edges.extend([(lo, 1), (hi.saturating_add(1), -1)]);
    }
    edges.sort_unstable_by_key(|e| e.0);

    // Plateaus of the best score, as closed ranges.
    let mut score = 0i32;
    let mut best = 0i32;
    let mut plateaus: Vec<(i64, i64)> = Vec::new();
    let mut k = 0;
    while k < edges.len() {
        let at = edges[k].0;
        while k < edges.len() && edges[k].0 == at {
            score += edges[k].1;
            k += 1;
        }
        let Some(&(next, _)) = edges.get(k) else {
            break;
        };
        if score <= 0 || score < best {
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
    if best == 0 {
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
        score: best as u32,
        offset_ns,
        zero_fits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(incident: u32, lo: i64, hi: i64) -> Pair {
        Pair { incident, lo, hi }
    }

    #[test]
    fn the_offset_most_incidents_agree_on_nearest_zero() {
        // Two incidents agree on 3..5; a third fits -2..-1 alone.
        let mut pairs = vec![p(0, 3, 6), p(1, 2, 5), p(2, -2, -1)];
        let f = best_offset(&mut pairs).unwrap();
        assert_eq!((f.score, f.zero_fits), (2, false));
        // The best range's edge fits only just: a step inside it (here half its width).
        assert_eq!(f.offset_ns, 4);
        // Zero wins when it is among the best.
        let mut pairs = vec![p(0, -5, 5), p(1, -1, 9)];
        let f = best_offset(&mut pairs).unwrap();
        assert_eq!((f.score, f.offset_ns, f.zero_fits), (2, 0, true));
        // Of two equally good ranges, the nearer to zero; below zero, inside from its upper end.
        let mut pairs = vec![p(0, -900, -100), p(1, 500, 900)];
        assert_eq!(best_offset(&mut pairs).unwrap().offset_ns, -500);
    }

    #[test]
    fn lines_about_one_incident_count_once() {
        // Ten lines about one incident at 100..200 lose to two incidents at 1000..1100.
        let mut pairs: Vec<Pair> = (0..10).map(|_| p(0, 100, 200)).collect();
        pairs.extend([p(1, 1000, 1100), p(2, 1000, 1100)]);
        let f = best_offset(&mut pairs).unwrap();
        assert_eq!(f.score, 2);
        assert_eq!(f.offset_ns, 1050);
        // One incident's overlapping ranges merge: it counts once wherever they overlap.
        let mut pairs = vec![p(0, 0, 10), p(0, 5, 20), p(0, 21, 30)];
        assert_eq!(best_offset(&mut pairs).unwrap().score, 1);
        assert_eq!(best_offset(&mut []), None);
    }
}
