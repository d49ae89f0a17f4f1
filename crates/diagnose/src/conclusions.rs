//! The few sentences a reader needs first: what killed the connections, and where to look.
//! One function per cause, each reading the typed details of the findings it is about; the
//! order of the calls in [`conclusions`] is the order of the sentences.

use crate::finding::{DeadlineCause, DeadlineReset, Details, Finding, Kind, Severity};
use crate::report::{human, LogSummary, StreamReport, TcpKeepalive};

/// The sentences, most important first.
pub(crate) fn conclusions(
    findings: &[Finding],
    streams: &[StreamReport],
    log: Option<&LogSummary>,
) -> Vec<String> {
    let mut out = Vec::new();
    deadline_resets(findings, streams, &mut out);
    dead_peers(findings, streams, &mut out);
    middlebox_causes(findings, &mut out);
    heartbeat_troubles(findings, &mut out);
    resets(findings, &mut out);
    http_drains(findings, &mut out);
    if let Some(l) = log {
        log_lines(findings, l, &mut out);
    }
    out
}

fn of(findings: &[Finding], kind: Kind) -> impl Iterator<Item = &Finding> {
    findings.iter().filter(move |f| f.kind() == kind)
}

fn count(findings: &[Finding], kind: Kind) -> usize {
    of(findings, kind).count()
}

fn median_f(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied()
}

fn secs_text(v: Option<f64>) -> String {
    v.map(|v| human((v * 1e9) as i64))
        .unwrap_or_else(|| "?".into())
}

fn ms_text(v: Option<f64>) -> String {
    v.map(|v| human((v * 1e6) as i64))
        .unwrap_or_else(|| "?".into())
}

/// The heartbeat sender of a stream, when it has a heartbeat.
fn heartbeat_sender(streams: &[StreamReport], stream: Option<u32>) -> Option<&'static str> {
    streams
        .iter()
        .find(|s| Some(s.stream) == stream)
        .and_then(|s| s.heartbeat.as_ref())
        .map(|h| h.sender)
}

/// Resets right after a heartbeat probe: blamed on the late sender, or on the answering side.
fn deadline_resets(findings: &[Finding], streams: &[StreamReport], out: &mut Vec<String>) {
    let deadline: Vec<(&Finding, &DeadlineReset)> = findings
        .iter()
        .filter_map(|f| match &f.details {
            Details::ResetAfterHeartbeatDeadline(d) => Some((f, d)),
            _ => None,
        })
        .collect();
    let late_probe: Vec<&(&Finding, &DeadlineReset)> = deadline
        .iter()
        .filter(|(_, d)| d.cause == DeadlineCause::LateProbe)
        .collect();
    if let Some(&&(ex, exd)) = late_probe.first() {
        let late = median_f(late_probe.iter().filter_map(|(_, d)| d.late_by_s).collect());
        let lat = median_f(
            late_probe
                .iter()
                .filter_map(|(_, d)| d.reply_latency_ms)
                .collect(),
        );
        let by_sender = late_probe
            .iter()
            .filter(|(f, d)| Some(d.by) == heartbeat_sender(streams, f.stream))
            .count();
        let sender = heartbeat_sender(streams, ex.stream).unwrap_or("sender");
        let receiver = if sender == "client" {
            "server"
        } else {
            "client"
        };
        let example = format!(
            "e.g. stream {}: probe sent {} after the previous, expected every {}; reply after {}; {} reset {} later",
            ex.stream.map(|s| s.to_string()).unwrap_or_default(),
            secs_text(exd.gap_s),
            secs_text(Some(exd.expected_period_s)),
            ms_text(exd.reply_latency_ms),
            exd.by,
            ms_text(exd.reset_after_reply_ms),
        );
        out.push(if by_sender * 2 >= late_probe.len() {
            format!(
                "{} connection(s) were reset by the {sender} right after one of its own heartbeat probes went out late (typically {} late; {example}). \
                 The {receiver} answered in {} (median), so the network was fine: the {sender}'s scheduler fired late and the {sender} then gave up on its own connection. \
                 Check the {sender}'s timer/scheduler (GC or VM pauses, a blocked event loop, CPU starvation), not the network.",
                late_probe.len(),
                secs_text(late),
                ms_text(lat),
            )
        } else {
            format!(
                "{} connection(s) were reset by the {receiver} after the {sender}'s heartbeat probe came late (typically {} late; {example}). \
                 The {receiver} enforced its deadline; the probes were scheduled late: check the {sender}'s scheduler, not the network.",
                late_probe.len(),
                secs_text(late),
            )
        });
    }
    let other_deadline = deadline.len() - late_probe.len();
    if other_deadline > 0 {
        out.push(format!(
            "{other_deadline} connection(s) were reset after a heartbeat probe that was not answered in time (see reset_after_heartbeat_deadline): look at the answering side and the path."
        ));
    }
}

