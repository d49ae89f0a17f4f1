//! The heartbeat's findings (the reset its deadline caused; late, missed, stopped, slow,
//! unanswered and retransmitted beats) and its summary.

use super::common::{close_ts, ms, s3, StreamCx};
use crate::finding::{
    DeadlineCause, DeadlineReset, Details, Finding, LateBeat, MissedBeats, RetransmittedProbe,
    Severity, SlowReply, UnansweredProbe,
};
use crate::heartbeat::Chosen;
use crate::reply_baseline;
use crate::report::{human, round, secs, Heartbeat, Latency};
use crate::stream::{Candidate, Gap, Reply};

/// The stream's heartbeat, and the words every message uses for it.
struct Beats<'a> {
    cx: &'a StreamCx<'a>,
    h: &'a Chosen<'a>,
    sender: &'static str,
    receiver: &'static str,
    /// "period ± tolerance".
    expected: String,
}

/// Pushes the heartbeat's findings, in the order the report has always listed equal ones;
/// sets `explained_reset` when the stream's reset followed a probe that explains it.
pub(super) fn findings(
    cx: &StreamCx<'_>,
    h: &Chosen<'_>,
    others_latency: Option<i64>,
    out: &mut Vec<Finding>,
    explained_reset: &mut bool,
) -> Heartbeat {
    let b = Beats {
        cx,
        h,
        sender: cx.role(h.dir),
        receiver: cx.role(1 - h.dir),
        expected: format!("{} ± {}", human(h.period), human(h.tol)),
    };
    // A sender that gave up after several unanswered probes: that is the close's story.
    let (deadline_gap_frame, reset_on_probe) = if super::gave_up::gave_up(cx, h, out) {
        *explained_reset = true;
        (None, None)
    } else {
        deadline_reset(&b, out, explained_reset)
    };
    late_and_missed(&b, deadline_gap_frame, out);
    stopped(&b, out);
    slow_replies(&b, others_latency, out);
    unanswered(&b, reset_on_probe, out);
    retransmitted(&b, out);
    summary(&b)
}

