//! The HTTP/2 findings of one finished stream (see [`crate::h2`] for what is recorded): PINGs
//! as a heartbeat and the unanswered one, each GOAWAY explained, the streams a GOAWAY cut,
//! failed gRPC calls tied to the GOAWAY before them, and a close with no GOAWAY at all.

use super::common::{median, ms, s3, tcp_close, StreamCx};
use crate::finding::{
    Details, Finding, GrpcFailed, GrpcSetting, H2CloseNoGoaway, H2GoAway, H2PingUnanswered,
    H2Pings, H2StreamsCut, Severity,
};
use crate::h2::{GoAway, H2Conn, H2Mode};
use crate::report::human;
use keepsight_h2::ErrorCode;

/// The last stream id of a GOAWAY that announces a shutdown without naming a stream yet.
const NOTICE_LAST_STREAM: u32 = 0x7fff_ffff;
/// gRPC's default smallest interval between PINGs without calls a server tolerates.
const GRPC_DEFAULT_MIN_PING_INTERVAL: &str = "5 minutes";

pub(super) fn findings(cx: &StreamCx<'_>, out: &mut Vec<Finding>) {
    let H2Mode::Yes(conn) = &cx.s.h2 else {
        return;
    };
    let client = conn.client_dir.map_or(cx.client_dir, usize::from);
    let role = |d: u8| {
        if usize::from(d) == client {
            "client"
        } else {
            "server"
        }
    };
    let h = H2Cx {
        cx,
        conn,
        role: &role,
    };
    ping_heartbeats(&h, out);
    let unanswered = unanswered_ping(&h, out);
    let goaways = goaways(&h, out);
    for g in &goaways {
        streams_cut(&h, g, out);
    }
    grpc_failures(&h, out);
    if goaways.is_empty() && !unanswered {
        close_without_goaway(&h, out);
    }
}

struct H2Cx<'a> {
    cx: &'a StreamCx<'a>,
    conn: &'a H2Conn,
    role: &'a dyn Fn(u8) -> &'static str,
}

impl H2Cx<'_> {
    fn finding(
        &self,
        sev: Severity,
        frames: Vec<u32>,
        ts: i64,
        msg: String,
        d: Details,
    ) -> Finding {
        Finding::new(sev, self.cx.sid(), frames, ts, msg, d)
    }

    /// How the connection ended: when, how, by whom.
    fn close(&self) -> Option<(i64, &'static str, &'static str, u32)> {
        tcp_close(self.cx.s, self.role)
    }
}

/// `http2_ping_heartbeat`: each side that sent two PINGs or more.
fn ping_heartbeats(h: &H2Cx<'_>, out: &mut Vec<Finding>) {
    for d in 0..2u8 {
        let pings: Vec<_> = h.conn.pings.iter().filter(|p| p.dir == d).collect();
        if pings.len() < 2 {
            continue;
        }
        let mut gaps: Vec<i64> = pings.windows(2).map(|w| w[1].at.ts - w[0].at.ts).collect();
        let min_gap = gaps.iter().copied().min();
        let period = median(&mut gaps);
        let mut lat: Vec<i64> = pings
            .iter()
            .filter_map(|p| p.ack.map(|a| a.ts - p.at.ts))
            .collect();
        let max_lat = lat.iter().copied().max();
        let acked = lat.len() as u32;
        let med_lat = median(&mut lat);
        let without_data = pings.iter().filter(|p| !p.data_before).count() as u32;
        let by = (h.role)(d);
        let mut msg = format!(
            "the {by} sends HTTP/2 PINGs as a heartbeat: {} PINGs, every {} (median)",
            pings.len(),
            period.map_or("?".into(), human)
        );
        if let (Some(m), Some(x)) = (med_lat, max_lat) {
            msg.push_str(&format!(
                ", acknowledged in {} (median, slowest {})",
                human(m),
                human(x)
            ));
        }
        msg.push_str(&format!(
            "; {acked} of {} acknowledged, {without_data} sent with no DATA or HEADERS since the one before.",
            pings.len()
        ));
        out.push(h.finding(
            Severity::Info,
            vec![pings[0].at.frame, pings[pings.len() - 1].at.frame],
            pings[0].at.ts,
            msg,
            Details::Http2PingHeartbeat(H2Pings {
                ack_latency_ms: med_lat.map(ms),
                acked,
                by,
                max_ack_latency_ms: max_lat.map(ms),
                min_interval_s: min_gap.map(s3),
                period_s: period.map(s3),
                pings: pings.len() as u32,
                without_data,
            }),
        ));
    }
}

