//! Turning one finished stream's state into its summary and findings: what ended it (here),
//! its heartbeat ([`heartbeat`]), its TCP keep-alive ([`keepalive`]) and what middleboxes did
//! to it ([`middlebox`]). The findings are pushed in that order, which decides their order
//! among equals in the report.

mod apps;
mod common;
mod gave_up;
mod heartbeat;
mod http2;
mod idle_reset;
mod keepalive;
mod middlebox;
mod mqtt;

pub(crate) use middlebox::IdleTally;

use crate::finding::{Details, Finding, Reset, Severity, TlsCut, TlsGarbled};
use crate::heartbeat::{choose, Chosen, Services};
use crate::options::Options;
use crate::report::{human, round, secs, Close, Endpoints, StreamReport, TlsClose, UtcTime};
use crate::stream::{Event, Stream, TlsMode};
use common::StreamCx;

pub(crate) fn summarize(
    s: &Stream,
    opts: &Options,
    out: &mut Vec<Finding>,
    tally: &mut [IdleTally],
    services: &mut Services,
) -> StreamReport {
    let (cdir, roles_from) = s.client_dir();
    let cx = StreamCx {
        s,
        opts,
        client_dir: cdir,
    };
    // Beats each side sends on its own schedule are no probe/reply pairs: generic discovery
    // would call one side's beats the probes and the other's the replies. Request/response
    // probes keep the generic judgement too: it measures slow replies, which the protocol
    // modules do not.
    let own_liveness = s
        .app
        .as_ref()
        .is_some_and(|a| a.session.protocol().beats_independently());
    let hb = if own_liveness {
        None
    } else {
        choose(s, opts).or_else(|| services.choose(s))
    };
    if let Some(h) = &hb {
        services.learn(s, h);
    }
    let close = close(&cx, hb.as_ref());
    // Whether a finding before the reset's own explains it.
    let mut explained_reset = false;
    let heartbeat = hb.as_ref().map(|h| {
        // The siblings' latency is only needed for a reply slow in absolute terms (the
        // slowest come first); most connections never have one, and the lookup sorts.
        let slow_enough = h
            .cand
            .slowest
            .first()
            .is_some_and(|(l, _)| *l >= crate::reply_baseline::MIN_EXCESS_NS);
        let others = slow_enough.then(|| services.others_latency(s, h)).flatten();
        heartbeat::findings(&cx, h, others, out, &mut explained_reset)
    });
    let tcp_keepalive = keepalive::per_sender(&cx, out, &mut explained_reset);
    // A forged reset after idle is one story (the box that forgot the connection); a forged
    // reset without it, another.
    let idle_reset = idle_reset::middlebox_idle_reset(&cx, out);
    explained_reset |= idle_reset || middlebox::injected_reset(&cx, out);
    explained_reset |= middlebox::state_loss(&cx, out);
    middlebox::idle_beyond_timeouts(&cx, out, tally);
    tls_truncation(&cx, out);
    tls_unreadable(&cx, out);
    http2::findings(&cx, out);
    mqtt::findings(&cx, out);
    // A reset that ends a session whose protocol heartbeat stopped is that story's end.
    explained_reset |= apps::findings(&cx, out);
    // A reset answering the SYN is a refused attempt, told by `connection_refused`: no
    // connection was there to die.
    if let Some(r) = s.rst.filter(|r| !refused_attempt(s, r)) {
        out.push(reset(&cx, r, hb.as_ref(), explained_reset));
    }

    StreamReport {
        stream: s.id,
        endpoints: Endpoints {
            client: s.addr[cdir],
            server: s.addr[1 - cdir],
            roles_from,
        },
        start: UtcTime(s.first_ts),
        end: UtcTime(s.last_ts),
        first_frame: s.first_frame,
        last_frame: s.last_frame,
        packets: s.packets,
        close: close.map(Box::new),
        max_idle_s: round(secs(s.max_idle), 6),
        max_idle_frames: s.max_idle_frames,
        heartbeat: heartbeat.map(Box::new),
        tcp_keepalive,
    }
}

