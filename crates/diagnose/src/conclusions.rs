//! The few sentences a reader needs first: what killed the connections, and where to look.
//! One function per cause, each reading the typed details of the findings it is about; the
//! order of the calls in [`conclusions`] is the order of the sentences.

use crate::finding::{
    AppStopped, DeadlineCause, DeadlineReset, Details, Finding, GaveUp, Kind, Severity,
};
use crate::report::{human, Cause, LogSummary, StreamReport, TcpKeepalive};
use keepsight_http::FindingKind as HttpKind;

/// The sentences, most important first, and the causes of death they tell (one per cause and
/// side, each pointing at its sentence).
pub(crate) fn conclusions(
    findings: &[Finding],
    streams: &[StreamReport],
    logs: &[LogSummary],
) -> (Vec<String>, Vec<Cause>) {
    let mut out = Vec::new();
    let mut causes = Causes::default();
    deadline_resets(findings, streams, &mut out, &mut causes);
    gave_up(findings, &mut out, &mut causes);
    app_sessions(findings, &mut out, &mut causes);
    http2_sessions(findings, &mut out);
    mqtt_sessions(findings, &mut out, &mut causes);
    dead_peers(findings, streams, &mut out, &mut causes);
    middlebox_causes(findings, &mut out, &mut causes);
    heartbeat_troubles(findings, &mut out);
    reuse_races(findings, &mut out, &mut causes);
    http_drains(findings, &mut out, &mut causes);
    resets(findings, &mut out, &mut causes);
    connection_attempts(findings, &mut out);
    if !logs.is_empty() {
        log_lines(findings, logs, &mut out);
    }
    (out, causes.0)
}

/// The causes told so far.
#[derive(Default)]
struct Causes(Vec<Cause>);

impl Causes {
    /// Records that the last sentence of `out` tells `cause` by `by` for these findings' streams
    /// (a cause and side already recorded keeps its first sentence and gains the streams).
    fn told<'a>(
        &mut self,
        out: &[String],
        cause: Kind,
        by: Option<&'static str>,
        of: impl IntoIterator<Item = &'a Finding>,
    ) {
        // All the streams a finding is about (a server's drain names every drained connection).
        let mut streams: Vec<u32> = of.into_iter().flat_map(|f| f.streams()).collect();
        let summary = out.len().saturating_sub(1);
        let entry = match self.0.iter_mut().find(|c| c.cause == cause && c.by == by) {
            Some(e) => e,
            None => {
                self.0.push(Cause {
                    cause,
                    by,
                    connections: 0,
                    streams: Vec::new(),
                    summary,
                });
                self.0.last_mut().expect("just pushed")
            }
        };
        streams.append(&mut entry.streams);
        streams.sort_unstable();
        streams.dedup();
        entry.connections = streams.len();
        entry.streams = streams;
    }
}

/// The distinct values of `key` over `items`, in order of first appearance.
fn sides<T>(items: &[T], key: impl Fn(&T) -> &'static str) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    for i in items {
        if !v.contains(&key(i)) {
            v.push(key(i));
        }
    }
    v
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