/// `http2_ping_unanswered`: a side's last PING got no ACK, and the connection ended (or the
/// capture did, a second or more later).
fn unanswered_ping(h: &H2Cx<'_>, out: &mut Vec<Finding>) -> bool {
    let mut found = false;
    for d in 0..2u8 {
        let Some(p) = h.conn.pings.iter().rev().find(|p| p.dir == d) else {
            continue;
        };
        if p.ack.is_some() {
            continue;
        }
        let close = h.close().filter(|c| c.0 >= p.at.ts);
        let end = close.map_or(h.cx.s.last_ts, |c| c.0);
        let waited = end - p.at.ts;
        if close.is_none() && waited < 1_000_000_000 {
            continue;
        }
        let by = (h.role)(d);
        let earlier = h
            .conn
            .pings
            .iter()
            .filter(|q| q.dir == d && q.ack.is_some())
            .count() as u32;
        let mut frames = vec![p.at.frame];
        let msg = match close {
            Some((_, kind, closed_by, frame)) => {
                frames.push(frame);
                let who = if closed_by == by {
                    format!(
                        "the {by} itself closed the connection ({kind}, frame {frame}) {} later \
                         without a GOAWAY: its keep-alive timeout gave up on a peer that no \
                         longer answers (gRPC: GRPC_ARG_KEEPALIVE_TIMEOUT_MS / grpc-go \
                         keepalive.ClientParameters.Timeout or ServerParameters.Timeout)",
                        human(waited)
                    )
                } else {
                    format!(
                        "the {closed_by} closed the connection ({kind}, frame {frame}) {} later",
                        human(waited)
                    )
                };
                format!(
                    "the {by}'s HTTP/2 PING (frame {}) was never acknowledged ({earlier} earlier \
                     PINGs were); {who}. The peer or the path to it was dead: check what \
                     happened to the {} at that time.",
                    p.at.frame,
                    if by == "client" { "server" } else { "client" }
                )
            }
            None => format!(
                "the {by}'s HTTP/2 PING (frame {}) got no ACK in the {} the capture still \
                 covers ({earlier} earlier PINGs were acknowledged): the peer or the path to it \
                 stopped answering.",
                p.at.frame,
                human(waited)
            ),
        };
        found |= close.is_some();
        out.push(h.finding(
            Severity::Error,
            frames,
            p.at.ts,
            msg,
            Details::Http2PingUnanswered(H2PingUnanswered {
                by,
                close: close.map(|c| c.1),
                closed_by: close.map(|c| c.2),
                earlier_acks: earlier,
                waited_s: s3(waited),
            }),
        ));
    }
    found
}

fn setting(
    implementation: &'static str,
    side: &'static str,
    setting: &'static str,
    should: String,
) -> GrpcSetting {
    GrpcSetting {
        implementation,
        setting,
        should,
        side,
    }
}

