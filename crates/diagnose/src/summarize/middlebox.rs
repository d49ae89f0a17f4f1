//! What middleboxes did to the stream: a reset one forged, the connection one forgot while it
//! was idle, and idle gaps longer than their default timeouts.

use super::common::{s3, StreamCx};
use crate::finding::{
    Details, Finding, ForgedReset, IdleBeyond, IdleStream, IdleTally as IdleTallyDetails, Severity,
    StateLoss,
};
use crate::middlebox::{exceeded, Middlebox};
use crate::report::{human, secs};

/// A reset with a TTL the sender never used; whether there was one (it explains the reset).
pub(super) fn injected_reset(cx: &StreamCx<'_>, out: &mut Vec<Finding>) -> bool {
    let s = cx.s;
    let sid = cx.sid();
    let role = |d: usize| cx.role(d);
    let Some(inj) = s.injected else {
        return false;
    };
    let who = role(inj.rst.dir as usize);
    let usual = if inj.usual_min == inj.usual_max {
        format!("{}", inj.usual_min)
    } else {
        format!("{}-{}", inj.usual_min, inj.usual_max)
    };
    out.push(Finding::new(
        Severity::Error,
        sid,
        vec![inj.rst.frame],
        inj.rst.ts,
        format!(
            "the RST claiming to come from the {who} has IP TTL/hop limit {} while the {who}'s {} other segments all had {usual} → it was most likely forged by a middlebox (firewall, IPS, load balancer) {} hop(s) away from the capture point, not sent by the {who}; check the devices on the path and their idle/inspection policies",
            inj.rst.ttl,
            inj.usual_n,
            (i32::from(inj.rst.ttl) - i32::from(inj.usual_max)).abs().min((i32::from(inj.rst.ttl) - i32::from(inj.usual_min)).abs()),
        ),
        Details::InjectedReset(ForgedReset {
            by: who,
            ttl: inj.rst.ttl,
            usual_ttl_max: inj.usual_max,
            usual_ttl_min: inj.usual_min,
        }),
    ));
    true
}

/// Idle, then data nobody acknowledges: a stateful box forgot the connection. Whether it ended
/// in a reset (which it then explains).
pub(super) fn state_loss(cx: &StreamCx<'_>, out: &mut Vec<Finding>) -> bool {
    let s = cx.s;
    let opts = cx.opts;
    let sid = cx.sid();
    let role = |d: usize| cx.role(d);
    let Some(sl) = s.state_loss else {
        return false;
    };
    let w = sl.watch;
    let who = role(w.dir as usize);
    let boxes: Vec<&str> = exceeded(&opts.middleboxes, secs(w.idle))
        .map(|m| m.name)
        .collect();
    let mut frames = vec![w.idle_from_frame, w.frame];
    if w.retrans > 0 {
        frames.push(w.last_retrans_frame);
    }
    let end = match sl.end {
        Some(e) => {
            frames.push(e.frame);
            format!(
                "then the {} sent RST (frame {})",
                role(e.dir as usize),
                e.frame
            )
        }
        None => "then silence to the end of the capture".to_string(),
    };
    let ts = sl.end.map(|e| e.ts).unwrap_or(w.ts);
    let last = if w.retrans > 0 {
        w.last_retrans_ts
    } else {
        w.ts
    };
    // TCP gives up (and the application hears of it) about one more backoff after the last
    // retransmission; a reset ends it at once.
    let noticed = match sl.end {
        Some(e) => (e.ts, e.ts),
        None => (last, last + (last - w.ts).max(0)),
    };
    let mut f = Finding::new(
        Severity::Error,
        sid,
        frames,
        ts,
        format!(
            "after {} with no packet, the {who}'s data (frame {}) was {} without any ACK, {end} → a NAT or stateful firewall between them dropped the connection while it was idle{}; keep it busier than that box's idle timeout (heartbeat or TCP keep-alive more often than every {}), or raise the timeout",
            human(w.idle),
            w.frame,
            if w.retrans > 0 { format!("retransmitted {} time(s)", w.retrans) } else { "never acknowledged".to_string() },
            if boxes.is_empty() { String::new() } else { format!(" (as {} would by default)", boxes.join(", ")) },
            human(w.idle),
        ),
        Details::MiddleboxStateLoss(StateLoss {
            ended_by: sl.end.map(|e| role(e.dir as usize)),
            idle_s: s3(w.idle),
            retransmissions: w.retrans,
            sender: who,
        }),
    );
    f.noticed_ns = Some(noticed);
    out.push(f);
    sl.end.is_some()
}