/// Resets right after a heartbeat probe: blamed on the late sender, or on the answering side;
/// one sentence per side that reset (a server's reset is never counted among the client's).
fn deadline_resets(
    findings: &[Finding],
    streams: &[StreamReport],
    out: &mut Vec<String>,
    causes: &mut Causes,
) {
    let deadline: Vec<(&Finding, &DeadlineReset)> = findings
        .iter()
        .filter_map(|f| match &f.details {
            Details::ResetAfterHeartbeatDeadline(d) => Some((f, d)),
            _ => None,
        })
        .collect();
    let all_late: Vec<&(&Finding, &DeadlineReset)> = deadline
        .iter()
        .filter(|(_, d)| d.cause == DeadlineCause::LateProbe)
        .collect();
    for by in sides(&all_late, |(_, d)| d.by) {
        let late_probe: Vec<&(&Finding, &DeadlineReset)> = all_late
            .iter()
            .copied()
            .filter(|(_, d)| d.by == by)
            .collect();
        late_probe_resets(&late_probe, streams, out);
        causes.told(
            out,
            Kind::ResetAfterHeartbeatDeadline,
            Some(by),
            late_probe.iter().map(|(f, _)| *f),
        );
    }
    let on_probe: Vec<&(&Finding, &DeadlineReset)> = deadline
        .iter()
        .filter(|(_, d)| d.cause == DeadlineCause::ResetOnProbe)
        .collect();
    for by in sides(&on_probe, |(_, d)| d.by) {
        let of: Vec<&Finding> = on_probe
            .iter()
            .filter(|(_, d)| d.by == by)
            .map(|(f, _)| *f)
            .collect();
        out.push(format!(
            "{} connection(s) were reset by the {by} as its answer to a heartbeat probe, as fast as it replies (see reset_after_heartbeat_deadline): no deadline passed, the {by} application ended them; its log at those moments says why.",
            of.len()
        ));
        causes.told(out, Kind::ResetAfterHeartbeatDeadline, Some(by), of);
    }
    let other: Vec<&(&Finding, &DeadlineReset)> = deadline
        .iter()
        .filter(|(_, d)| {
            !matches!(
                d.cause,
                DeadlineCause::LateProbe | DeadlineCause::ResetOnProbe
            )
        })
        .collect();
    for by in sides(&other, |(_, d)| d.by) {
        let of: Vec<&Finding> = other
            .iter()
            .filter(|(_, d)| d.by == by)
            .map(|(f, _)| *f)
            .collect();
        out.push(format!(
            "{} connection(s) were reset by the {by} after a heartbeat probe that was not answered in time (see reset_after_heartbeat_deadline): look at the answering side and the path.",
            of.len()
        ));
        causes.told(out, Kind::ResetAfterHeartbeatDeadline, Some(by), of);
    }
}

/// One sentence for the resets after late probes by one side.
fn late_probe_resets(
    late_probe: &[&(&Finding, &DeadlineReset)],
    streams: &[StreamReport],
    out: &mut Vec<String>,
) {
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
}

/// Heartbeat senders that closed their connection after unanswered probes, one sentence per
/// side.
fn gave_up(findings: &[Finding], out: &mut Vec<String>, causes: &mut Causes) {
    let all: Vec<(&Finding, &GaveUp)> = findings
        .iter()
        .filter_map(|f| match &f.details {
            Details::HeartbeatGaveUp(g) => Some((f, g)),
            _ => None,
        })
        .collect();
    for by in sides(&all, |(_, g)| g.by) {
        let of: Vec<&(&Finding, &GaveUp)> = all.iter().filter(|(_, g)| g.by == by).collect();
        let other = if by == "client" { "server" } else { "client" };
        let mut policies: Vec<&str> = of.iter().map(|(_, g)| g.policy.as_str()).collect();
        policies.sort_unstable();
        policies.dedup();
        out.push(format!(
            "{} connection(s) were closed by the {by} after its heartbeat probes went unanswered (heartbeat_gave_up; the {by} {}): the {other} stopped answering — check the {other} application and the path, not the {by}.",
            of.len(),
            policies.join(" or ")
        ));
        causes.told(
            out,
            Kind::HeartbeatGaveUp,
            Some(by),
            of.iter().map(|(f, _)| *f),
        );
    }
}

