//! The WebSocket findings of one finished stream (see [`crate::ws`] for what is recorded):
//! the upgrade, pings as a heartbeat and the unanswered one, the closing handshake with its
//! code and reason, a TCP end with no close frame (the 1006 both ends report), and, when that
//! end came from the server side after a silence, a proxy's read timeout.

use super::common::{median, ms, s3, tcp_close, StreamCx};
use crate::finding::{
    Details, Finding, Severity, WsAbnormal, WsClose, WsPingUnanswered, WsPings, WsProxyTimeout,
    WsUpgrade,
};
use crate::report::human;
use crate::ws::{WsConn, WsMode};
use keepsight_ws::frame::{close_code_is_normal, close_code_name};

/// The shortest silence before a bare close that reads as a timeout rather than a peer that
/// went away mid-conversation.
const MIN_TIMEOUT_IDLE_NS: i64 = 1_000_000_000;

/// Timeouts proxies and load balancers cut quiet WebSockets at by default, with their names.
const KNOWN_TIMEOUTS: [(i64, &str); 4] = [
    (
        60,
        "nginx proxy_read_timeout 60s (also AWS ALB idle timeout 60 s)",
    ),
    (100, "Cloudflare's 100 s proxy read timeout"),
    (350, "AWS NLB idle timeout 350 s"),
    (30, "Envoy/Istio-style 30 s stream idle timeouts"),
];

pub(super) fn findings(cx: &StreamCx<'_>, out: &mut Vec<Finding>) {
    let WsMode::Yes(conn) = &cx.s.ws else {
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
    let w = WsCx {
        cx,
        conn,
        role: &role,
        client,
    };
    upgrade(&w, out);
    ping_heartbeats(&w, out);
    unanswered_ping(&w, out);
    if conn.closing().is_some() {
        close_frames(&w, out);
    } else {
        abnormal_close(&w, out);
    }
}

struct WsCx<'a> {
    cx: &'a StreamCx<'a>,
    conn: &'a WsConn,
    role: &'a dyn Fn(u8) -> &'static str,
    client: usize,
}

impl WsCx<'_> {
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

    /// How the TCP connection ended: when, `fin` or `rst`, by whom, the frame.
    fn tcp_close(&self) -> Option<(i64, &'static str, &'static str, u32)> {
        tcp_close(self.cx.s, self.role)
    }
}

/// `websocket_upgrade`.
fn upgrade(w: &WsCx<'_>, out: &mut Vec<Finding>) {
    let Some(u) = &w.conn.upgrade else {
        return;
    };
    let server_port = w.cx.s.addr[1 - w.client.min(1)].port();
    let answered = u.answered.ts - u.asked.ts;
    let msg = format!(
        "the client upgraded the connection to WebSocket (GET {}, answered 101 in {}{}); \
         from here on its keep-alive is WebSocket pings and close frames, not HTTP's.",
        u.path,
        human(answered),
        if u.deflate {
            ", permessage-deflate"
        } else {
            ""
        }
    );
    out.push(w.finding(
        Severity::Info,
        vec![u.asked.frame, u.answered.frame],
        u.asked.ts,
        msg,
        Details::WebsocketUpgrade(WsUpgrade {
            answered_s: s3(answered),
            deflate: u.deflate,
            path: u.path.clone(),
            server_port,
        }),
    ));
}