/// TCP keep-alive that found the peer gone, with the settings that made it slow to notice.
fn dead_peers(findings: &[Finding], streams: &[StreamReport], out: &mut Vec<String>) {
    let ka = count(findings, Kind::KeepaliveUnanswered);
    if ka == 0 {
        return;
    }
    let dead: Vec<&TcpKeepalive> = streams
        .iter()
        .flat_map(|s| s.tcp_keepalive.iter())
        .filter(|k| k.unanswered > 0)
        .collect();
    let med =
        |f: fn(&TcpKeepalive) -> Option<f64>| median_f(dead.iter().filter_map(|k| f(k)).collect());
    let settings = match (med(|k| k.idle_s), med(|k| k.interval_s), med(|k| k.worst_case_detection_s)) {
        (Some(i), Some(v), Some(w)) => format!(
            " The probing side waits {} of silence, then probes every {}: a dead peer is noticed only after about {}; lower the keep-alive idle time below the shortest idle timeout of any NAT/firewall on the path if the connections must survive one.",
            human((i * 1e9) as i64),
            human((v * 1e9) as i64),
            human((w * 1e9) as i64)
        ),
        _ => String::new(),
    };
    out.push(format!(
        "{ka} connection(s) had TCP keep-alive probes go unanswered: the peer was gone or a middlebox had dropped the connection (keepalive_unanswered).{settings}"
    ));
}

/// Connections lost in a NAT/firewall, and resets such a box forged.
fn middlebox_causes(findings: &[Finding], out: &mut Vec<String>) {
    let sl = count(findings, Kind::MiddleboxStateLoss);
    if sl > 0 {
        out.push(format!(
            "{sl} connection(s) show middlebox state loss: after a long idle period the data was never acknowledged (middlebox_state_loss) — keep connections busier than the NAT/firewall idle timeout."
        ));
    }
    let idle: Vec<&crate::finding::IdleReset> = findings
        .iter()
        .filter_map(|f| match &f.details {
            Details::MiddleboxIdleReset(d) => Some(d),
            _ => None,
        })
        .collect();
    if let Some(first) = idle.first() {
        out.push(format!(
            "{} connection(s) were reset by a middlebox after an idle gap (e.g. {} idle, then a RST in the {}'s name with TTL {} instead of {}): a NAT/firewall forgot the connection while it was idle (middlebox_idle_reset) — keep connections busier than its idle timeout.",
            idle.len(),
            secs_text(Some(first.idle_s)),
            first.by,
            first.ttl,
            first.usual_ttl_min,
        ));
    }
    let inj = count(findings, Kind::InjectedReset);
    if inj > 0 {
        out.push(format!("{inj} reset(s) carry a TTL their claimed sender never used: forged by a middlebox (injected_reset)."));
    }
}

/// Heartbeat beats that went wrong without (necessarily) killing their connection.
fn heartbeat_troubles(findings: &[Finding], out: &mut Vec<String>) {
    let un = count(findings, Kind::UnansweredHeartbeat);
    if un > 0 {
        out.push(format!(
            "{un} heartbeat probe(s) went unanswered (unanswered_heartbeat)."
        ));
    }
    let rt = count(findings, Kind::RetransmittedHeartbeat);
    if rt > 0 {
        out.push(format!(
            "{rt} heartbeat probe(s) were retransmitted (tshark may show them as [TCP Keep-Alive]; they are retransmitted heartbeats): packet loss on the path delayed those beats."
        ));
    }
    let late_only = of(findings, Kind::LateHeartbeat)
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let stopped = |f: &Finding| matches!(&f.details, Details::MissedHeartbeat(m) if m.stopped);
    let missed = of(findings, Kind::MissedHeartbeat)
        .filter(|f| !stopped(f))
        .count();
    let stopped = of(findings, Kind::MissedHeartbeat)
        .filter(|f| stopped(f))
        .count();
    if late_only + missed > 0 {
        out.push(format!(
            "{late_only} late and {missed} missed heartbeat(s) that the connection survived."
        ));
    }
    if stopped > 0 {
        out.push(format!(
            "{stopped} heartbeat(s) stopped well before their connection ended: the sender stopped beating on a connection it may already consider dead."
        ));
    }
    let slow = count(findings, Kind::SlowHeartbeatReply);
    if slow > 0 {
        out.push(format!(
            "{slow} slow heartbeat repl(ies) (slow_heartbeat_reply)."
        ));
    }
}

