//! Turning one finished stream's state into its summary and findings.

use crate::civil::fmt_utc;
use crate::finding::{
    DeadlineCause, DeadlineReset, Details, Finding, ForgedReset, IdleBeyond, IdleStream,
    IdleTally as IdleTallyDetails, KeepaliveUnanswered, LateBeat, MissedBeats, Reset,
    RetransmittedProbe, Severity, SlowReply, StateLoss, UnansweredProbe,
};
use crate::heartbeat::{choose, Chosen};
use crate::middlebox::exceeded;
use crate::options::Options;
use crate::report::{
    human, round, secs, Close, Endpoints, Heartbeat, Latency, StreamReport, TcpKeepalive,
};
use crate::stream::{Gap, Stream};

/// Linux's default `tcp_keepalive_probes`, used for the worst case when the capture does not
/// show how many probes the sender makes before giving up.
const LINUX_KEEPCNT: u32 = 9;

fn s3(ns: i64) -> f64 {
    round(secs(ns), 6)
}

fn ms(ns: i64) -> f64 {
    round(ns as f64 / 1e6, 3)
}

pub(crate) fn summarize(
    s: &Stream,
    opts: &Options,
    out: &mut Vec<Finding>,
    tally: &mut [IdleTally],
    services: &mut crate::heartbeat::Services,
) -> StreamReport {
    let (cdir, roles_from) = s.client_dir();
    let role = |d: usize| if d == cdir { "client" } else { "server" };
    let sid = Some(s.id);
    let hb = choose(s, opts).or_else(|| services.choose(s));
    if let Some(h) = &hb {
        services.learn(s, h);
    }
    let mut explained_reset = false;

    // What ended the connection.
    let first_fin = s.dirs.iter().filter_map(|d| d.fin).min_by_key(|e| e.ts);
    let close_ev = s.rst.map(|e| ("rst", e)).or(first_fin.map(|e| ("fin", e)));
    let close = close_ev.map(|(kind, e)| Close {
        kind,
        by: role(e.dir as usize),
        frame: e.frame,
        time: fmt_utc(e.ts),
        after_last_beat_s: hb.as_ref().map(|h| round(secs(e.ts - h.cand.last.ts), 6)),
        after_last_data_s: s.last_data.map(|(_, t)| round(secs(e.ts - t), 6)),
    });

    let heartbeat = hb
        .as_ref()
        .map(|h| heartbeat_findings(s, h, opts, role, out, &mut explained_reset));

    // TCP keep-alive, per sending side.
    let mut tcp_keepalive = Vec::new();
    for (d, dir) in s.dirs.iter().enumerate() {
        let Some(k) = dir.ka.as_deref() else { continue };
        let idle = k.idle_min;
        let interval = crate::stats::median(&k.gaps_after_unanswered.items).or_else(|| {
            // Probes that keep coming while answered and well before another idle period
            // elapsed are spaced by the interval too (some stacks re-probe that way).
            let short: Vec<i64> = k
                .gaps_after_answered
                .items
                .iter()
                .copied()
                .filter(|&g| idle.is_none_or(|i| g * 10 < i * 9))
                .collect();
            crate::stats::median(&short)
        });
        let count = k.gave_up.map(|(n, _, _)| n);
        let worst = match (idle, interval) {
            (Some(i), Some(v)) => Some(round(
                secs(i.saturating_add(v.saturating_mul(i64::from(count.unwrap_or(LINUX_KEEPCNT))))),
                3,
            )),
            _ => None,
        };
        tcp_keepalive.push(TcpKeepalive {
            sender: role(d),
            idle_s: idle.map(|i| round(secs(i), 3)),
            interval_s: interval.map(|i| round(secs(i), 3)),
            probes: k.probes,
            unanswered: k.unanswered,
            count,
            worst_case_detection_s: worst,
        });
        if k.max_run > 0 {
            let mut frames = k.max_run_frames.clone();
            let who = role(d);
            let peer = role(1 - d);
            let (end_txt, ts) = match k.gave_up {
                Some((n, f, t)) => {
                    frames.push(f);
                    explained_reset |= s.rst.is_some_and(|r| r.frame == f);
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
            out.push(Finding::new(
                Severity::Error,
                sid,
                frames,
                ts,
                format!(
                    "{n} TCP keep-alive probe(s) from the {who} went unanswered{end_txt} → the {peer} is gone (crashed, unplugged) or a NAT/firewall on the path forgot the connection; \
                     keep-alive noticed it {}; check the {peer} host and any stateful box between them",
                    match (idle, worst) {
                        (Some(i), _) => format!("after {} of idle plus the probes", human(i)),
                        _ => "only after the probes".to_string(),
                    },
                    n = k.max_run,
                ),
                Details::KeepaliveUnanswered(KeepaliveUnanswered {
                    idle_s: idle.map(|i| round(secs(i), 3)),
                    interval_s: interval.map(|i| round(secs(i), 3)),
                    sender: who,
                    unanswered: k.max_run,
                }),
            ));
        }
    }

    // A reset with a TTL the sender never used.
    if let Some(inj) = s.injected {
        explained_reset = true;
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
    }

    // Idle, then data nobody acknowledges: a stateful box forgot the connection.
    if let Some(sl) = s.state_loss {
        let w = sl.watch;
        explained_reset |= sl.end.is_some();
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
    }

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
                exceeded: over
                    .iter()
                    .map(|&i| opts.middleboxes[i].idle_timeout_s)
                    .collect(),
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

    if let Some(r) = s.rst {
        let who = role(r.dir as usize);
        let last_beat = hb
            .as_ref()
            .map(|h| {
                format!(
                    ", {} after the last heartbeat probe",
                    human(r.ts - h.cand.last.ts)
                )
            })
            .unwrap_or_default();
        let last_data = s
            .last_data
            .map(|(f, t)| format!(", {} after the last data (frame {f})", human(r.ts - t)))
            .unwrap_or_default();
        // Data arriving after the resetter's own FIN: the peer reused a connection the resetter
        // was closing (the classic keep-alive timeout race).
        let race = s.dirs[r.dir as usize]
            .fin
            .filter(|f| f.ts <= r.ts && s.last_data.is_some_and(|(_, t)| t >= f.ts))
            .map(|f| {
                format!(
                    "; it had already closed its side (FIN frame {}) when the {} sent more data: a keep-alive close race — the {} should not reuse a connection after its idle timeout",
                    f.frame,
                    role(1 - r.dir as usize),
                    role(1 - r.dir as usize)
                )
            })
            .unwrap_or_default();
        // A reset answering the peer's packet after a long silence: the resetter's TCP no longer
        // had the connection (a half-open connection discovered).
        let half_open = s
            .rst_ctx
            .filter(|(prev, own)| {
                prev.dir != r.dir
                    && r.ts - prev.ts <= 50_000_000
                    && own.is_some_and(|o| r.ts - o >= 2_000_000_000)
                    && race.is_empty()
            })
            .map(|(prev, own)| {
                format!(
                    "; it was the answer to the {}'s packet (frame {}) after the {who} had sent nothing for {}: the {who}'s TCP no longer knew this connection — it had already been torn down on the {who}'s side (look there for an earlier reset, a restart, or a reset forged by a middlebox that the {} never saw)",
                    role(prev.dir as usize),
                    prev.frame,
                    human(r.ts - own.unwrap_or(r.ts)),
                    role(prev.dir as usize)
                )
            })
            .unwrap_or_default();
        out.push(Finding::new(
            if explained_reset {
                Severity::Info
            } else {
                Severity::Warning
            },
            sid,
            vec![r.frame],
            r.ts,
            format!(
                "the {who} reset the connection{last_beat}{last_data}{race}{half_open}{}",
                if explained_reset {
                    " (cause in the findings above)"
                } else {
                    ""
                }
            ),
            Details::ConnectionReset(Reset {
                after_last_data_s: s.last_data.map(|(_, t)| round(secs(r.ts - t), 6)),
                by: who,
                close_race: !race.is_empty(),
                half_open: !half_open.is_empty(),
            }),
        ));
    }

    StreamReport {
        stream: s.id,
        endpoints: Endpoints {
            client: s.addr[cdir].to_string(),
            server: s.addr[1 - cdir].to_string(),
            roles_from,
        },
        start: fmt_utc(s.first_ts),
        end: fmt_utc(s.last_ts),
        first_frame: s.first_frame,
        last_frame: s.last_frame,
        packets: s.packets,
        close,
        max_idle_s: round(secs(s.max_idle), 6),
        max_idle_frames: s.max_idle_frames,
        heartbeat,
        tcp_keepalive,
    }
}

fn heartbeat_findings(
    s: &Stream,
    h: &Chosen<'_>,
    opts: &Options,
    role: impl Fn(usize) -> &'static str,
    out: &mut Vec<Finding>,
    explained_reset: &mut bool,
) -> Heartbeat {
    let c = h.cand;
    let sid = Some(s.id);
    let sender = role(h.dir);
    let receiver = role(1 - h.dir);
    let reply_sig = c.reply_sig();
    let med = c.latency.quantile(0.5);
    let expected = format!("{} ± {}", human(h.period), human(h.tol));

    // The probe right before a reset, and whether it explains the reset.
    let mut deadline_gap_frame = None;
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
            let cause = if late.is_some() {
                Some(DeadlineCause::LateProbe)
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

    // Late and missed beats.
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

    // The beats stopped well before the connection ended.
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
            }),
        ));
    }

    // Slow replies: beyond --timeout, or far beyond this stream's usual latency.
    let slow_after = opts.timeout_ns.unwrap_or_else(|| {
        med.map(|m| (m.saturating_mul(50)).max(200_000_000))
            .unwrap_or(i64::MAX)
    });
    for (lat, rp) in c.slowest.iter().filter(|(l, _)| *l > slow_after) {
        out.push(Finding::new(
            Severity::Warning,
            sid,
            vec![rp.probe_frame, rp.frame],
            rp.ts,
            format!(
                "the {receiver} answered the probe after {} ({}; usual {}){}",
                human(*lat),
                match opts.timeout_ns {
                    Some(t) => format!("timeout {}", human(t)),
                    None => "no --timeout given".to_string(),
                },
                med.map(human).unwrap_or_default(),
                match c.retrans.iter().find(|x| x.orig_frame == rp.probe_frame) {
                    Some(x) => format!(
                        " → the probe itself had to be retransmitted (frame {}): the path lost it, the {receiver} then answered at once",
                        x.frame
                    ),
                    None => format!(" → check the {receiver}'s load or the path"),
                }
            ),
            Details::SlowHeartbeatReply(SlowReply {
                latency_ms: ms(*lat),
                timeout_ms: opts.timeout_ns.map(ms),
            }),
        ));
    }

    for u in &c.unanswered {
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
    }
}

impl crate::stream::Candidate {
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

/// When the connection ended: its first RST, else its first FIN.
fn close_ts(s: &Stream) -> Option<i64> {
    s.rst
        .map(|r| r.ts)
        .or_else(|| s.dirs.iter().filter_map(|d| d.fin).map(|e| e.ts).min())
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

    pub fn finding(&self, m: &crate::middlebox::Middlebox) -> Option<Finding> {
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
                m.name,
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