/// `websocket_ping_heartbeat`: each side that sent two pings or more.
fn ping_heartbeats(w: &WsCx<'_>, out: &mut Vec<Finding>) {
    for d in 0..2u8 {
        let pings: Vec<_> = w.conn.pings.iter().filter(|p| p.dir == d).collect();
        if pings.len() < 2 {
            continue;
        }
        let mut gaps: Vec<i64> = pings.windows(2).map(|p| p[1].at.ts - p[0].at.ts).collect();
        let period = median(&mut gaps);
        let mut lat: Vec<i64> = pings
            .iter()
            .filter_map(|p| p.pong.map(|a| a.ts - p.at.ts))
            .collect();
        let max_lat = lat.iter().copied().max();
        let pongs = lat.len() as u32;
        let med = median(&mut lat);
        let unanswered = pings.len() as u32 - pongs;
        let by = (w.role)(d);
        let mut msg = format!(
            "the {by} sends WebSocket pings as a heartbeat: {} pings, every {} (median)",
            pings.len(),
            period.map_or("?".into(), human)
        );
        if let (Some(m), Some(x)) = (med, max_lat) {
            msg.push_str(&format!(
                ", answered by a pong in {} (median, slowest {})",
                human(m),
                human(x)
            ));
        }
        msg.push_str(&format!("; {pongs} of {} answered.", pings.len()));
        out.push(w.finding(
            if unanswered == 0 {
                Severity::Info
            } else {
                Severity::Warning
            },
            vec![pings[0].at.frame, pings[pings.len() - 1].at.frame],
            pings[0].at.ts,
            msg,
            Details::WebsocketPingHeartbeat(WsPings {
                by,
                max_pong_latency_ms: max_lat.map(ms),
                period_s: period.map(s3),
                pings: pings.len() as u32,
                pongs,
                pong_latency_ms: med.map(ms),
                unanswered,
            }),
        ));
    }
}

/// `websocket_ping_unanswered`: a side's last ping got no pong before the connection ended
/// (or before the capture did, a second or more later).
fn unanswered_ping(w: &WsCx<'_>, out: &mut Vec<Finding>) {
    for d in 0..2u8 {
        let Some(p) = w.conn.pings.iter().rev().find(|p| p.dir == d) else {
            continue;
        };
        if p.pong.is_some() {
            continue;
        }
        let by = (w.role)(d);
        // The end: this side's own close frame after the ping, else the TCP close.
        let own_close = w.conn.closes[usize::from(d)]
            .as_ref()
            .filter(|c| c.at.ts >= p.at.ts);
        let tcp = w.tcp_close().filter(|c| c.0 >= p.at.ts);
        let (end, close, closed_by, frame) = match (own_close, tcp) {
            (Some(c), _) => (c.at.ts, "close_frame", Some(by), Some(c.at.frame)),
            (None, Some((ts, kind, who, frame))) => (ts, kind, Some(who), Some(frame)),
            (None, None) => (w.cx.s.last_ts, "none", None, None),
        };
        let waited = end - p.at.ts;
        if closed_by.is_none() && waited < 1_000_000_000 {
            continue;
        }
        let earlier = w
            .conn
            .pings
            .iter()
            .filter(|q| q.dir == d && q.pong.is_some())
            .count() as u32;
        let peer = if by == "client" { "server" } else { "client" };
        let mut frames = vec![p.at.frame];
        frames.extend(frame);
        let msg = match own_close {
            Some(c) => format!(
                "the {by}'s WebSocket ping (frame {}) was never answered ({earlier} earlier \
                 pings were); {} later the {by} gave up and closed ({}{}, frame {}): its ping \
                 timeout ran out on a {peer} that no longer answers. Check what happened to \
                 the {peer} (or the path to it) at that time.",
                p.at.frame,
                human(waited),
                c.code.map_or("no code".into(), |c| c.to_string()),
                if c.reason.is_empty() {
                    String::new()
                } else {
                    format!(" \"{}\"", c.reason)
                },
                c.at.frame
            ),
            None => format!(
                "the {by}'s WebSocket ping (frame {}) got no pong in the {} that followed \
                 ({earlier} earlier pings were answered){}: the {peer} or the path to it \
                 stopped answering.",
                p.at.frame,
                human(waited),
                match (closed_by, frame) {
                    (Some(who), Some(f)) =>
                        format!("; the {who} then ended the connection ({close}, frame {f})"),
                    _ => String::new(),
                }
            ),
        };
        out.push(w.finding(
            Severity::Error,
            frames,
            p.at.ts,
            msg,
            Details::WebsocketPingUnanswered(WsPingUnanswered {
                by,
                close,
                closed_by,
                earlier_pongs: earlier,
                waited_s: s3(waited),
            }),
        ));
    }
}

