//! TCP keep-alive, per sending side: the settings its probes imply, and the probes nobody
//! answered.

use super::common::StreamCx;
use crate::finding::{Details, Finding, KeepaliveUnanswered, Severity};
use crate::report::{human, round, secs, TcpKeepalive};
use crate::stats::median;
use crate::stream::Keepalive;

/// Linux's default `tcp_keepalive_probes`, used for the worst case when the capture does not
/// show how many probes the sender makes before giving up.
const LINUX_KEEPCNT: u32 = 9;

/// One report per side that sent keep-alive probes; a finding for the longest run of
/// unanswered probes. Sets `explained_reset` when the sender gave up with the stream's reset.
pub(super) fn per_sender(
    cx: &StreamCx<'_>,
    out: &mut Vec<Finding>,
    explained_reset: &mut bool,
) -> Vec<TcpKeepalive> {
    let mut tcp_keepalive = Vec::new();
    for (d, dir) in cx.s.dirs.iter().enumerate() {
        let Some(k) = dir.ka.as_deref() else { continue };
        let set = settings(k);
        tcp_keepalive.push(TcpKeepalive {
            sender: cx.role(d),
            idle_s: set.idle.map(|i| round(secs(i), 3)),
            interval_s: set.interval.map(|i| round(secs(i), 3)),
            probes: k.probes,
            unanswered: k.unanswered,
            count: set.count,
            worst_case_detection_s: set.worst_s,
        });
        if k.max_run > 0 {
            out.push(unanswered(cx, d, k, &set, explained_reset));
        }
    }
    tcp_keepalive
}

/// What the probes of one side tell of its keep-alive settings.
struct Settings {
    /// `keepidle`: silence before the first probe.
    idle: Option<i64>,
    /// `keepintvl`: spacing of probes.
    interval: Option<i64>,
    /// `keepcnt`, when the sender was seen giving up.
    count: Option<u32>,
    /// Seconds until a dead peer is noticed.
    worst_s: Option<f64>,
}

fn settings(k: &Keepalive) -> Settings {
    let idle = k.idle_min;
    let interval = median(&k.gaps_after_unanswered.items).or_else(|| {
        // Probes that keep coming while answered and well before another idle period
        // elapsed are spaced by the interval too (some stacks re-probe that way).
        let short: Vec<i64> = k
            .gaps_after_answered
            .items
            .iter()
            .copied()
            .filter(|&g| idle.is_none_or(|i| g * 10 < i * 9))
            .collect();
        median(&short)
    });
    let count = k.gave_up.map(|(n, _, _)| n);
    let worst_s = match (idle, interval) {
        (Some(i), Some(v)) => Some(round(
            secs(i.saturating_add(v.saturating_mul(i64::from(count.unwrap_or(LINUX_KEEPCNT))))),
            3,
        )),
        _ => None,
    };
    Settings {
        idle,
        interval,
        count,
        worst_s,
    }
}

/// The longest run of unanswered probes from direction `d`'s sender.
fn unanswered(
    cx: &StreamCx<'_>,
    d: usize,
    k: &Keepalive,
    set: &Settings,
    explained_reset: &mut bool,
) -> Finding {
    let mut frames = k.max_run_frames.clone();
    let who = cx.role(d);
    let peer = cx.role(1 - d);
    let (end_txt, ts) = match k.gave_up {
        Some((n, f, t)) => {
            frames.push(f);
            *explained_reset |= cx.s.rst.is_some_and(|r| r.frame == f);
            (
                format!(
                    "; the {who} then reset the connection (frame {f}), {} after the first unanswered probe: keepcnt = {n}",
                    human(t - k.max_run_start_ts)
                ),
                t,
            )
        }
        None => (
            " and the capture ends with no answer".to_string(),
            k.max_run_end_ts,
        ),
    };
    Finding::new(
        Severity::Error,
        cx.sid(),
        frames,
        ts,
        format!(
            "{n} TCP keep-alive probe(s) from the {who} went unanswered{end_txt} → the {peer} is gone (crashed, unplugged) or a NAT/firewall on the path forgot the connection; \
             keep-alive noticed it {}; check the {peer} host and any stateful box between them",
            match (set.idle, set.worst_s) {
                (Some(i), _) => format!("after {} of idle plus the probes", human(i)),
                _ => "only after the probes".to_string(),
            },
            n = k.max_run,
        ),
        Details::KeepaliveUnanswered(KeepaliveUnanswered {
            idle_s: set.idle.map(|i| round(secs(i), 3)),
            interval_s: set.interval.map(|i| round(secs(i), 3)),
            sender: who,
            unanswered: k.max_run,
        }),
    )
}