/// `http2_goaway`: each GOAWAY, a two-step drain's notice folded into the GOAWAY that follows
/// it. Returns the GOAWAYs told (the last of each pair).
fn goaways<'a>(h: &H2Cx<'a>, out: &mut Vec<Finding>) -> Vec<&'a GoAway> {
    let all = &h.conn.goaways;
    let mut told = Vec::new();
    for (i, g) in all.iter().enumerate() {
        let followed = all[i + 1..].iter().any(|n| n.dir == g.dir);
        if g.last_stream_id == NOTICE_LAST_STREAM && g.error == 0 && followed {
            continue;
        }
        let notice = all[..i]
            .iter()
            .rev()
            .find(|n| n.dir == g.dir && n.last_stream_id == NOTICE_LAST_STREAM && n.error == 0);
        let by = (h.role)(g.dir);
        let error = ErrorCode(g.error);
        let age = g.at.ts - h.cx.s.first_ts;
        let mut frames: Vec<u32> = notice.map(|n| n.at.frame).into_iter().collect();
        frames.push(g.at.frame);
        let mut advice = Vec::new();
        let mut ping_interval = None;
        let mut pings_without_data = None;
        let debug = if g.debug.is_empty() {
            String::new()
        } else {
            format!(" \"{}\"", g.debug)
        };
        let head = format!(
            "the {by} sent GOAWAY {}{debug} (frame {}, last stream {}) {} into the connection",
            error.name(),
            g.at.frame,
            g.last_stream_id,
            human(age)
        );
        let (reason, severity, msg) = if error == ErrorCode::ENHANCE_YOUR_CALM
            && g.debug.contains("too_many_pings")
        {
            let peer = 1 - g.dir;
            let pings: Vec<_> = h
                .conn
                .pings
                .iter()
                .filter(|p| p.dir == peer && p.at.ts <= g.at.ts)
                .collect();
            let mut gaps: Vec<i64> = pings
                .windows(2)
                .filter(|w| !w[1].data_before)
                .map(|w| w[1].at.ts - w[0].at.ts)
                .collect();
            let interval = median(&mut gaps);
            let quiet = pings.iter().filter(|p| !p.data_before).count() as u32;
            ping_interval = interval.map(s3);
            pings_without_data = Some(quiet);
            let every = interval.map_or("?".to_string(), human);
            advice = vec![
                setting("grpc-core", "client", "GRPC_ARG_KEEPALIVE_TIME_MS", format!("at least the server's minimum ping interval (now {every})")),
                setting("grpc-go", "client", "keepalive.ClientParameters.Time", format!("at least the server's EnforcementPolicy.MinTime (now {every})")),
                setting("grpc-core", "server", "GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS", format!("at most {every} to accept these PINGs (default {GRPC_DEFAULT_MIN_PING_INTERVAL})")),
                setting("grpc-go", "server", "keepalive.EnforcementPolicy.MinTime", format!("at most {every} to accept these PINGs (default {GRPC_DEFAULT_MIN_PING_INTERVAL})")),
                setting("grpc-core", "server", "GRPC_ARG_HTTP2_MAX_PING_STRIKES", "the PINGs too early the server forgives before this GOAWAY (default 2; 0: unlimited)".into()),
                setting("grpc-go", "server", "keepalive.EnforcementPolicy.PermitWithoutStream", "true when the client pings with no call open (grpc-core client: GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS)".into()),
            ];
            (
                "too_many_pings",
                Severity::Error,
                format!(
                    "{head}: the client pings more often than the server allows. It sent {} \
                     PINGs, {quiet} of them with no call data since the previous one, every {every}; \
                     a gRPC server tolerates one PING per {GRPC_DEFAULT_MIN_PING_INTERVAL} without \
                     calls unless configured otherwise (grpc-core \
                     GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, grpc-go \
                     keepalive.EnforcementPolicy.MinTime) and closes after a few strikes. Fix: \
                     raise the client's keep-alive time (grpc-core GRPC_ARG_KEEPALIVE_TIME_MS, \
                     grpc-go keepalive.ClientParameters.Time) to at least the server's minimum, or \
                     lower the server's minimum to {every} and permit PINGs without calls.",
                    pings.len()
                ),
            )
        } else if error == ErrorCode::NO_ERROR && g.debug == "max_age" {
            advice = vec![
                setting(
                    "grpc-core",
                    "server",
                    "GRPC_ARG_MAX_CONNECTION_AGE_MS",
                    format!("the age that ended this connection (about {})", human(age)),
                ),
                setting(
                    "grpc-core",
                    "server",
                    "GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS",
                    "long enough for the longest call, or calls in flight fail with UNAVAILABLE"
                        .into(),
                ),
                setting(
                    "grpc-go",
                    "server",
                    "keepalive.ServerParameters.MaxConnectionAge",
                    format!("the age that ended this connection (about {})", human(age)),
                ),
                setting(
                    "grpc-go",
                    "server",
                    "keepalive.ServerParameters.MaxConnectionAgeGrace",
                    "long enough for the longest call".into(),
                ),
            ];
            (
                "max_connection_age",
                Severity::Info,
                format!(
                    "{head}: the server retires connections at a maximum age (gRPC \
                     max_connection_age){}. Calls in flight may finish within the grace period; \
                     new calls go to a new connection. Expected and harmless unless calls fail \
                     with UNAVAILABLE right after it (see grpc_call_failed).",
                    if notice.is_some() {
                        ", announced in two steps (a GOAWAY for all streams, a PING, then this one)"
                    } else {
                        ""
                    }
                ),
            )
        } else if error == ErrorCode::NO_ERROR && g.last_stream_id == NOTICE_LAST_STREAM {
            (
                "shutdown_notice",
                Severity::Info,
                format!("{head}: the first step of a graceful shutdown (no stream refused yet); no second GOAWAY followed in the capture."),
            )
        } else if error == ErrorCode::NO_ERROR {
            (
                "graceful_shutdown",
                Severity::Info,
                format!(
                    "{head}: a graceful shutdown{}; streams up to {} are completed, later ones \
                     must be retried on a new connection.",
                    if notice.is_some() {
                        " in two steps"
                    } else {
                        ""
                    },
                    g.last_stream_id
                ),
            )
        } else {
            (
                "peer_error",
                if error == ErrorCode::PROTOCOL_ERROR || g.error == 9 {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                format!(
                    "{head}: the {by} ends the connection because of an error ({}).",
                    error.name()
                ),
            )
        };
        out.push(h.finding(
            severity,
            frames,
            g.at.ts,
            msg,
            Details::Http2Goaway(H2GoAway {
                advice,
                age_s: s3(age),
                by,
                client_ping_interval_s: ping_interval,
                debug_data: g.debug.clone(),
                error: error.name(),
                error_code: g.error,
                last_stream_id: g.last_stream_id,
                notice_frame: notice.map(|n| n.at.frame),
                pings_without_data,
                reason,
            }),
        ));
        told.push(g);
    }
    told
}