/// Application protocols whose own heartbeat (FIX HeartBtInt, …) stopped: one sentence per
/// protocol and silent side, citing the first such session; then late beats and sequence gaps.
fn app_sessions(findings: &[Finding], out: &mut Vec<String>, causes: &mut Causes) {
    let stopped: Vec<(&Finding, &AppStopped)> = findings
        .iter()
        .filter_map(|f| match &f.details {
            Details::AppHeartbeatStopped(d) => Some((f, d)),
            _ => None,
        })
        .collect();
    for by in sides(&stopped, |(_, d)| d.sender) {
        let of: Vec<&(&Finding, &AppStopped)> =
            stopped.iter().filter(|(_, d)| d.sender == by).collect();
        let (first, _) = of[0];
        out.push(format!(
            "{} session(s) ended after the {by}'s protocol heartbeats stopped (app_heartbeat_stopped) — check the {by} application; first: stream {}: {}",
            of.len(),
            first.stream.map(|s| s.to_string()).unwrap_or_default(),
            first.message
        ));
        causes.told(
            out,
            Kind::AppHeartbeatStopped,
            Some(by),
            of.iter().map(|(f, _)| *f),
        );
    }
    let late = count(findings, Kind::AppHeartbeatLate);
    if late > 0 {
        out.push(format!(
            "{late} silence(s) longer than the protocol's declared heartbeat interval allows, after which the side spoke again (app_heartbeat_late)."
        ));
    }
    let unanswered = count(findings, Kind::AppProbeUnanswered);
    if unanswered > 0 {
        out.push(format!(
            "{unanswered} connection(s) ended with a protocol probe unanswered (app_probe_unanswered: Redis PING, SMPP enquire_link, ISO 8583 echo test): the answering side stopped answering."
        ));
    }
    let gaps = count(findings, Kind::AppSequenceGap);
    if gaps > 0 {
        out.push(format!(
            "{gaps} message sequence gap(s) in application sessions (app_sequence_gap): messages lost or a side restarted its numbering."
        ));
    }
}

/// HTTP/2 and gRPC: the GOAWAYs that were not a routine drain, failed calls, unanswered PINGs,
/// streams cut and connections closed without a GOAWAY, each with its first example.
fn http2_sessions(findings: &[Finding], out: &mut Vec<String>) {
    let mut told = |kind: Kind, what: &str, only_faults: bool| {
        let of: Vec<&Finding> = of(findings, kind)
            .filter(|f| !only_faults || f.severity != Severity::Info)
            .collect();
        if let Some(first) = of.first() {
            out.push(format!(
                "{} {what} ({}); first: stream {}: {}",
                of.len(),
                kind.as_str(),
                first.stream.map(|s| s.to_string()).unwrap_or_default(),
                first.message
            ));
        }
    };
    told(
        Kind::Http2Goaway,
        "HTTP/2 connection(s) ended by a GOAWAY with an error",
        true,
    );
    told(Kind::GrpcCallFailed, "gRPC call(s) failed", false);
    told(
        Kind::Http2PingUnanswered,
        "HTTP/2 PING(s) went unanswered",
        false,
    );
    told(
        Kind::Http2StreamsCut,
        "HTTP/2 connection(s) had streams cut by a GOAWAY",
        false,
    );
    told(
        Kind::Http2CloseWithoutGoaway,
        "HTTP/2 connection(s) closed with no GOAWAY",
        false,
    );
}

/// MQTT: clients the broker dropped for silence (a cause of death, by the server), unanswered
/// PINGREQs, refused CONNECTs, DISCONNECTs with an error reason code and clients that ping
/// more slowly than their keep-alive, each with its first example.
fn mqtt_sessions(findings: &[Finding], out: &mut Vec<String>, causes: &mut Causes) {
    let told = |kind: Kind, what: &str, only_faults: bool, out: &mut Vec<String>| {
        let of: Vec<&Finding> = of(findings, kind)
            .filter(|f| !only_faults || f.severity != Severity::Info)
            .collect();
        let first = of.first()?;
        out.push(format!(
            "{} {what} ({}); first: stream {}: {}",
            of.len(),
            kind.as_str(),
            first.stream.map(|s| s.to_string()).unwrap_or_default(),
            first.message
        ));
        Some(of)
    };
    if let Some(of) = told(
        Kind::MqttKeepaliveTimeout,
        "MQTT client(s) dropped by the broker after 1.5 x their keep-alive of silence",
        false,
        out,
    ) {
        causes.told(out, Kind::MqttKeepaliveTimeout, Some("server"), of);
    }
    told(
        Kind::MqttPingUnanswered,
        "MQTT PINGREQ(s) the broker never answered",
        false,
        out,
    );
    told(
        Kind::MqttConnectRefused,
        "MQTT CONNECT(s) refused by the broker",
        false,
        out,
    );
    told(
        Kind::MqttDisconnect,
        "MQTT 5 DISCONNECT(s) with an error reason code",
        true,
        out,
    );
    told(
        Kind::MqttSlowPings,
        "MQTT client(s) ping more slowly than their own keep-alive",
        true,
        out,
    );
}