/// `websocket_close`: the close frame that began the closing handshake.
fn close_frames(w: &WsCx<'_>, out: &mut Vec<Finding>) {
    let Some((first, answer)) = w.conn.closing() else {
        return;
    };
    let by = (w.role)(first.dir);
    let normal = first.code.is_some_and(close_code_is_normal);
    let code_name = first.code.map_or("No Status Rcvd", close_code_name);
    let code_text = first.code.map_or("no status code".to_string(), |c| {
        format!("{c} ({code_name})")
    });
    let reason = if first.reason.is_empty() {
        String::new()
    } else {
        format!(" \"{}\"", first.reason)
    };
    let verdict = if normal {
        "a normal end".to_string()
    } else if first.code.is_none() {
        "no code given (peers report 1005)".to_string()
    } else {
        format!("an error: the {by} ended the connection because of a fault it names in the reason")
    };
    let answered = match answer {
        Some(a) => format!(
            "; the {} answered with its own close frame {} later",
            (w.role)(a.dir),
            human(a.at.ts - first.at.ts)
        ),
        None => "; the peer never answered with its close frame".into(),
    };
    let mut frames = vec![first.at.frame];
    frames.extend(answer.map(|a| a.at.frame));
    out.push(w.finding(
        if normal {
            Severity::Info
        } else {
            Severity::Warning
        },
        frames,
        first.at.ts,
        format!("the {by} closed the WebSocket with {code_text}{reason}: {verdict}{answered}."),
        Details::WebsocketClose(WsClose {
            answered: answer.is_some(),
            by,
            code: first.code,
            code_name,
            normal,
            reason: first.reason.clone(),
        }),
    ));
}

/// `websocket_abnormal_close` and, for a quiet connection the server side cut,
/// `websocket_proxy_timeout`.
fn abnormal_close(w: &WsCx<'_>, out: &mut Vec<Finding>) {
    let Some((ts, close, closed_by, frame)) = w.tcp_close() else {
        return;
    };
    let last = w.conn.last.map_or(w.cx.s.first_ts, |a| a.ts);
    let idle = ts - last;
    out.push(w.finding(
        Severity::Warning,
        vec![frame],
        ts,
        format!(
            "the {closed_by} ended the WebSocket connection with a bare TCP {} (frame {frame}) \
             and no close frame, {} after the last WebSocket frame: both ends' libraries \
             report 1006 (abnormal closure).",
            close.to_uppercase(),
            human(idle)
        ),
        Details::WebsocketAbnormalClose(WsAbnormal {
            close,
            closed_by,
            code: 1006,
            idle_s: s3(idle),
        }),
    ));
    // A WebSocket server closes with a close frame; a bare cut from the server side after a
    // silence in both directions is what a proxy between them does when its read timeout
    // passes (it has no WebSocket of its own to close with).
    let outstanding_ping = w.conn.pings.iter().any(|p| p.pong.is_none());
    if closed_by != "server" || idle < MIN_TIMEOUT_IDLE_NS || outstanding_ping {
        return;
    }
    let known = KNOWN_TIMEOUTS.iter().find(|(secs, _)| {
        let t = secs * 1_000_000_000;
        (idle - t).abs() <= t / 50
    });
    let matches_default = known.map(|(_, name)| *name);
    let msg = format!(
        "the quiet WebSocket was cut by the server side {} after the last frame in either \
         direction, without a close frame: a proxy's read timeout ({}) ends tunnels that stay \
         silent that long. Send pings more often than every {} (websockets: ping_interval; \
         browsers cannot ping, so the application must send its own messages) or raise the \
         proxy's timeout (nginx: proxy_read_timeout in the location that proxies the upgrade).",
        human(idle),
        matches_default.unwrap_or("nginx proxy_read_timeout, 60 s by default; here a shorter one"),
        human(idle / 2)
    );
    out.push(w.finding(
        Severity::Error,
        vec![frame],
        ts,
        msg,
        Details::WebsocketProxyTimeout(WsProxyTimeout {
            idle_s: s3(idle),
            matches_default,
            ping_interval_below_s: s3(idle / 2),
        }),
    ));
}