/// The reset ended an attempt, not a connection: it is the server's only answer to the
/// client's SYN (nothing listened: `connection_refused` tells it), or the client's answer to
/// the SYN-ACK, its only segment after its SYN (a half-open scan's probe: `scan` tells it).
fn refused_attempt(s: &Stream, r: &Event) -> bool {
    let Some((client, "handshake")) = s.client.map(|(c, how)| (c as usize, how)) else {
        return false;
    };
    let no_data = s.dirs.iter().all(|d| d.bytes == 0);
    if r.dir as usize != client {
        s.dirs[1 - client].ttl_n == 0 && no_data
    } else {
        // SYN, SYN-ACK, RST: the stream's first packet was the client's (its SYN), and it sent
        // nothing but that and the reset (no ACK completed the handshake).
        client == 0 && s.packets == 3 && s.dirs[client].segments == 2 && no_data
    }
}

/// What ended the connection: its first RST, else its first FIN.
fn close(cx: &StreamCx<'_>, hb: Option<&Chosen<'_>>) -> Option<Close> {
    let s = cx.s;
    let role = |d: usize| cx.role(d);
    let first_fin = s.dirs.iter().filter_map(|d| d.fin).min_by_key(|e| e.ts);
    let close_ev = s.rst.map(|e| ("rst", e)).or(first_fin.map(|e| ("fin", e)));
    close_ev.map(|(kind, e)| Close {
        kind,
        by: role(e.dir as usize),
        frame: e.frame,
        time: UtcTime(e.ts),
        after_last_beat_s: hb.map(|h| round(secs(e.ts - h.cand.last.ts), 6)),
        after_last_data_s: s.last_data.map(|(_, t)| round(secs(e.ts - t), 6)),
        tls: tls_close(cx).map(Box::new),
    })
}

/// How a TLS stream was shut down, from the records around its FINs.
fn tls_close(cx: &StreamCx<'_>) -> Option<TlsClose> {
    let TlsMode::Tls(t) = &cx.s.tls else {
        return None;
    };
    let sides = |pick: &dyn Fn(usize) -> bool| -> Vec<&'static str> {
        let (c, s) = (cx.client_dir, 1 - cx.client_dir);
        [c, s]
            .into_iter()
            .filter(|&d| pick(d))
            .map(|d| cx.role(d))
            .collect()
    };
    Some(TlsClose {
        version: t.version_name(),
        close_notify_by: sides(&|d| t.before_fin[d].is_some_and(|r| r.alert)),
        bare_fin_by: sides(&|d| {
            cx.s.dirs[d].fin.is_some() && !t.before_fin[d].is_some_and(|r| r.alert)
        }),
        after_peer_fin_by: sides(&|d| t.after_peer_fin[d].is_some()),
        cut_by: sides(&|d| t.cut[d].is_some()),
        heartbeat_records: t.heartbeat_records.iter().sum(),
    })
}

/// `tls_truncation`: a side whose FIN came in the middle of a TLS record it was sending.
fn tls_truncation(cx: &StreamCx<'_>, out: &mut Vec<Finding>) {
    let TlsMode::Tls(t) = &cx.s.tls else {
        return;
    };
    for d in 0..2 {
        let Some((fin, sent, len)) = t.cut[d] else {
            continue;
        };
        let by = cx.role(d);
        let peer = cx.role(1 - d);
        let whole = if len > 0 {
            format!("{sent} of its {len} bytes")
        } else {
            format!("{sent} bytes, not even its header")
        };
        out.push(Finding::new(
            Severity::Warning,
            cx.sid(),
            vec![fin.frame],
            fin.ts,
            format!(
                "the {by} closed the connection (FIN frame {}) in the middle of a TLS record ({whole} sent) and without close_notify: what it was sending was cut, and the {peer} cannot tell a complete answer from a truncated one (TLS truncation) → look for the {by}'s crash, timeout or an abort that closed the socket mid-write",
                fin.frame
            ),
            Details::TlsTruncation(TlsCut {
                by,
                sent_bytes: sent as u32,
                record_len: len as u32,
                version: t.version_name(),
            }),
        ));
    }
}

