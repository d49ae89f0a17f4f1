//! The heartbeat sender giving up: it closed its own connection (FIN or RST) after probes in a
//! row that nobody answered. One finding ties the close to those probes and states the rule
//! the sender seems to apply.

use super::common::{s3, StreamCx};
use crate::finding::{Details, Finding, GaveUp, Severity};
use crate::heartbeat::Chosen;
use crate::report::human;

/// Pushes `heartbeat_gave_up` when the stream ended that way; true when it did (then it is the
/// close's one story: no `reset_after_heartbeat_deadline` is told for it).
///
/// The sender must have waited for the last probe's answer: at least twice its usual reply
/// latency (a close right behind a probe is not giving up on it).
pub(super) fn gave_up(cx: &StreamCx<'_>, h: &Chosen<'_>, out: &mut Vec<Finding>) -> bool {
    let s = cx.s;
    let c = h.cand;
    // On TLS a sender that gives up sends its alert (close_notify) first; the FIN may follow
    // the peer's.
    let Some((close, e)) = s.first_close() else {
        return false;
    };
    if e.dir as usize != h.dir {
        return false;
    }
    // The unanswered probes in a row that end at the close.
    let Some(last) = c.unanswered.last() else {
        return false;
    };
    if !(last.until_close && last.until_frame == Some(e.frame)) {
        return false;
    }
    let mut run = 1;
    for w in c.unanswered.windows(2).rev() {
        if w[0].until_frame != Some(w[1].frame) {
            break;
        }
        run += 1;
    }
    let probes = &c.unanswered[c.unanswered.len() - run..];
    // A sender silent for longer than that has stopped beating first (the `stopped` finding).
    let too_late = e.ts - last.ts > 2 * h.period + h.tol;
    let usual = c.latency.quantile(0.5).unwrap_or(0);
    let too_soon = e.ts - last.ts < usual.saturating_mul(2);
    if too_late || too_soon {
        return false;
    }
    let sender = cx.role(h.dir);
    let receiver = cx.role(1 - h.dir);
    let without_reply = e.ts - probes[0].ts;
    let periods = without_reply as f64 / h.period.max(1) as f64;
    // At the time its next beat was due, the sender counts beats; otherwise it waits a reply
    // timeout after its last probe.
    let waited = e.ts - last.ts;
    let at_next_beat = (waited - h.period).abs() <= h.tol;
    let policy = format!(
        "closes after {run} unanswered beat{}{}",
        if run == 1 { "" } else { "s" },
        if at_next_beat {
            String::new()
        } else {
            format!(", {} after the last one", human(waited))
        }
    );
    let mut frames: Vec<u32> = probes.iter().map(|u| u.frame).collect();
    let listed = frames
        .iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    frames.push(e.frame);
    let delivered = if probes.iter().all(|u| u.acked.is_some()) {
        format!(
            "the {receiver}'s TCP acknowledged every one, so the network delivered them: the {receiver} application stopped answering"
        )
    } else {
        format!("not all were acknowledged by the {receiver}'s TCP: look at the path and whether the {receiver} is still there")
    };
    out.push(Finding::new(
        Severity::Critical,
        cx.sid(),
        frames,
        e.ts,
        format!(
            "the {sender} gave up: it closed the connection ({}, frame {}) after {run} heartbeat probe(s) in a row got no answer (frames {listed}; no reply for {}, {periods:.1} periods of {}) → the {sender} {policy}; {delivered}",
            if close == "tls_alert" {
                "TLS alert".to_string()
            } else {
                close.to_uppercase()
            },
            e.frame,
            human(without_reply),
            human(h.period),
        ),
        Details::HeartbeatGaveUp(GaveUp {
            by: sender,
            close,
            policy,
            unanswered: run as u32,
            without_reply_s: s3(without_reply),
        }),
    ));
    true
}