/// `http2_streams_cut`: the receiver's streams above the GOAWAY's last stream (refused), and
/// those at or below it still unfinished when the connection ended.
fn streams_cut(h: &H2Cx<'_>, g: &GoAway, out: &mut Vec<Finding>) {
    // Streams the GOAWAY's receiver opened: odd ids for a client.
    let receiver_is_client = (h.role)(1 - g.dir) == "client";
    let theirs = |id: u32| (id % 2 == 1) == receiver_is_client;
    let ended = h.close().is_some();
    let refused: Vec<u32> = h
        .conn
        .streams
        .iter()
        .filter(|s| theirs(s.id) && s.id > g.last_stream_id)
        .map(|s| s.id)
        .collect();
    let unfinished: Vec<u32> = h
        .conn
        .streams
        .iter()
        .filter(|s| theirs(s.id) && s.id <= g.last_stream_id && ended && !s.finished())
        .map(|s| s.id)
        .collect();
    if refused.is_empty() && unfinished.is_empty() {
        return;
    }
    let by = (h.role)(g.dir);
    out.push(h.finding(
        Severity::Warning,
        vec![g.at.frame],
        g.at.ts,
        format!(
            "the {by}'s GOAWAY (frame {}, last stream {}) cut streams: refused (never processed, \
             safe to retry) {refused:?}; unfinished when the connection ended {unfinished:?}.",
            g.at.frame, g.last_stream_id
        ),
        Details::Http2StreamsCut(H2StreamsCut {
            by,
            last_stream_id: g.last_stream_id,
            refused,
            unfinished,
        }),
    ));
}