/// Resets no heartbeat or keep-alive explains: half-open connections, close races, the rest.
fn resets(findings: &[Finding], out: &mut Vec<String>) {
    let resets: Vec<(Severity, bool, bool)> = findings
        .iter()
        .filter_map(|f| match &f.details {
            Details::ConnectionReset(r) => Some((f.severity, r.half_open, r.close_race)),
            _ => None,
        })
        .collect();
    let half_open = resets.iter().filter(|(_, h, _)| *h).count();
    if half_open > 0 {
        out.push(format!(
            "{half_open} reset(s) answered a packet on a connection the resetting side had already dropped (half-open connection): look at that side's earlier history."
        ));
    }
    let races = resets.iter().filter(|(_, _, r)| *r).count();
    if races > 0 {
        out.push(format!(
            "{races} reset(s) were keep-alive close races: one side sent data on a connection the other had already closed (FIN) — the sender should retire idle connections before the peer's idle timeout."
        ));
    }
    let unexplained = resets
        .iter()
        .filter(|&&(s, h, r)| s == Severity::Warning && !h && !r)
        .count();
    if unexplained > 0 {
        out.push(format!("{unexplained} other reset(s) without a heartbeat or keep-alive explanation (connection_reset)."));
    }
}

/// Servers that close their keep-alive connections like a coin flip per response.
fn http_drains(findings: &[Finding], out: &mut Vec<String>) {
    for f in findings {
        if let Details::HttpDrain(d) = &f.details {
            out.push(format!(
                "Server {} is draining its keep-alive connections: Connection: close on {:.0} % of its responses (95 % interval {:.0}–{:.0} %) after varying numbers of requests, not at a fixed request limit (http_drain); clients must retry idempotent requests on a new connection.",
                d.server,
                d.close_ratio * 100.0,
                d.close_ratio_low * 100.0,
                d.close_ratio_high * 100.0
            ));
        }
    }
}

/// The most telling of a log line's matched events names it.
const PHRASES: [(Kind, &str); 11] = [
    (
        Kind::ResetAfterHeartbeatDeadline,
        "the reset after a late or unanswered heartbeat",
    ),
    (
        Kind::KeepaliveUnanswered,
        "keep-alive giving up on a dead peer",
    ),
    (
        Kind::MiddleboxStateLoss,
        "the connection lost in a middlebox",
    ),
    (
        Kind::MiddleboxIdleReset,
        "the reset a middlebox sent after the idle gap",
    ),
    (Kind::InjectedReset, "a forged reset"),
    (Kind::UnansweredHeartbeat, "an unanswered heartbeat"),
    (Kind::LateHeartbeat, "a late heartbeat"),
    (Kind::SlowHeartbeatReply, "a slow heartbeat reply"),
    (Kind::MissedHeartbeat, "missed heartbeats"),
    (Kind::RetransmittedHeartbeat, "a retransmitted heartbeat"),
    (Kind::ConnectionReset, "a reset"),
];

/// Log lines that line up with capture events: a few examples, then the tally.
fn log_lines(findings: &[Finding], log: &LogSummary, out: &mut Vec<String>) {
    let mut matches: Vec<(&Finding, &crate::finding::LogMatch)> = findings
        .iter()
        .filter_map(|f| match &f.details {
            Details::LogMatch(m) => Some((f, m)),
            _ => None,
        })
        .collect();
    // Error lines first: they are what the reader came with.
    matches.sort_by_key(|(_, m)| {
        let t = m.log_text.to_ascii_lowercase();
        !(t.contains("error") || t.contains("fail"))
    });
    let examples: Vec<String> = matches
        .into_iter()
        .take(3)
        .map(|(f, m)| {
            let what = PHRASES
                .iter()
                .find(|(k, _)| m.matched_kinds.contains(k))
                .map(|(_, p)| *p)
                .unwrap_or("an event");
            let frames: Vec<String> = f.frames.iter().take(6).map(|f| f.to_string()).collect();
            format!(
                "log line {} \"{}\" is {what} on stream {} (frames {})",
                m.line,
                m.log_text,
                f.stream.map(|s| s.to_string()).unwrap_or_default(),
                frames.join(", ")
            )
        })
        .collect();
    if !examples.is_empty() {
        out.push(format!("In the application log: {}.", examples.join("; ")));
    }
    if log.event_lines > 0 {
        out.push(format!(
            "{} of {} error/restart lines of the application log line up with capture events{}.",
            log.matched,
            log.event_lines,
            log.clock_offset_s
                .map(|o| format!(" (clocks differ by {o:+.2} s)"))
                .unwrap_or_default()
        ));
    }
}
