//! The MQTT findings of one finished stream (see [`crate::mqtt`] for what is recorded): the
//! keep-alive and its PINGREQ/PINGRESP heartbeat, the broker's drop of a client silent for
//! 1.5 × its keep-alive (MQTT 3.1.1 and 5, section 3.1.2.10), an unanswered PINGREQ, a refused
//! CONNECT, MQTT 5 DISCONNECT reason codes, and a client slower than its own keep-alive.

use super::common::{median, ms, s3, StreamCx};
use crate::finding::{
    Details, Finding, MqttConnectRefused, MqttDisconnect, MqttKeepalive, MqttKeepaliveTimeout,
    MqttPingUnanswered, MqttSlowPings, Severity,
};
use crate::mqtt::MqttConn;
use crate::report::human;
use keepsight_apps::mqtt;

/// The MQTT 5 reason code a broker sends when a client's keep-alive expired.
const KEEP_ALIVE_TIMEOUT: u8 = 0x8D;

fn version_name(v: u8) -> &'static str {
    match v {
        3 => "3.1",
        4 => "3.1.1",
        5 => "5",
        _ => "unknown",
    }
}

/// Seconds as the messages write them: `2 s`, `2.6 s`.
fn sec(x: f64) -> String {
    format!("{} s", (x * 1000.0).round() / 1000.0)
}