/// gRPC's status codes' names.
fn grpc_status_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES.get(code as usize).copied().unwrap_or("UNKNOWN_CODE")
}

/// `grpc_call_failed`: each call whose trailers carried a status other than OK.
fn grpc_failures(h: &H2Cx<'_>, out: &mut Vec<Finding>) {
    for s in &h.conn.streams {
        let (Some(code), Some(at)) = (s.grpc_status, s.trailers) else {
            continue;
        };
        if code == 0 || !s.grpc {
            continue;
        }
        let status = grpc_status_name(code);
        let goaway = h.conn.goaways.iter().rev().find(|g| g.at.ts <= at.ts);
        let tied = goaway.is_some() && matches!(code, 13 | 14);
        let method = s.path.clone();
        let mut frames: Vec<u32> = goaway.map(|g| g.at.frame).into_iter().collect();
        frames.push(at.frame);
        let msg_text = s
            .grpc_message
            .as_deref()
            .filter(|m| !m.is_empty())
            .map(|m| format!(" \"{m}\""))
            .unwrap_or_default();
        let mut msg = format!(
            "gRPC call {} (stream {}) failed: {status} ({code}){msg_text} (frame {})",
            method.as_deref().unwrap_or("?"),
            s.id,
            at.frame
        );
        if let (Some(g), true) = (goaway, tied) {
            msg.push_str(&format!(
                ", {} after the {}'s GOAWAY {} (frame {}): the call was in flight when the \
                 connection was retired; the client sees {status} and should retry it (gRPC \
                 retries only calls that never reached the server unless a retry policy allows \
                 more).",
                human(at.ts - g.at.ts),
                (h.role)(g.dir),
                if g.debug.is_empty() {
                    ErrorCode(g.error).name().to_string()
                } else {
                    format!("\"{}\"", g.debug)
                },
                g.at.frame
            ));
        } else {
            msg.push('.');
        }
        out.push(h.finding(
            if tied {
                Severity::Error
            } else {
                Severity::Warning
            },
            frames,
            at.ts,
            msg,
            Details::GrpcCallFailed(GrpcFailed {
                after_goaway_s: goaway.map(|g| s3(at.ts - g.at.ts)),
                goaway_debug_data: goaway.map(|g| g.debug.clone()),
                goaway_frame: goaway.map(|g| g.at.frame),
                grpc_message: s.grpc_message.clone(),
                grpc_status: code,
                method,
                status,
                stream_id: s.id,
            }),
        ));
    }
}

/// `http2_close_without_goaway`: the connection ended and neither side sent a GOAWAY.
fn close_without_goaway(h: &H2Cx<'_>, out: &mut Vec<Finding>) {
    let Some((ts, kind, by, frame)) = h.close() else {
        return;
    };
    let Some(last) = h.conn.last else {
        return;
    };
    let idle = ts - last.ts;
    let open = h.conn.streams.iter().filter(|s| !s.finished()).count() as u32;
    out.push(h.finding(
        Severity::Warning,
        vec![last.frame, frame],
        ts,
        format!(
            "the {by} closed the HTTP/2 connection ({kind}, frame {frame}) {} after the last \
             frame, without a GOAWAY ({open} streams open): HTTP/2 peers announce a graceful \
             close with GOAWAY, so this looks like an idle timeout (a proxy or load balancer \
             between them, or the {by}'s own idle timer) or a process that went away.",
            human(idle)
        ),
        Details::Http2CloseWithoutGoaway(H2CloseNoGoaway {
            by,
            close: kind,
            idle_s: s3(idle),
            open_streams: open,
        }),
    ));
}
