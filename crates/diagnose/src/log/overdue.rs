//! When an application may have noticed a heartbeat finding: not only at the late beat, but
//! from the moment the beat (or its reply) was due. An application with its own deadline logs
//! "no reply" when that deadline expires, while the late beat is still to come; such a line
//! belongs to the late beat or the close that follows.

use crate::finding::{Details, Finding};

fn ns(s: f64) -> i64 {
    (s * 1e9).round() as i64
}

/// The span in which the finding's application may have noticed it, for lining log lines up:
/// the overdue window of a late or missing beat (the previous beat + the period, to the late
/// beat or the close), the wait of an unanswered probe, else the finding's own moment.
pub(crate) fn noticed_span(f: &Finding) -> (i64, i64) {
    let ts = f.ts_ns;
    let (a, b) = match &f.details {
        // The late probe is the finding's moment; the one before it came `gap` earlier.
        Details::LateHeartbeat(d) => (ts - ns(d.gap_s) + ns(d.expected_period_s), ts),
        Details::MissedHeartbeat(d) if !d.stopped => {
            (ts - ns(d.gap_s) + ns(d.expected_period_s), ts)
        }
        // The last probe is the finding's moment; silence followed it until the close.
        Details::MissedHeartbeat(d) => (ts + ns(d.expected_period_s), ts + ns(d.gap_s)),
        // The reset is the finding's moment; the late probe came the reply's round trip and the
        // reset's delay before it.
        Details::ResetAfterHeartbeatDeadline(d) => match d.gap_s {
            Some(gap) => {
                let probe = ts
                    - ns(d.reply_latency_ms.unwrap_or(0.0) / 1e3)
                    - ns(d.reset_after_reply_ms.unwrap_or(0.0) / 1e3);
                (probe - ns(gap) + ns(d.expected_period_s), ts)
            }
            None => (ts, ts),
        },
        Details::UnansweredHeartbeat(d) => (ts, ts + ns(d.waited_s)),
        _ => (ts, ts),
    };
    (a.min(b), a.max(b))
}