/// The probe right before a reset, and whether it explains the reset; the frame of the late
/// probe it blames, if any, and of the probe the receiver answered with the reset, if so.
fn deadline_reset(
    b: &Beats<'_>,
    out: &mut Vec<Finding>,
    explained_reset: &mut bool,
) -> (Option<u32>, Option<u32>) {
    let s = b.cx.s;
    let opts = b.cx.opts;
    let sid = b.cx.sid();
    let role = |d: usize| b.cx.role(d);
    let h = b.h;
    let c = b.h.cand;
    let sender = b.sender;
    let receiver = b.receiver;
    let expected = &b.expected;
    let mut deadline_gap_frame = None;
    let mut reset_on_probe = None;
    if let Some(r) = s.rst {
        let l = c.last;
        if r.ts >= l.ts && r.ts - l.ts <= h.period {
            let late = c
                .last_gap
                .filter(|g| g.gap > h.period + h.tol && g.frame == l.frame);
            let reply = c
                .last_reply
                .filter(|rp| rp.probe_frame == l.frame && rp.ts <= r.ts);
            let rst_by = role(r.dir as usize);
            // The receiver's reset came as fast as its replies usually do: it was the answer.
            let usual_reply = c.latency.quantile(0.5);
            let reset_as_reply = reply.is_none()
                && r.dir as usize != h.dir
                && usual_reply.is_some_and(|m| r.ts - l.ts <= (10 * m).max(RESET_AS_REPLY_MIN_NS))
                && r.ts - l.ts <= h.period / 10;
            let cause = if late.is_some() {
                Some(DeadlineCause::LateProbe)
            } else if reset_as_reply {
                reset_on_probe = Some(l.frame);
                Some(DeadlineCause::ResetOnProbe)
            } else if reply.is_none() && r.ts - l.ts > 0 {
                Some(DeadlineCause::Unanswered)
            } else if reply
                .is_some_and(|rp| opts.timeout_ns.is_some_and(|t| rp.ts - rp.probe_ts > t))
            {
                Some(DeadlineCause::SlowReply)
            } else {
                None
            };
            if let Some(cause) = cause {
                *explained_reset = true;
                let mut frames = Vec::new();
                let mut text = String::new();
                if let Some(g) = late {
                    deadline_gap_frame = Some(g.frame);
                    frames.extend([g.prev_frame, g.frame]);
                    text.push_str(&format!(
                        "probe sent {} after the previous (expected {expected}); ",
                        human(g.gap)
                    ));
                } else {
                    frames.push(l.frame);
                    text.push_str(&format!("probe (frame {}) ", l.frame));
                }
                match reply {
                    Some(rp) => {
                        frames.push(rp.frame);
                        text.push_str(&format!(
                            "reply after {}; {rst_by} reset {} later",
                            human(rp.ts - rp.probe_ts),
                            human(r.ts - rp.ts)
                        ));
                    }
                    None if cause == DeadlineCause::ResetOnProbe => text.push_str(&format!(
                        "answered by a reset from the {rst_by} {} later (its replies took {} typically)",
                        human(r.ts - l.ts),
                        human(usual_reply.unwrap_or(0))
                    )),
                    None => text.push_str(&format!(
                        "no reply; {rst_by} reset {} after the probe",
                        human(r.ts - l.ts)
                    )),
                }
                frames.push(r.frame);
                let why = match (cause, rst_by == sender) {
                    (DeadlineCause::LateProbe, true) => format!(
                        " → the {sender} gave up because its own probe was late, although the {receiver} answered at once: check the {sender}'s scheduler (timer drift, GC or VM pauses, a blocked event loop, CPU starvation), not the network"
                    ),
                    (DeadlineCause::LateProbe, false) => format!(
                        " → the {receiver} enforced its heartbeat deadline because the {sender}'s probe came late: check the {sender}'s scheduler, not the network"
                    ),
                    (DeadlineCause::Unanswered, _) => format!(
                        " → the {sender}'s probe got no answer in time: check the {receiver} application (stalled, overloaded) and the path between them{}",
                        c.pending_acked_hint(l.frame)
                    ),
                    (DeadlineCause::SlowReply, _) => format!(" → the {receiver} answered slower than the {sender}'s timeout: check the {receiver}'s load"),
                    (DeadlineCause::ResetOnProbe, _) => format!(
                        " → no deadline passed: the {receiver} application ended the connection when the probe came (it closed the socket with the probe unread, or with SO_LINGER 0); look at the {receiver}'s log at that moment, not at the network"
                    ),
                };
                text.push_str(&why);
                out.push(Finding::new(
                    Severity::Critical,
                    sid,
                    frames,
                    r.ts,
                    text,
                    Details::ResetAfterHeartbeatDeadline(DeadlineReset {
                        by: rst_by,
                        cause,
                        expected_period_s: s3(h.period),
                        gap_s: late.map(|g| s3(g.gap)),
                        late_by_s: late.map(|g| s3(g.gap - h.period)),
                        reply_latency_ms: reply.map(|rp| ms(rp.ts - rp.probe_ts)),
                        reset_after_reply_ms: reply.map(|rp| ms(r.ts - rp.ts)),
                    }),
                ));
            }
        }
    }
    (deadline_gap_frame, reset_on_probe)
}

/// The least time within which a receiver's reset right after a probe counts as its answer
/// (fast loopback replies take microseconds; scheduling alone can take a millisecond).
const RESET_AS_REPLY_MIN_NS: i64 = 2_000_000;