/// TCP keep-alive that found the peer gone, with the settings that made it slow to notice.
fn dead_peers(
    findings: &[Finding],
    streams: &[StreamReport],
    out: &mut Vec<String>,
    causes: &mut Causes,
) {
    let ka = count(findings, Kind::KeepaliveUnanswered);
    if ka == 0 {
        return;
    }
    let senders = sides(
        &of(findings, Kind::KeepaliveUnanswered).collect::<Vec<_>>(),
        |f| match &f.details {
            Details::KeepaliveUnanswered(k) => k.sender,
            _ => "",
        },
    );
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
    // The sentence speaks of the probing side's settings; each prober is a side of the cause.
    for by in senders {
        causes.told(
            out,
            Kind::KeepaliveUnanswered,
            Some(by),
            of(findings, Kind::KeepaliveUnanswered).filter(
                |f| matches!(&f.details, Details::KeepaliveUnanswered(k) if k.sender == by),
            ),
        );
    }
}

/// Connections lost in a NAT/firewall, and resets such a box forged.
fn middlebox_causes(findings: &[Finding], out: &mut Vec<String>, causes: &mut Causes) {
    let sl = count(findings, Kind::MiddleboxStateLoss);
    if sl > 0 {
        out.push(format!(
            "{sl} connection(s) show middlebox state loss: after a long idle period the data was never acknowledged (middlebox_state_loss) — keep connections busier than the NAT/firewall idle timeout."
        ));
        causes.told(
            out,
            Kind::MiddleboxStateLoss,
            Some("middlebox"),
            of(findings, Kind::MiddleboxStateLoss),
        );
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
        causes.told(
            out,
            Kind::MiddleboxIdleReset,
            Some("middlebox"),
            of(findings, Kind::MiddleboxIdleReset),
        );
    }
    let inj = count(findings, Kind::InjectedReset);
    if inj > 0 {
        out.push(format!("{inj} reset(s) carry a TTL their claimed sender never used: forged by a middlebox (injected_reset)."));
        causes.told(
            out,
            Kind::InjectedReset,
            Some("middlebox"),
            of(findings, Kind::InjectedReset),
        );
    }
}