pub(super) fn findings(cx: &StreamCx<'_>, out: &mut Vec<Finding>) {
    let Some(conn) = cx.s.mqtt.as_deref() else {
        return;
    };
    let Some((_, connect)) = conn.keep_alive else {
        return;
    };
    let client = usize::from(conn.client_dir);
    let role = |d: usize| if d == client { "client" } else { "server" };
    let finding = |sev, frames, ts, msg, d| Finding::new(sev, cx.sid(), frames, ts, msg, d);
    let who = if conn.client_id.is_empty() {
        "the MQTT client (no client id)".to_string()
    } else {
        format!("MQTT client '{}'", conn.client_id)
    };
    // How the connection ended first: when, how (FIN or RST), by whom, which frame. A FIN
    // before a reset is the close; the reset only answers what came after it.
    let s = cx.s;
    let fins = s.dirs.iter().filter_map(|d| d.fin).map(|e| (e, "fin"));
    let close = fins
        .chain(s.rst.map(|e| (e, "rst")))
        .min_by_key(|(e, _)| (e.ts, e.frame))
        .map(|(e, kind)| (e.ts, kind, usize::from(e.dir), e.frame));

    if let Some((code, at)) = conn.connack.filter(|(c, _)| *c != 0) {
        let meaning = if conn.version == mqtt::V5 {
            mqtt::reason_text(code)
        } else {
            mqtt::connack_return_text(code)
        }
        .unwrap_or("unknown code");
        let field = if conn.version == mqtt::V5 {
            "reason code"
        } else {
            "return code"
        };
        out.push(finding(
            Severity::Error,
            vec![connect.frame, at.frame],
            at.ts,
            format!(
                "the broker refused the CONNECT of {who} (MQTT {}, frame {}): CONNACK {field} \
                 {code} \"{meaning}\" (frame {}); the client never got a session, so nothing it \
                 publishes or pings counts until it connects with what the broker asks for.",
                version_name(conn.version),
                connect.frame,
                at.frame
            ),
            Details::MqttConnectRefused(MqttConnectRefused {
                client_id: conn.client_id.clone(),
                code,
                meaning,
                version: version_name(conn.version),
            }),
        ));
        return;
    }

    // A PINGRESP that comes after the client closed its side answered nobody.
    let client_fin = s.dirs[client].fin.map(|e| e.ts);
    let in_time = |p: &crate::mqtt::Ping| p.resp.filter(|r| client_fin.is_none_or(|f| r.ts < f));
    keepalive_summary(cx, conn, &who, &in_time, out);

    for dsc in &conn.disconnects {
        let Some(code) = dsc.code.filter(|&c| c != 0) else {
            continue;
        };
        let by = role(usize::from(dsc.dir));
        let meaning = mqtt::reason_text(code).unwrap_or("unknown reason code");
        let sev = if code >= 0x80 {
            Severity::Warning
        } else {
            Severity::Info
        };
        let why = match (by, code) {
            ("server", KEEP_ALIVE_TIMEOUT) => {
                " the broker heard nothing from the client for 1.5 times its keep-alive".to_string()
            }
            ("server", 0x8E) => {
                " another connection logged in with the same client id and took the session over"
                    .to_string()
            }
            ("client", 0x04) => " the client leaves and asks the broker to publish its will \
                 message (a normal close that still tells subscribers it went away)"
                .to_string(),
            (_, c) if c >= 0x80 => format!(" the {by} ends the connection on an error"),
            _ => format!(" the {by} ends the connection"),
        };
        let text = dsc
            .reason_string
            .as_ref()
            .map(|r| format!(", reason string \"{r}\""))
            .unwrap_or_default();
        out.push(finding(
            sev,
            vec![dsc.at.frame],
            dsc.at.ts,
            format!(
                "the {by} sent an MQTT 5 DISCONNECT with reason code 0x{code:02X} \"{meaning}\" \
                 (frame {}){text} on the connection of {who}:{why}.",
                dsc.at.frame
            ),
            Details::MqttDisconnect(MqttDisconnect {
                by,
                client_id: conn.client_id.clone(),
                meaning,
                reason_code: code,
                reason_string: dsc.reason_string.clone(),
            }),
        ));
    }

    let Some(ka) = conn.effective_keep_alive() else {
        return;
    };
    let ka_ns = i64::from(ka) * 1_000_000_000;
    let limit = ka_ns + ka_ns / 2;
    let src = if conn.server_keep_alive.is_some() {
        "the broker's Server Keep Alive in CONNACK".to_string()
    } else {
        format!("declared in CONNECT, frame {}", connect.frame)
    };

    // The broker's drop: it closed (or sent DISCONNECT 0x8D) after the client's silence
    // reached the limit, and the client sent no DISCONNECT of its own.
    let client_left = conn
        .disconnects
        .iter()
        .any(|d| usize::from(d.dir) == client);
    let broker_dc = conn
        .disconnects
        .iter()
        .find(|d| usize::from(d.dir) != client && d.code == Some(KEEP_ALIVE_TIMEOUT));
    let drop = broker_dc
        .map(|d| (d.at.ts, "disconnect", d.at.frame))
        .or_else(|| {
            close
                .filter(|c| c.2 != client)
                .map(|(ts, kind, _, frame)| (ts, kind, frame))
        });
    let mut timed_out = false;
    if let (Some((ts, kind, frame)), Some(last), false) = (drop, conn.last_client, client_left) {
        let silent = ts - last.ts;
        if silent >= limit {
            timed_out = true;
            let last_was_ping = conn.pings.last().is_some_and(|p| p.at == last);
            let pings = conn.pings.len() as u32 + conn.pings_dropped;
            let how = match kind {
                "disconnect" => "with DISCONNECT 0x8D (Keep Alive timeout)",
                "rst" => "with a reset",
                _ => "with a FIN",
            };
            out.push(finding(
                Severity::Critical,
                vec![connect.frame, last.frame, frame],
                ts,
                format!(
                    "the broker dropped {who} {how} (frame {frame}) {} after the client's last \
                     packet ({}, frame {}): the keep-alive is {} ({src}), and a broker that hears \
                     nothing for 1.5 × {} = {} closes the connection; the client sent {pings} \
                     PINGREQ(s) and then stopped, so its process or network path stalled (a \
                     blocked network loop, a suspended device, a dead route) before the broker \
                     gave up ({} past the limit: the broker's timer runs in steps).",
                    human(silent),
                    if last_was_ping {
                        "a PINGREQ"
                    } else {
                        "not a PINGREQ"
                    },
                    last.frame,
                    sec(f64::from(ka)),
                    sec(f64::from(ka)),
                    sec(s3(limit)),
                    human(silent - limit),
                ),
                Details::MqttKeepaliveTimeout(MqttKeepaliveTimeout {
                    client_id: conn.client_id.clone(),
                    close: kind,
                    close_frame: frame,
                    keep_alive_s: ka,
                    last_client_frame: last.frame,
                    last_was_pingreq: last_was_ping,
                    limit_s: s3(limit),
                    over_limit_s: s3(silent - limit),
                    pings,
                    silent_s: s3(silent),
                }),
            ));
        }
    }

    // A PINGREQ the broker never answered.
    if let Some(p) = conn.pings.last().filter(|p| in_time(p).is_none()) {
        let end = close.map_or(s.last_ts, |c| c.0);
        let earlier = conn.pings.iter().filter(|p| in_time(p).is_some()).count() as u32;
        let late = p
            .resp
            .map(|r| {
                format!(
                    "; the broker's PINGRESP came only {} after the PINGREQ (frame {}), when the \
                     client had given up",
                    human(r.ts - p.at.ts),
                    r.frame
                )
            })
            .unwrap_or_default();
        let closed = close.map(|c| c.1);
        let closed_by = close.map(|c| role(c.2));
        out.push(finding(
            Severity::Error,
            vec![p.at.frame],
            p.at.ts,
            format!(
                "{who} sent a PINGREQ (frame {}) that the broker never answered with PINGRESP \
                 ({} until {}; {earlier} earlier PINGREQs were answered{late}): the broker or the \
                 path to it stopped responding, and a client library closes and reconnects when \
                 no PINGRESP comes within its keep-alive.",
                p.at.frame,
                human(end - p.at.ts),
                match closed_by {
                    Some(by) => format!("the {by} closed the connection"),
                    None => "the end of the capture".to_string(),
                },
            ),
            Details::MqttPingUnanswered(MqttPingUnanswered {
                client_id: conn.client_id.clone(),
                close: closed,
                closed_by,
                earlier_answered: earlier,
                waited_s: s3(end - p.at.ts),
            }),
        ));
    }

    // A client slower than its own keep-alive, while the broker still kept it.
    if conn.slow_silences > 0 {
        let (longest, from, to) = conn.longest_silence.expect("a silence was measured");
        let mut silences = conn.silences.clone();
        let med = median(&mut silences).unwrap_or(longest);
        let sev = if timed_out {
            Severity::Info
        } else {
            Severity::Warning
        };
        out.push(finding(
            sev,
            vec![from.frame, to.frame],
            to.ts,
            format!(
                "{who} went longer than its keep-alive of {} without sending anything {} times \
                 (longest {} between frames {} and {}, median {}): it pings more slowly than it \
                 promised. The broker tolerates up to 1.5 × {} = {}, so a little more delay (a \
                 busy loop, a slow network) gets it dropped; make the client ping at its \
                 keep-alive (most libraries send PINGREQ when nothing else went out for the \
                 keep-alive) or declare a longer keep-alive.",
                sec(f64::from(ka)),
                conn.slow_silences,
                human(longest),
                from.frame,
                to.frame,
                human(med),
                sec(f64::from(ka)),
                sec(s3(limit)),
            ),
            Details::MqttSlowPings(MqttSlowPings {
                client_id: conn.client_id.clone(),
                keep_alive_s: ka,
                limit_s: s3(limit),
                longest_silence_s: s3(longest),
                median_silence_s: s3(med),
                slow_silences: conn.slow_silences,
            }),
        ));
    }
}