/// Late beats, and gaps of whole missing beats (`deadline_gap_frame`: the late probe the
/// deadline reset already blames, whose finding is an error).
fn late_and_missed(b: &Beats<'_>, deadline_gap_frame: Option<u32>, out: &mut Vec<Finding>) {
    let sid = b.cx.sid();
    let h = b.h;
    let c = b.h.cand;
    let sender = b.sender;
    let expected = &b.expected;
    let mut seen: Vec<u32> = Vec::new();
    let all: Vec<Gap> = c
        .gaps
        .items
        .iter()
        .chain(c.big_gaps.iter())
        .copied()
        .collect();
    for g in all {
        if g.gap <= h.period + h.tol || seen.contains(&g.frame) {
            continue;
        }
        seen.push(g.frame);
        let k = ((g.gap as f64) / (h.period as f64)).round() as i64;
        let before_reset = deadline_gap_frame == Some(g.frame);
        if k >= 2 && (g.gap - k * h.period).abs() <= h.tol {
            out.push(Finding::new(
                Severity::Warning,
                sid,
                vec![g.prev_frame, g.frame],
                g.ts,
                format!(
                    "{} after the previous probe (expected {expected}): {} beat(s) missing from the {sender}; the connection survived it — check the {sender}'s scheduler, or losses before the capture point",
                    human(g.gap),
                    k - 1
                ),
                Details::MissedHeartbeat(MissedBeats {
                    expected_period_s: s3(h.period),
                    gap_s: s3(g.gap),
                    missed: k - 1,
                    stopped: false,
                tolerance_s: None,
                }),
            ));
        } else {
            out.push(Finding::new(
                if before_reset {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                sid,
                vec![g.prev_frame, g.frame],
                g.ts,
                format!(
                    "probe sent {} after the previous (expected {expected}): {} late{}",
                    human(g.gap),
                    human(g.gap - h.period),
                    if before_reset {
                        "; the connection was reset right after it"
                    } else {
                        ""
                    }
                ),
                Details::LateHeartbeat(LateBeat {
                    expected_period_s: s3(h.period),
                    gap_s: s3(g.gap),
                    late_by_s: s3(g.gap - h.period),
                }),
            ));
        }
    }
}

/// The beats stopped well before the connection ended.
fn stopped(b: &Beats<'_>, out: &mut Vec<Finding>) {
    let s = b.cx.s;
    let sid = b.cx.sid();
    let h = b.h;
    let c = b.h.cand;
    let sender = b.sender;
    let end = close_ts(s).unwrap_or(s.last_ts);
    let silent = end - c.last.ts;
    if silent > 2 * h.period + h.tol {
        let (close_txt, mut frames) = match close_ts(s) {
            Some(_) => {
                let f = s.rst.map(|r| r.frame).or_else(|| {
                    s.dirs
                        .iter()
                        .filter_map(|d| d.fin)
                        .min_by_key(|e| e.ts)
                        .map(|e| e.frame)
                });
                (
                    " before the connection was closed",
                    f.into_iter().collect::<Vec<_>>(),
                )
            }
            None => (" to the last packet of the stream", vec![s.last_frame]),
        };
        frames.insert(0, c.last.frame);
        out.push(Finding::new(
            Severity::Warning,
            sid,
            frames,
            c.last.ts,
            format!(
                "the {sender}'s heartbeat stopped: no probe for {} after frame {} (expected every {}){close_txt} → the {sender} stopped beating on this connection (it may consider it dead already)",
                human(silent),
                c.last.frame,
                human(h.period)
            ),
            Details::MissedHeartbeat(MissedBeats {
                expected_period_s: s3(h.period),
                gap_s: s3(silent),
                missed: silent / h.period.max(1),
                stopped: true,
                tolerance_s: None,
            }),
        ));
    }
}

/// Whose usual reply latency a slow reply is measured against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Against {
    /// The connection's own.
    Own,
    /// The same service's other connections'.
    Others,
}

/// A reply found slow.
struct Slow {
    latency: i64,
    baseline: Option<i64>,
    against: Against,
    reply: Reply,
}

