//! What a long-running caller (`keepsight watch`) asks of a [`Diagnoser`] between segments:
//! when each live heartbeat is due at the latest, the finding for a beat that did not come by
//! then, and the findings of the streams that closed, handed out as soon as they settle. The
//! analysis is the one `diagnose` runs on a file; only the moment it speaks differs.

use crate::finding::{Details, Finding, MissedBeats, Severity};
use crate::heartbeat;
use crate::report::{human, round, secs};
use crate::stream::Stream;
use crate::{clamped, Diagnoser};

/// The latest a live stream's next heartbeat probe may come: its last probe, the period and the
/// tolerance learned from the beats seen (or given with `--period`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BeatDue {
    /// `tcp.stream`.
    pub stream: u32,
    /// The frame of the last probe seen.
    pub beat_frame: u32,
    /// When the last probe was seen, ns since the epoch.
    pub beat_ts_ns: i64,
    /// The heartbeat period.
    pub period_ns: i64,
    /// How late a beat may be before it is late.
    pub tolerance_ns: i64,
    /// Whether the probe is the client's (else the server's).
    pub client_beats: bool,
}

impl BeatDue {
    /// The moment the next probe is overdue.
    pub fn deadline_ns(&self) -> i64 {
        self.beat_ts_ns
            .saturating_add(self.period_ns)
            .saturating_add(self.tolerance_ns)
    }

    /// The finding for a probe still missing at `now_ns` (past [`BeatDue::deadline_ns`]): a
    /// `missed_heartbeat` naming the last probe, as `diagnose` names the beats stopped before
    /// the end of a stream.
    pub fn overdue(&self, now_ns: i64) -> Finding {
        let sender = if self.client_beats {
            "client"
        } else {
            "server"
        };
        let silent = now_ns - self.beat_ts_ns;
        Finding::new(
            Severity::Warning,
            Some(self.stream),
            vec![self.beat_frame],
            self.beat_ts_ns,
            format!(
                "the {sender}'s heartbeat is overdue: no probe for {} after frame {} (expected every {}, tolerance {}) → the {sender} stopped beating on this connection, or its probes are lost before the capture point",
                human(silent),
                self.beat_frame,
                human(self.period_ns),
                human(self.tolerance_ns)
            ),
            Details::MissedHeartbeat(MissedBeats {
                expected_period_s: round(secs(self.period_ns), 6),
                gap_s: round(secs(silent), 6),
                missed: (silent / self.period_ns.max(1)).max(1),
                stopped: true,
                tolerance_s: Some(round(secs(self.tolerance_ns), 6)),
            }),
        )
    }
}

impl Diagnoser {
    /// When the heartbeat of live stream `stream` is due at the latest; `None` when the
    /// stream shows no heartbeat (yet), is closed or is not live.
    pub fn beat_due(&self, stream: u32) -> Option<BeatDue> {
        let s = self.live.get(&stream)?;
        if s.closed_at.is_some() {
            return None;
        }
        let h = heartbeat::choose(s, &self.opts)?;
        Some(BeatDue {
            stream,
            beat_frame: h.cand.last.frame,
            beat_ts_ns: h.cand.last.ts,
            period_ns: h.period,
            tolerance_ns: h.tol,
            client_beats: h.dir == s.client_dir().0,
        })
    }

    /// Summarizes the streams closed more than `linger_ns` before `now_ns` (and silent since),
    /// and hands out every finding made since the last call. What was handed out is forgotten,
    /// with the summarized streams' reports and the per-kind caps, so memory stays bounded by
    /// the live streams however long the caller runs; [`Diagnoser::finish`] then reports only
    /// the rest.
    pub fn settle_closed(&mut self, now_ns: i64, linger_ns: i64) -> Vec<Finding> {
        self.connects.sweep();
        let mut closed: Vec<u32> = self
            .live
            .iter()
            .filter(|(_, s)| {
                s.closed_at
                    .is_some_and(|c| now_ns - c > linger_ns && now_ns - s.last_ts > linger_ns)
            })
            .map(|(&k, _)| k)
            .collect();
        // Stream order, as the sweep: what one summary learns is used by the next.
        closed.sort_unstable();
        for k in closed {
            if let Some(s) = self.live.remove(&k) {
                let end = s.last_ts;
                self.summarize(s, end);
                self.mark_done(k);
            }
        }
        self.reports.clear();
        self.ended.clear();
        self.per_kind.clear();
        std::mem::take(&mut self.findings)
    }

    /// Summarizes the streams of one segment silent for more than `idle_ns` at `now_ns` (a SYN
    /// nobody answered, a stray segment), and forgets the streams that grew past one segment
    /// from their list, which would otherwise keep an entry for every stream ever seen. Their
    /// findings come with the next [`Diagnoser::settle_closed`]. It walks that list: call it
    /// now and then, not per packet.
    pub fn settle_single(&mut self, now_ns: i64, idle_ns: i64) {
        let expired = self
            .singles
            .take_expired(|f| now_ns - f.segment().ts_ns > idle_ns);
        for first in expired {
            let s = Stream::replayed(&clamped(&first), &self.opts, &mut self.plaintext);
            let (id, end) = (s.id, s.last_ts);
            self.summarize(s, end);
            self.mark_done(id);
        }
    }

    /// Streams being followed (open, or closed and not yet settled).
    pub fn live_streams(&self) -> usize {
        self.live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overdue_names_the_last_probe_and_the_silence() {
        let due = BeatDue {
            stream: 4,
            beat_frame: 17,
            beat_ts_ns: 10_000_000_000,
            period_ns: 2_000_000_000,
            tolerance_ns: 500_000_000,
            client_beats: true,
        };
        assert_eq!(due.deadline_ns(), 12_500_000_000);
        let f = due.overdue(15_000_000_000);
        assert_eq!(f.kind(), crate::Kind::MissedHeartbeat);
        assert_eq!((f.stream, f.frames.as_slice()), (Some(4), &[17][..]));
        match f.details {
            Details::MissedHeartbeat(m) => {
                assert_eq!((m.gap_s, m.missed, m.stopped), (5.0, 2, true));
            }
            _ => panic!("not a missed heartbeat"),
        }
        assert!(f.message.contains("client's heartbeat is overdue"));
    }
}