/// The longest idle gap against common middlebox timeouts.
pub(super) fn idle_beyond_timeouts(
    cx: &StreamCx<'_>,
    out: &mut Vec<Finding>,
    tally: &mut [IdleTally],
) {
    let s = cx.s;
    let opts = cx.opts;
    let sid = cx.sid();
    // Longest idle gap against common middlebox timeouts: told per stream when the connection
    // did not survive it, else tallied per middlebox (most long idle gaps are harmless here).
    let over: Vec<usize> = opts
        .middleboxes
        .iter()
        .enumerate()
        .filter(|(_, m)| secs(s.max_idle) > f64::from(m.idle_timeout_s))
        .map(|(i, _)| i)
        .collect();
    // Did not survive: state lost, reset right after the gap, or its keep-alive found the peer
    // gone (the probes after the long idle went unanswered).
    let died_after_idle = s.state_loss.is_some()
        || s.rst.is_some_and(|r| r.frame == s.max_idle_frames[1])
        || s.idle_before_rst.is_some()
        || s.dirs.iter().any(|d| {
            d.ka.as_ref()
                .is_some_and(|k| k.max_run > 0 && k.max_run_start_ts >= s.max_idle_ts)
        });
    if !over.is_empty() && died_after_idle {
        let names: Vec<String> = over
            .iter()
            .map(|&i| {
                format!(
                    "{} {} s",
                    opts.middleboxes[i].name, opts.middleboxes[i].idle_timeout_s
                )
            })
            .collect();
        out.push(Finding::new(
            Severity::Warning,
            sid,
            s.max_idle_frames.to_vec(),
            s.max_idle_ts,
            format!(
                "the connection was idle for {} (frames {} → {}) and did not survive it; that is longer than the default idle timeout of: {}",
                human(s.max_idle),
                s.max_idle_frames[0],
                s.max_idle_frames[1],
                names.join(", "),
            ),
            Details::IdleBeyondMiddleboxTimeout(IdleBeyond::Stream(IdleStream {
                exceeded: {
                    // Several boxes share a timeout: each value once.
                    let mut t: Vec<u32> = over
                        .iter()
                        .map(|&i| opts.middleboxes[i].idle_timeout_s)
                        .collect();
                    t.dedup();
                    t
                },
                idle_s: s3(s.max_idle),
            })),
        ));
    } else {
        for &i in &over {
            if let Some(t) = tally.get_mut(i) {
                t.add(s.id, s.max_idle, s.max_idle_frames, s.max_idle_ts);
            }
        }
    }
}

/// Streams idle longer than one middlebox's timeout that were not harmed here.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdleTally {
    pub count: u64,
    /// (idle, stream, frames around the gap, time)
    pub longest: Option<(i64, u32, [u32; 2], i64)>,
    pub examples: Vec<u32>,
}

impl IdleTally {
    fn add(&mut self, stream: u32, idle: i64, frames: [u32; 2], ts: i64) {
        self.count += 1;
        if self.longest.is_none_or(|(l, ..)| idle > l) {
            self.longest = Some((idle, stream, frames, ts));
        }
        if self.examples.len() < 10 {
            self.examples.push(stream);
        }
    }

    /// The finding for `m` and the boxes that share its timeout (`names`, `m`'s first).
    pub(crate) fn finding(&self, m: &Middlebox, names: &[&str]) -> Option<Finding> {
        let (idle, stream, frames, ts) = self.longest?;
        let list: Vec<String> = self.examples.iter().map(|s| s.to_string()).collect();
        Some(Finding::new(
            Severity::Info,
            Some(stream),
            frames.to_vec(),
            ts,
            format!(
                "{} stream(s) stayed idle longer than {}: {} s (longest {} on stream {stream}, frames {} → {}; streams {}{}): behind such a box with its default settings they would have been dropped — keep heartbeats or TCP keep-alive below {} s if one is on the production path",
                self.count,
                names.join(" / "),
                m.idle_timeout_s,
                human(idle),
                frames[0],
                frames[1],
                list.join(", "),
                if self.count > self.examples.len() as u64 { ", ..." } else { "" },
                m.idle_timeout_s,
            ),
            Details::IdleBeyondMiddleboxTimeout(IdleBeyond::Tally(IdleTallyDetails {
                example_streams: self.examples.clone(),
                idle_s: s3(idle),
                middlebox: m.name,
                streams_count: self.count,
                timeout_s: m.idle_timeout_s,
            })),
        ))
    }
}