/// `mqtt_keepalive`: the declared keep-alive and how PINGREQ/PINGRESP kept it.
fn keepalive_summary(
    cx: &StreamCx<'_>,
    conn: &MqttConn,
    who: &str,
    in_time: &dyn Fn(&crate::mqtt::Ping) -> Option<crate::mqtt::At>,
    out: &mut Vec<Finding>,
) {
    let Some((declared, connect)) = conn.keep_alive else {
        return;
    };
    let mut gaps: Vec<i64> = conn
        .pings
        .windows(2)
        .map(|w| w[1].at.ts - w[0].at.ts)
        .collect();
    let period = median(&mut gaps);
    let mut lat: Vec<i64> = conn
        .pings
        .iter()
        .filter_map(|p| Some(in_time(p)?.ts - p.at.ts))
        .collect();
    let max_lat = lat.iter().copied().max();
    let latency = median(&mut lat);
    let pings = conn.pings.len() as u32 + conn.pings_dropped;
    let answered = lat.len() as u32;
    let server = conn
        .server_keep_alive
        .map(|k| {
            format!(
                "; the broker imposed {} instead (Server Keep Alive)",
                sec(k.into())
            )
        })
        .unwrap_or_default();
    let pinging = match (pings, period, latency) {
        (0, _, _) => "it sent no PINGREQ".to_string(),
        (n, p, l) => format!(
            "it sent {n} PINGREQ(s){}, {answered} answered by PINGRESP{}",
            p.map(|p| format!(" (median {} apart)", human(p)))
                .unwrap_or_default(),
            l.map(|l| format!(" in median {} ms", ms(l)))
                .unwrap_or_default()
        ),
    };
    let off = if declared == 0 {
        " (0: keep-alive off, the broker never drops it for silence)"
    } else {
        ""
    };
    out.push(Finding::new(
        Severity::Info,
        cx.sid(),
        vec![connect.frame],
        connect.ts,
        format!(
            "{who} (MQTT {}) declared a keep-alive of {}{off} in CONNECT (frame {}){server}; \
             {pinging}.",
            version_name(conn.version),
            sec(declared.into()),
            connect.frame
        ),
        Details::MqttKeepalive(MqttKeepalive {
            client_id: conn.client_id.clone(),
            keep_alive_s: declared,
            longest_silence_s: conn.longest_silence.map(|(g, _, _)| s3(g)),
            max_ping_latency_ms: max_lat.map(ms),
            period_s: period.map(s3),
            ping_latency_ms: latency.map(ms),
            pingresps: answered,
            pings,
            server_keep_alive_s: conn.server_keep_alive,
            version: version_name(conn.version),
        }),
    ));
}