/// Slow replies: beyond --timeout; without it, far beyond the connection's own earlier
/// latency or the usual latency of the same service's other connections (`others_latency`;
/// the rule and its reasons are in [`crate::reply_baseline`]).
fn slow_replies(b: &Beats<'_>, others_latency: Option<i64>, out: &mut Vec<Finding>) {
    let opts = b.cx.opts;
    let c = b.h.cand;
    let mut slow: Vec<Slow> = Vec::new();
    let add = |slow: &mut Vec<Slow>, latency, baseline, against, reply: Reply| {
        if !slow.iter().any(|x| x.reply.frame == reply.frame) {
            slow.push(Slow {
                latency,
                baseline,
                against,
                reply,
            });
        }
    };
    match opts.timeout_ns {
        Some(t) => {
            // As before there was a baseline: the timeout decides, the median tells.
            let usual = c.latency.quantile(0.5);
            for (lat, rp) in c.slowest.iter().filter(|(l, _)| *l > t) {
                add(&mut slow, *lat, usual, Against::Own, *rp);
            }
        }
        None => {
            for x in &c.baseline.slow {
                add(
                    &mut slow,
                    x.latency,
                    Some(x.baseline),
                    Against::Own,
                    x.reply,
                );
            }
            // Replies that came before the connection had shown its usual latency (its first
            // three) are measured against all it showed.
            if let Some(m) = c.baseline.median() {
                for (lat, rp) in c
                    .slowest
                    .iter()
                    .filter(|(l, _)| reply_baseline::is_slow(*l, m))
                {
                    add(&mut slow, *lat, Some(m), Against::Own, *rp);
                }
            }
            // A connection slow from its first reply has no faster past of its own: the
            // service's other connections are its measure.
            if let Some(o) = others_latency {
                for (lat, rp) in c
                    .slowest
                    .iter()
                    .filter(|(l, _)| reply_baseline::is_slow(*l, o))
                {
                    add(&mut slow, *lat, Some(o), Against::Others, *rp);
                }
            }
        }
    }
    slow.sort_by_key(|x| x.reply.ts);
    for x in slow {
        slow_reply(b, x, out);
    }
}

/// One `slow_heartbeat_reply` finding.
fn slow_reply(b: &Beats<'_>, x: Slow, out: &mut Vec<Finding>) {
    let opts = b.cx.opts;
    let c = b.h.cand;
    let receiver = b.receiver;
    let (lat, rp) = (x.latency, x.reply);
    let why = match (opts.timeout_ns, x.baseline) {
        (Some(t), Some(m)) => format!("timeout {}; usual {}", human(t), human(m)),
        (Some(t), None) => format!("timeout {}", human(t)),
        (None, Some(m)) => format!(
            "{:.0}× the {} {}",
            reply_baseline::factor(lat, m),
            match x.against {
                Against::Own => "usual".to_string(),
                Against::Others => format!("{receiver}'s other connections' usual"),
            },
            human(m)
        ),
        (None, None) => "no --timeout given".to_string(),
    };
    out.push(Finding::new(
        Severity::Warning,
        b.cx.sid(),
        vec![rp.probe_frame, rp.frame],
        rp.ts,
        format!(
            "the {receiver} answered the probe after {} ({why}){}",
            human(lat),
            match c.retrans.iter().find(|r| r.orig_frame == rp.probe_frame) {
                Some(r) => format!(
                    " → the probe itself had to be retransmitted (frame {}): the path lost it, the {receiver} then answered at once",
                    r.frame
                ),
                None => format!(" → check the {receiver}'s load or the path"),
            }
        ),
        Details::SlowHeartbeatReply(SlowReply {
            baseline_ms: x.baseline.map(ms),
            // From the printed numbers, so that factor = latency_ms / baseline_ms holds in
            // the JSON as written.
            factor: x.baseline.map(|m| round(ms(lat) / ms(m).max(0.001), 1)),
            latency_ms: ms(lat),
            timeout_ms: opts.timeout_ns.map(ms),
        }),
    ));
}