/// HTTP keep-alive connections lost to the reuse race: the server closed an idle connection
/// as the client reused it (the server's close ended them).
fn reuse_races(findings: &[Finding], out: &mut Vec<String>, causes: &mut Causes) {
    let kind = Kind::Http(HttpKind::HttpReuseRace);
    let n = count(findings, kind);
    if n > 0 {
        out.push(format!(
            "{n} HTTP request(s) were lost to the keep-alive reuse race: the client sent on a connection the server was closing at its idle timeout (http_reuse_race) — retire idle connections on the client before the server's idle timeout."
        ));
        causes.told(out, kind, Some("server"), of(findings, kind));
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
    let slow: Vec<&crate::finding::SlowReply> = findings
        .iter()
        .filter_map(|f| match &f.details {
            Details::SlowHeartbeatReply(d) => Some(d),
            _ => None,
        })
        .collect();
    if !slow.is_empty() {
        let typical = median_f(slow.iter().map(|d| d.latency_ms).collect());
        let usual = median_f(slow.iter().filter_map(|d| d.baseline_ms).collect());
        out.push(format!(
            "{} slow heartbeat repl(ies) (slow_heartbeat_reply): typically {}{}.",
            slow.len(),
            ms_text(typical),
            usual
                .map(|u| format!(" where the usual reply takes {}", ms_text(Some(u))))
                .unwrap_or_default()
        ));
    }
}

/// Resets no heartbeat or keep-alive explains: half-open connections, close races, the rest
/// (one sentence per side that reset).
fn resets(findings: &[Finding], out: &mut Vec<String>, causes: &mut Causes) {
    let resets: Vec<(&Finding, &'static str, bool, bool)> = findings
        .iter()
        .filter_map(|f| match &f.details {
            Details::ConnectionReset(r) => Some((f, r.by, r.half_open, r.close_race)),
            _ => None,
        })
        .collect();
    // A reset another finding explains is that finding's cause, not one of its own (a
    // connection an earlier cause already ended is not counted twice).
    let told: Vec<u32> = causes.0.iter().flat_map(|c| c.streams.clone()).collect();
    let unexplained = |f: &Finding| {
        f.severity == Severity::Warning && !f.stream.is_some_and(|s| told.contains(&s))
    };
    let half_open: Vec<&Finding> = resets.iter().filter(|r| r.2).map(|r| r.0).collect();
    if !half_open.is_empty() {
        out.push(format!(
            "{} reset(s) answered a packet on a connection the resetting side had already dropped (half-open connection): look at that side's earlier history.",
            half_open.len()
        ));
        for (f, by, _, _) in resets.iter().filter(|r| r.2 && unexplained(r.0)) {
            causes.told(out, Kind::ConnectionReset, Some(by), [*f]);
        }
    }
    let races: Vec<&Finding> = resets.iter().filter(|r| r.3).map(|r| r.0).collect();
    if !races.is_empty() {
        out.push(format!(
            "{} reset(s) were keep-alive close races: one side sent data on a connection the other had already closed (FIN) — the sender should retire idle connections before the peer's idle timeout.",
            races.len()
        ));
        for (f, by, _, _) in resets.iter().filter(|r| r.3 && unexplained(r.0)) {
            causes.told(out, Kind::ConnectionReset, Some(by), [*f]);
        }
    }
    let tls_shutdowns = findings
        .iter()
        .filter(|f| matches!(&f.details, Details::ConnectionReset(r) if r.tls_shutdown))
        .count();
    if tls_shutdowns > 0 {
        out.push(format!(
            "{tls_shutdowns} reset(s) ended TLS connections the ordinary way: one side closed its socket without waiting for the other's close_notify (having sent its own or not), and the other's TLS alert reached the closed socket, whose kernel answered RST (no fault, not a close race)."
        ));
    }
    let cuts: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.kind() == Kind::TlsTruncation)
        .collect();
    if !cuts.is_empty() {
        out.push(format!(
            "{} TLS connection(s) were closed in the middle of a record, without close_notify (tls_truncation): the data in flight was cut.",
            cuts.len()
        ));
    }
    let unreadable = findings
        .iter()
        .filter(|f| f.kind() == Kind::TlsUnreadable)
        .count();
    if unreadable > 0 {
        out.push(format!(
            "{unreadable} TLS record stream(s) stopped making sense (tls_unreadable): bytes that are no TLS record where one should start; what followed was not read as TLS."
        ));
    }
    let other: Vec<&(&Finding, &'static str, bool, bool)> = resets
        .iter()
        .filter(|r| unexplained(r.0) && !r.2 && !r.3)
        .collect();
    for by in sides(&other, |r| r.1) {
        let of: Vec<&Finding> = other.iter().filter(|r| r.1 == by).map(|r| r.0).collect();
        out.push(format!(
            "{} other reset(s) by the {by} without a heartbeat or keep-alive explanation (connection_reset).",
            of.len()
        ));
        causes.told(out, Kind::ConnectionReset, Some(by), of);
    }
}

/// Connection attempts that failed: silence, refusals, scans and retry storms (no connection
/// died of them, so they are no cause; a few examples each, then the count).
fn connection_attempts(findings: &[Finding], out: &mut Vec<String>) {
    use crate::finding::SilenceVerdict;
    const EXAMPLES: usize = 3;
    // A scanner's unanswered and refused probes are the scan's sentence.
    let silent: Vec<&crate::finding::SynUnanswered> = findings
        .iter()
        .filter_map(|f| match &f.details {
            Details::SynUnanswered(d) if d.verdict != SilenceVerdict::Scan => Some(d),
            _ => None,
        })
        .collect();
    for d in silent.iter().take(EXAMPLES) {
        let why = match d.verdict {
            SilenceVerdict::Flood => "a SYN flood",
            SilenceVerdict::ServerDown => "the server was down or unreachable",
            SilenceVerdict::FirewallDrop => "a firewall drops them (other ports answered)",
            SilenceVerdict::Scan => "a scan",
            SilenceVerdict::Unclear => "no answer at all",
        };
        out.push(format!(
            "{} connection attempt(s) to {} from {} source(s) got no answer: {why} (syn_unanswered).",
            d.attempts,
            d.server,
            crate::connect::about(d.sources, d.estimated)
        ));
    }
    if silent.len() > EXAMPLES {
        out.push(format!(
            "... and {} more server(s) with unanswered connection attempts.",
            silent.len() - EXAMPLES
        ));
    }
    let refused: Vec<&crate::finding::Refused> = findings
        .iter()
        .filter_map(|f| match &f.details {
            Details::ConnectionRefused(d) if f.severity != Severity::Info => Some(d),
            _ => None,
        })
        .collect();
    if let Some(first) = refused.first() {
        let total: u64 = refused.iter().map(|d| d.attempts).sum();
        let port = first
            .ports
            .first()
            .map(|p| format!(" port {}", p.port))
            .unwrap_or_default();
        out.push(format!(
            "{total} connection attempt(s) to {} server(s) were refused with a reset (e.g. {}{port}) (connection_refused).",
            refused.len(),
            first.server
        ));
    }
    for f in of(findings, Kind::Scan).take(EXAMPLES) {
        if let Details::Scan(d) = &f.details {
            out.push(format!(
                "{} scanned {} port(s) on {} host(s) with {} attempts (scan).",
                d.source, d.ports, d.hosts, d.attempts
            ));
        }
    }
    let storms: Vec<&Finding> = of(findings, Kind::ReconnectStorm).collect();
    for f in storms.iter().take(EXAMPLES) {
        let mut m = f.message.clone();
        if let Some(c) = m.get_mut(0..1) {
            c.make_ascii_uppercase();
        }
        out.push(format!("{m} (reconnect_storm)."));
    }
    if storms.len() > EXAMPLES {
        out.push(format!(
            "... and {} more reconnect storm(s).",
            storms.len() - EXAMPLES
        ));
    }
}

/// Servers that close their keep-alive connections like a coin flip per response.
fn http_drains(findings: &[Finding], out: &mut Vec<String>, causes: &mut Causes) {
    for f in findings {
        if let Details::HttpDrain(d) = &f.details {
            out.push(format!(
                "Server {} is draining its keep-alive connections: Connection: close on {:.0} % of its responses (95 % interval {:.0}–{:.0} %) after varying numbers of requests, not at a fixed request limit (http_drain); clients must retry idempotent requests on a new connection.",
                d.server,
                d.close_ratio * 100.0,
                d.close_ratio_low * 100.0,
                d.close_ratio_high * 100.0
            ));
            causes.told(out, f.kind(), Some("server"), [f]);
        }
    }
}

/// The most telling of a log line's matched events names it.
const PHRASES: &[(Kind, &str)] = &[
    (
        Kind::ResetAfterHeartbeatDeadline,
        "the reset after a late or unanswered heartbeat",
    ),
    (
        Kind::HeartbeatGaveUp,
        "the heartbeat sender giving up after unanswered probes",
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
fn log_lines(findings: &[Finding], logs: &[LogSummary], out: &mut Vec<String>) {
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
                "log line {} \"{}\" is {what} on stream {} (frames {}){}",
                m.line,
                m.log_text,
                f.stream.map(|s| s.to_string()).unwrap_or_default(),
                frames.join(", "),
                if m.at_deadline {
                    ", written while the beat was overdue: the application noticed the missing beat at its own deadline"
                } else {
                    ""
                }
            )
        })
        .collect();
    if !examples.is_empty() {
        out.push(format!("In the application log: {}.", examples.join("; ")));
    }
    for log in logs {
        if log.event_lines == 0 {
            continue;
        }
        out.push(format!(
            "{} of {} error/restart lines of the application log{} line up with capture events{}.",
            log.matched,
            log.event_lines,
            if logs.len() > 1 {
                format!(" {}", log.file)
            } else {
                String::new()
            },
            log.clock_words()
                .or_else(|| log
                    .clock_offset_s
                    .map(|o| format!("clocks differ by {o:+.2} s")))
                .map(|w| format!(" ({w})"))
                .unwrap_or_default()
        ));
    }
}