/// `tls_unreadable`: a side whose bytes stopped being TLS records where one should start.
fn tls_unreadable(cx: &StreamCx<'_>, out: &mut Vec<Finding>) {
    let TlsMode::Tls(t) = &cx.s.tls else {
        return;
    };
    for d in 0..2 {
        let Some((ev, header)) = t.unreadable[d] else {
            continue;
        };
        let by = cx.role(d);
        let reason = keepsight_tls::reasm::bad_header_reason(&header);
        out.push(Finding::new(
            Severity::Warning,
            cx.sid(),
            vec![ev.frame],
            ev.ts,
            format!(
                "the {by}'s TLS records stop making sense in frame {}, where a record should start: {reason}; the rest of what the {by} sent is not read as TLS (heartbeats and closes inside it cannot be judged) → a peer speaking something else on this connection, a broken TLS implementation, or a damaged capture",
                ev.frame
            ),
            Details::TlsUnreadable(TlsGarbled {
                by,
                header_hex: header.iter().map(|b| format!("{b:02x}")).collect(),
                reason,
                version: t.version_name(),
            }),
        ));
    }
}

/// The connection's RST, with what is known of its context (the last beat and data, a close
/// race, a half-open connection).
fn reset(cx: &StreamCx<'_>, r: Event, hb: Option<&Chosen<'_>>, explained_reset: bool) -> Finding {
    let s = cx.s;
    let sid = cx.sid();
    let role = |d: usize| cx.role(d);
    let who = role(r.dir as usize);
    let last_beat = hb
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
    // was closing (the classic keep-alive timeout race). On TLS, an alert the peer sent after
    // that FIN is its side of the TLS shutdown, which a socket closed without reading answers
    // with RST: no race. Application data after it is a request on a closed connection, TLS
    // or not (a TLS 1.3 alert is told from data by its size).
    let after_fin = s.dirs[r.dir as usize]
        .fin
        .filter(|f| f.ts <= r.ts && s.last_data.is_some_and(|(_, t)| t >= f.ts));
    let (tls_after_fin, own_close_notify) = match &s.tls {
        TlsMode::Tls(t) => (
            after_fin
                .and(t.after_peer_fin[1 - r.dir as usize])
                .filter(|rec| rec.alert),
            t.before_fin[r.dir as usize].is_some_and(|rec| rec.alert),
        ),
        _ => (None, false),
    };
    let tls_shutdown = tls_after_fin
        .map(|rec| {
            format!(
                "; it had closed its side {} (FIN frame {}) and the {} then sent {} (frame {}), which its closed socket answered with this RST: the ordinary end of a TLS connection, not a fault",
                if own_close_notify {
                    "after its close_notify"
                } else {
                    "without close_notify"
                },
                after_fin.map_or(0, |f| f.frame),
                role(1 - r.dir as usize),
                match rec.decrypted_alert {
                    Some(desc) if desc != 0 => format!(
                        "its TLS alert ({}, decrypted)",
                        keepsight_tls::record::alert_description_name(desc)
                    ),
                    _ => "its TLS alert (close_notify)".to_string(),
                },
                rec.ev.frame
            )
        })
        .unwrap_or_default();
    let race = after_fin
        .filter(|_| tls_after_fin.is_none())
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
    // had the connection (a half-open connection discovered). Not when the resetter never sent
    // it (a TTL it never used): then its TCP may well still have the connection. Nor when the
    // reset acknowledged the peer's data: only a TCP still holding the connection does that
    // (an application abort after a late packet, SO_LINGER 0).
    let half_open = s
        .rst_ctx
        .filter(|(prev, own)| {
            s.injected.is_none()
                && !s.rst_acked_peer
                && prev.dir != r.dir
                && r.ts - prev.ts <= 50_000_000
                && own.is_some_and(|o| r.ts - o >= 2_000_000_000)
                && race.is_empty()
                && tls_shutdown.is_empty()
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
    Finding::new(
        if explained_reset || !tls_shutdown.is_empty() {
            Severity::Info
        } else {
            Severity::Warning
        },
        sid,
        vec![r.frame],
        r.ts,
        format!(
            "the {who} reset the connection{last_beat}{last_data}{race}{tls_shutdown}{half_open}{}",
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
            tls_shutdown: !tls_shutdown.is_empty(),
        }),
    )
}