/// Probes nobody answered, with whether the receiver's TCP acknowledged them (not the one the
/// receiver answered with its reset: the deadline finding tells that one).
fn unanswered(b: &Beats<'_>, reset_on_probe: Option<u32>, out: &mut Vec<Finding>) {
    let sid = b.cx.sid();
    let c = b.h.cand;
    let sender = b.sender;
    let receiver = b.receiver;
    for u in c
        .unanswered
        .iter()
        .filter(|u| Some(u.frame) != reset_on_probe)
    {
        let mut frames = vec![u.frame];
        if let Some((f, _)) = u.acked {
            frames.push(f);
        }
        if let Some(f) = u.until_frame {
            frames.push(f);
        }
        out.push(Finding::new(
            Severity::Error,
            sid,
            frames,
            u.ts,
            format!(
                "the {sender}'s probe got no answer for {}{} → {}",
                human(u.until_ts - u.ts),
                match u.until_frame {
                    Some(f) if u.until_close => format!(" until the connection closed (frame {f})"),
                    Some(f) => format!(" (until frame {f})"),
                    None => " (to the end of the capture)".to_string(),
                },
                match u.acked {
                    Some((f, t)) => format!(
                        "the {receiver}'s TCP acknowledged it after {} (frame {f}), so the network delivered it: the {receiver} application did not answer",
                        human(t - u.ts)
                    ),
                    None => format!("not even acknowledged by the {receiver}'s TCP: lost on the path or the {receiver} is gone"),
                }
            ),
            Details::UnansweredHeartbeat(UnansweredProbe {
                acked: u.acked.is_some(),
                waited_s: s3(u.until_ts - u.ts),
            }),
        ));
    }
}

/// Probes the sender had to retransmit.
fn retransmitted(b: &Beats<'_>, out: &mut Vec<Finding>) {
    let sid = b.cx.sid();
    let c = b.h.cand;
    let sender = b.sender;
    for r in &c.retrans {
        out.push(Finding::new(
            Severity::Warning,
            sid,
            vec![r.orig_frame, r.frame],
            r.ts,
            format!(
                "the {sender} retransmitted its {}-byte heartbeat probe {} after the original (frame {}){} → the probe or its ACK was lost; the heartbeat was delayed by that much",
                c.sig.len,
                human(r.ts - r.orig_ts),
                r.orig_frame,
                if r.tshark_keepalive { "; tshark labels it [TCP Keep-Alive], but it is a retransmitted heartbeat, not a kernel keep-alive" } else { "" }
            ),
            Details::RetransmittedHeartbeat(RetransmittedProbe {
                delay_s: s3(r.ts - r.orig_ts),
                tshark_keep_alive: r.tshark_keepalive,
            }),
        ));
    }
}

/// The heartbeat as the stream's report shows it.
fn summary(b: &Beats<'_>) -> Heartbeat {
    let h = b.h;
    let c = b.h.cand;
    let sender = b.sender;
    let reply_sig = b.h.cand.reply_sig();
    let med = b.h.cand.latency.quantile(0.5);
    Heartbeat {
        sender,
        probe_hex: c.sig.hex(),
        probe_len: c.sig.len,
        reply_hex: reply_sig.map(|r| r.hex()),
        period_s: round(secs(h.period), 6),
        jitter_s: round(secs(h.jitter), 6),
        tolerance_s: round(secs(h.tol), 6),
        reply_latency_ms: med.map(|m| Latency {
            median: round(m as f64 / 1e6, 3),
            p99: round(c.latency.quantile(0.99).unwrap_or(m) as f64 / 1e6, 3),
            max: round(c.latency.max().unwrap_or(m) as f64 / 1e6, 3),
        }),
        beats: c.count,
        replies: c.replies,
        period_given: h.given,
        tls_record: match &b.cx.s.tls {
            crate::stream::TlsMode::Tls(_) => Some(match c.sig.b[0] {
                24 => "heartbeat",
                _ => "application_data",
            }),
            _ => None,
        },
    }
}

impl Candidate {
    fn pending_acked_hint(&self, frame: u32) -> String {
        match self
            .unanswered
            .iter()
            .find(|u| u.frame == frame)
            .and_then(|u| u.acked)
        {
            Some((f, _)) => {
                format!(" (its TCP ACK came back in frame {f}, so the network delivered the probe)")
            }
            None => String::new(),
        }
    }
}
