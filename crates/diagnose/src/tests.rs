//! Unit tests of the detector on scripted segment sequences. Each script states what the
//! simulated peers did and when; the expectations come from that script. (The oracle tests on
//! real captures live in crates/cli/tests/diagnose_*.rs.)

use super::*;
// Short names keep the scripted segments on one line each.
use crate::finding::{DeadlineCause, IdleBeyond};
use keepsight_tcp::{flag as an, AnalysisFlags, TcpFlags, TcpFlags as fl};
use std::net::SocketAddr;

/// The typed details of a finding of the given kind.
macro_rules! details {
    ($f:expr, $variant:ident) => {
        match &$f.details {
            Details::$variant(d) => d,
            other => panic!("not {}: {other:?}", stringify!($variant)),
        }
    };
}

const S: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;
const US: i64 = 1_000;
const T0: i64 = 1_709_283_600 * S;

#[derive(Clone)]
struct Owned {
    frame: u32,
    ts: i64,
    stream: u32,
    src: SocketAddr,
    dst: SocketAddr,
    flags: u16,
    seq: u32,
    ack: u32,
    payload: Vec<u8>,
    ttl: u8,
    analysis: u32,
}

/// A scripted capture: connections append segments; `run` sorts by time and feeds them.
#[derive(Default)]
struct Script {
    segs: Vec<Owned>,
}

struct Conn {
    stream: u32,
    c: SocketAddr,
    s: SocketAddr,
    /// Next sequence number of client, server (relative).
    nxt: [u32; 2],
    ttl: [u8; 2],
}

impl Conn {
    fn new(stream: u32, client: &str, server: &str) -> Conn {
        Conn {
            stream,
            c: client.parse().unwrap(),
            s: server.parse().unwrap(),
            nxt: [0, 0],
            ttl: [64, 64],
        }
    }

    /// side 0 = client, 1 = server.
    fn seg(
        &mut self,
        sc: &mut Script,
        ts: i64,
        side: usize,
        flags: u16,
        payload: &[u8],
        analysis: u32,
    ) {
        let (src, dst) = if side == 0 {
            (self.c, self.s)
        } else {
            (self.s, self.c)
        };
        let seq = self.nxt[side];
        sc.segs.push(Owned {
            frame: 0,
            ts,
            stream: self.stream,
            src,
            dst,
            flags,
            seq,
            ack: self.nxt[1 - side],
            payload: payload.to_vec(),
            ttl: self.ttl[side],
            analysis,
        });
        let adv = payload.len() as u32 + u32::from(flags & (fl::SYN | fl::FIN) != 0);
        self.nxt[side] = seq.wrapping_add(adv);
    }

    /// A segment at an explicit sequence number (retransmissions, keep-alives).
    #[allow(clippy::too_many_arguments)]
    fn seg_at(
        &mut self,
        sc: &mut Script,
        ts: i64,
        side: usize,
        flags: u16,
        seq: u32,
        payload: &[u8],
        analysis: u32,
        ttl: u8,
    ) {
        let (src, dst) = if side == 0 {
            (self.c, self.s)
        } else {
            (self.s, self.c)
        };
        sc.segs.push(Owned {
            frame: 0,
            ts,
            stream: self.stream,
            src,
            dst,
            flags,
            seq,
            ack: self.nxt[1 - side],
            payload: payload.to_vec(),
            ttl,
            analysis,
        });
    }

    fn handshake(&mut self, sc: &mut Script, ts: i64) {
        self.seg(sc, ts, 0, fl::SYN, b"", 0);
        self.seg(sc, ts + 100 * US, 1, fl::SYN | fl::ACK, b"", 0);
        self.seg(sc, ts + 200 * US, 0, fl::ACK, b"", 0);
    }

    /// Probe 01 from the client, 41 back after `lat`, client's delayed ACK 40 ms later.
    fn beat(&mut self, sc: &mut Script, ts: i64, lat: i64) {
        self.seg(sc, ts, 0, fl::PSH | fl::ACK, &[0x01], 0);
        self.seg(sc, ts + lat, 1, fl::PSH | fl::ACK, &[0x41], 0);
        self.seg(sc, ts + lat + 40 * MS, 0, fl::ACK, b"", 0);
    }
}

impl Script {
    fn run(mut self, opts: Options) -> (Report, Vec<Owned>) {
        self.segs.sort_by_key(|s| s.ts);
        for (i, s) in self.segs.iter_mut().enumerate() {
            s.frame = i as u32 + 1;
        }
        let mut d = Diagnoser::new(opts);
        for o in &self.segs {
            d.on_segment(&Segment {
                frame: o.frame,
                ts_ns: o.ts,
                stream: o.stream,
                src: o.src,
                dst: o.dst,
                flags: TcpFlags(o.flags),
                seq: o.seq,
                ack: o.ack,
                len: o.payload.len() as u32,
                payload: &o.payload,
                window: 64_000,
                ttl: o.ttl,
                analysis: AnalysisFlags(o.analysis),
            });
        }
        let end = self.segs.last().map(|s| s.ts).unwrap_or(T0) + S;
        (d.finish(end), self.segs)
    }
}

fn frame_at(segs: &[Owned], ts: i64, flags: u16) -> u32 {
    segs.iter()
        .find(|s| s.ts == ts && s.flags == flags)
        .map(|s| s.frame)
        .expect("scripted segment")
}

fn kinds(r: &Report, stream: u32, k: Kind) -> Vec<&Finding> {
    r.findings
        .iter()
        .filter(|f| f.stream == Some(stream) && f.kind() == k)
        .collect()
}

/// The incident: beats every 45 s, one sent at 58 s, answered in 0.37 ms, then the client's ACK
/// and RST 0.2 ms later. A second client keeps beating on time.
#[test]
fn late_beat_then_client_reset_is_blamed_on_the_client_scheduler() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:7443");
    let mut b = Conn::new(1, "10.0.0.3:50001", "10.0.0.1:7443");
    a.handshake(&mut sc, T0);
    b.handshake(&mut sc, T0 + 3 * S);
    let mut t = T0 + S;
    for _ in 0..10 {
        a.beat(&mut sc, t, 370 * US);
        t += 45 * S;
    }
    // The 11th probe is 58 s after the 10th.
    let last_on_time = t - 45 * S;
    let late = last_on_time + 58 * S;
    a.seg(&mut sc, late, 0, fl::PSH | fl::ACK, &[0x01], 0);
    a.seg(&mut sc, late + 370 * US, 1, fl::PSH | fl::ACK, &[0x41], 0);
    a.seg(&mut sc, late + 470 * US, 0, fl::ACK, b"", 0);
    a.seg(&mut sc, late + 570 * US, 0, fl::RST | fl::ACK, b"", 0);
    let mut tb = T0 + 4 * S;
    for _ in 0..14 {
        b.beat(&mut sc, tb, 250 * US);
        tb += 45 * S;
    }
    let (r, segs) = sc.run(Options::default());

    let s0 = &r.streams[0];
    let hb = s0.heartbeat.as_ref().expect("heartbeat found");
    assert_eq!(hb.sender, "client");
    assert_eq!(hb.probe_hex, "01");
    assert_eq!(hb.reply_hex.as_deref(), Some("41"));
    assert_eq!(hb.period_s, 45.0);
    assert_eq!(hb.beats, 11);
    assert_eq!(hb.reply_latency_ms.as_ref().unwrap().median, 0.37);
    let close = s0.close.as_ref().unwrap();
    assert_eq!((close.kind, close.by), ("rst", "client"));
    assert_eq!(
        close.frame,
        frame_at(&segs, late + 570 * US, fl::RST | fl::ACK)
    );
    assert_eq!(s0.endpoints.client.to_string(), "10.0.0.2:50000");

    let d = kinds(&r, 0, Kind::ResetAfterHeartbeatDeadline);
    assert_eq!(d.len(), 1);
    let d = d[0];
    assert_eq!(d.severity, Severity::Critical);
    let dd = details!(d, ResetAfterHeartbeatDeadline);
    assert_eq!(dd.cause, DeadlineCause::LateProbe);
    assert_eq!(dd.gap_s, Some(58.0));
    assert_eq!(dd.late_by_s, Some(13.0));
    assert_eq!(dd.reply_latency_ms, Some(0.37));
    assert_eq!(dd.reset_after_reply_ms, Some(0.2));
    assert_eq!(
        d.frames,
        vec![
            frame_at(&segs, last_on_time, fl::PSH | fl::ACK),
            frame_at(&segs, late, fl::PSH | fl::ACK),
            frame_at(&segs, late + 370 * US, fl::PSH | fl::ACK),
            frame_at(&segs, late + 570 * US, fl::RST | fl::ACK),
        ]
    );
    assert!(
        d.message.contains("58.0 s after the previous"),
        "{}",
        d.message
    );
    assert!(d.message.contains("scheduler"), "{}", d.message);
    let late_f = kinds(&r, 0, Kind::LateHeartbeat);
    assert_eq!(late_f.len(), 1);
    assert_eq!(details!(late_f[0], LateHeartbeat).late_by_s, 13.0);
    // The on-time client: a heartbeat, nothing wrong.
    assert!(
        r.findings.iter().all(|f| f.stream != Some(1)),
        "{:#?}",
        r.findings
    );
    assert_eq!(r.streams[1].heartbeat.as_ref().unwrap().beats, 14);
    // Findings are ordered by severity, and the summary says it in words.
    assert_eq!(r.findings[0].kind(), Kind::ResetAfterHeartbeatDeadline);
    assert!(r.summary[0].contains("network was fine"), "{:?}", r.summary);
    let text = r.render_text(5);
    assert!(text.contains("reset_after_heartbeat_deadline"));
    // JSON shape.
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["streams"][0]["heartbeat"]["period_s"], 45.0);
    assert_eq!(v["streams"][0]["close"]["kind"], "rst");
    assert_eq!(v["findings"][0]["kind"], "reset_after_heartbeat_deadline");
}

/// tshark flags a retransmitted 1-byte probe as a keep-alive; it is a retransmitted heartbeat.
/// A genuine Linux keep-alive (0 bytes at next-1) on another stream stays a keep-alive.
#[test]
fn retransmitted_one_byte_beat_is_not_a_keepalive() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:7443");
    a.handshake(&mut sc, T0);
    let mut t = T0 + S;
    for i in 0..6 {
        if i == 3 {
            let seq = a.nxt[0];
            a.seg(&mut sc, t, 0, fl::PSH | fl::ACK, &[0x01], 0);
            // Lost downstream: the client retransmits 210 ms later; tshark says Keep-Alive.
            a.seg_at(
                &mut sc,
                t + 210 * MS,
                0,
                fl::PSH | fl::ACK,
                seq,
                &[0x01],
                an::KEEP_ALIVE,
                64,
            );
            a.seg(
                &mut sc,
                t + 210 * MS + 300 * US,
                1,
                fl::PSH | fl::ACK,
                &[0x41],
                0,
            );
        } else {
            a.beat(&mut sc, t, 300 * US);
        }
        t += 10 * S;
    }
    let (r, segs) = sc.run(Options::default());
    let rt = kinds(&r, 0, Kind::RetransmittedHeartbeat);
    assert_eq!(rt.len(), 1);
    let orig = T0 + S + 30 * S;
    assert_eq!(
        rt[0].frames,
        vec![
            frame_at(&segs, orig, fl::PSH | fl::ACK),
            frame_at(&segs, orig + 210 * MS, fl::PSH | fl::ACK)
        ]
    );
    assert!(details!(rt[0], RetransmittedHeartbeat).tshark_keep_alive);
    assert!(rt[0].message.contains("not a kernel keep-alive"));
    assert!(r.streams[0].tcp_keepalive.is_empty());
    assert_eq!(r.streams[0].heartbeat.as_ref().unwrap().beats, 6);
}

/// A server with Linux keep-alive (idle 60 s, interval 10 s) whose client vanished: 5 probes go
/// unanswered, then the server resets. A second connection's probes are answered.
#[test]
fn dead_peer_keepalive_inferred() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:40000", "10.0.0.1:5432");
    a.handshake(&mut sc, T0);
    a.seg(
        &mut sc,
        T0 + S,
        0,
        fl::PSH | fl::ACK,
        b"SELECT 1;................",
        0,
    );
    a.seg(
        &mut sc,
        T0 + S + MS,
        1,
        fl::PSH | fl::ACK,
        b"one row.................................",
        0,
    );
    let last = T0 + S + 41 * MS;
    a.seg(&mut sc, last, 0, fl::ACK, b"", 0);
    let mut probes = Vec::new();
    for i in 0..5 {
        let ts = last + 60 * S + i * 10 * S;
        let seq = a.nxt[1].wrapping_sub(1);
        a.seg_at(&mut sc, ts, 1, fl::ACK, seq, b"", an::KEEP_ALIVE, 64);
        probes.push(ts);
    }
    let rst_ts = last + 60 * S + 50 * S;
    a.seg(&mut sc, rst_ts, 1, fl::RST | fl::ACK, b"", 0);

    let mut b = Conn::new(1, "10.0.0.3:40001", "10.0.0.1:5432");
    b.handshake(&mut sc, T0);
    b.seg(
        &mut sc,
        T0 + S,
        0,
        fl::PSH | fl::ACK,
        b"SELECT 1;................",
        0,
    );
    b.seg(
        &mut sc,
        T0 + S + MS,
        1,
        fl::PSH | fl::ACK,
        b"one row.................................",
        0,
    );
    b.seg(&mut sc, T0 + S + 41 * MS, 0, fl::ACK, b"", 0);
    let mut t = T0 + S + 41 * MS;
    for _ in 0..2 {
        t += 60 * S;
        let seq = b.nxt[1].wrapping_sub(1);
        b.seg_at(&mut sc, t, 1, fl::ACK, seq, b"", an::KEEP_ALIVE, 64);
        b.seg(&mut sc, t + 200 * US, 0, fl::ACK, b"", an::KEEP_ALIVE_ACK);
        t += 200 * US;
    }
    let (r, segs) = sc.run(Options::default());
    let ka = &r.streams[0].tcp_keepalive;
    assert_eq!(ka.len(), 1);
    let k = &ka[0];
    assert_eq!(k.sender, "server");
    assert_eq!(k.probes, 5);
    assert_eq!(k.unanswered, 5);
    assert_eq!(k.idle_s, Some(60.0));
    assert_eq!(k.interval_s, Some(10.0));
    assert_eq!(k.count, Some(5));
    assert_eq!(k.worst_case_detection_s, Some(110.0));
    let f = kinds(&r, 0, Kind::KeepaliveUnanswered);
    assert_eq!(f.len(), 1);
    let mut want: Vec<u32> = probes
        .iter()
        .map(|&p| frame_at(&segs, p, fl::ACK))
        .collect();
    want.push(frame_at(&segs, rst_ts, fl::RST | fl::ACK));
    assert_eq!(f[0].frames, want);
    // The healthy pool connection: probes answered, idle 60 s, interval not observable.
    let k1 = &r.streams[1].tcp_keepalive[0];
    assert_eq!((k1.probes, k1.unanswered), (2, 0));
    assert_eq!(k1.idle_s, Some(60.0));
    assert!(kinds(&r, 1, Kind::KeepaliveUnanswered).is_empty());
    assert!(r.streams.iter().all(|s| s.heartbeat.is_none()));
}

/// Idle 400 s behind a NAT that forgot the connection: the client's request is retransmitted
/// three times without an ACK, then the client resets. Also longer than an AWS NLB's 350 s.
#[test]
fn state_loss_after_idle() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "192.168.1.5:33000", "203.0.113.9:443");
    a.handshake(&mut sc, T0);
    a.seg(&mut sc, T0 + S, 0, fl::PSH | fl::ACK, &[7u8; 100], 0);
    a.seg(
        &mut sc,
        T0 + S + 20 * MS,
        1,
        fl::PSH | fl::ACK,
        &[9u8; 200],
        0,
    );
    a.seg(&mut sc, T0 + S + 60 * MS, 0, fl::ACK, b"", 0);
    let req = T0 + S + 60 * MS + 400 * S;
    let seq = a.nxt[0];
    a.seg(&mut sc, req, 0, fl::PSH | fl::ACK, &[7u8; 100], 0);
    let mut last = req;
    for i in 0..3 {
        last = req + ((200 * MS) << i);
        a.seg_at(
            &mut sc,
            last,
            0,
            fl::PSH | fl::ACK,
            seq,
            &[7u8; 100],
            an::RETRANSMISSION,
            64,
        );
    }
    let rst = last + 2 * S;
    a.seg(&mut sc, rst, 0, fl::RST | fl::ACK, b"", 0);
    let (r, segs) = sc.run(Options::default());
    let f = kinds(&r, 0, Kind::MiddleboxStateLoss);
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert_eq!(details!(f[0], MiddleboxStateLoss).retransmissions, 3);
    assert_eq!(details!(f[0], MiddleboxStateLoss).idle_s, 400.0);
    assert_eq!(
        f[0].frames,
        vec![
            frame_at(&segs, T0 + S + 60 * MS, fl::ACK),
            frame_at(&segs, req, fl::PSH | fl::ACK),
            frame_at(&segs, last, fl::PSH | fl::ACK),
            frame_at(&segs, rst, fl::RST | fl::ACK)
        ]
    );
    let idle = kinds(&r, 0, Kind::IdleBeyondMiddleboxTimeout);
    assert_eq!(idle.len(), 1);
    match details!(idle[0], IdleBeyondMiddleboxTimeout) {
        IdleBeyond::Stream(d) => assert_eq!(d.exceeded, vec![60, 100, 240, 350]),
        other => panic!("not one stream's idle gap: {other:?}"),
    }
    assert_eq!(r.streams[0].max_idle_s, 400.0);
}

/// A reset that claims to come from the server but arrives with TTL 57 while the server's
/// packets all had 64.
#[test]
fn injected_reset_by_ttl() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:41000", "10.0.0.1:8080");
    a.handshake(&mut sc, T0);
    for i in 0..5 {
        a.seg(
            &mut sc,
            T0 + (i + 1) * S,
            0,
            fl::PSH | fl::ACK,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            0,
        );
        a.seg(
            &mut sc,
            T0 + (i + 1) * S + MS,
            1,
            fl::PSH | fl::ACK,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            0,
        );
    }
    let rst = T0 + 10 * S;
    let seq = a.nxt[1];
    a.seg_at(&mut sc, rst, 1, fl::RST, seq, b"", 0, 57);
    let (r, segs) = sc.run(Options::default());
    let f = kinds(&r, 0, Kind::InjectedReset);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].frames, vec![frame_at(&segs, rst, fl::RST)]);
    assert_eq!(details!(f[0], InjectedReset).ttl, 57);
    assert_eq!(details!(f[0], InjectedReset).usual_ttl_min, 64);
    let reset = kinds(&r, 0, Kind::ConnectionReset);
    assert_eq!(reset.len(), 1);
    assert_eq!(reset[0].severity, Severity::Info);
    // A genuine reset (same TTL) on a fresh stream is not called injected.
    let mut sc = Script::default();
    let mut b = Conn::new(0, "10.0.0.2:41001", "10.0.0.1:8080");
    b.handshake(&mut sc, T0);
    b.seg(
        &mut sc,
        T0 + S,
        0,
        fl::PSH | fl::ACK,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        0,
    );
    b.seg(&mut sc, T0 + 2 * S, 1, fl::RST | fl::ACK, b"", 0);
    let (r, _) = sc.run(Options::default());
    assert!(kinds(&r, 0, Kind::InjectedReset).is_empty());
    assert_eq!(
        kinds(&r, 0, Kind::ConnectionReset)[0].severity,
        Severity::Warning
    );
}

/// A probe the server's TCP acknowledges but its application never answers; the client resets
/// after its 1 s timeout: the heartbeat sender gave up after one unanswered beat (issue 15
/// class 6: one finding ties the close to the probe; it used to be told as a deadline reset).
/// The server resetting after an unanswered probe stays a deadline reset.
#[test]
fn unanswered_probe_then_reset() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:7443");
    a.handshake(&mut sc, T0);
    let mut t = T0 + S;
    for _ in 0..5 {
        a.beat(&mut sc, t, 400 * US);
        t += 5 * S;
    }
    a.seg(&mut sc, t, 0, fl::PSH | fl::ACK, &[0x01], 0);
    a.seg(&mut sc, t + 40 * MS, 1, fl::ACK, b"", 0);
    a.seg(&mut sc, t + S, 0, fl::RST | fl::ACK, b"", 0);
    let opts = Options {
        timeout_ns: Some(S),
        ..Options::default()
    };
    let (r, segs) = sc.run(opts);
    let u = kinds(&r, 0, Kind::UnansweredHeartbeat);
    assert_eq!(u.len(), 1);
    assert_eq!(
        u[0].frames,
        vec![
            frame_at(&segs, t, fl::PSH | fl::ACK),
            frame_at(&segs, t + 40 * MS, fl::ACK),
            frame_at(&segs, t + S, fl::RST | fl::ACK)
        ]
    );
    assert!(details!(u[0], UnansweredHeartbeat).acked);
    assert!(kinds(&r, 0, Kind::ResetAfterHeartbeatDeadline).is_empty());
    let g = kinds(&r, 0, Kind::HeartbeatGaveUp);
    assert_eq!(g.len(), 1);
    let gd = details!(g[0], HeartbeatGaveUp);
    assert_eq!((gd.by, gd.close, gd.unanswered), ("client", "rst", 1));
    assert_eq!(
        gd.policy,
        "closes after 1 unanswered beat, 1.0 s after the last one"
    );
    assert!(kinds(&r, 0, Kind::LateHeartbeat).is_empty());

    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:7443");
    a.handshake(&mut sc, T0);
    let mut t = T0 + S;
    for _ in 0..5 {
        a.beat(&mut sc, t, 400 * US);
        t += 5 * S;
    }
    a.seg(&mut sc, t, 0, fl::PSH | fl::ACK, &[0x01], 0);
    a.seg(&mut sc, t + S, 1, fl::RST | fl::ACK, b"", 0);
    let (r, _) = sc.run(Options::default());
    assert!(kinds(&r, 0, Kind::HeartbeatGaveUp).is_empty());
    let d = kinds(&r, 0, Kind::ResetAfterHeartbeatDeadline);
    assert_eq!(d.len(), 1);
    let dd = details!(d[0], ResetAfterHeartbeatDeadline);
    assert_eq!((dd.cause, dd.by), (DeadlineCause::Unanswered, "server"));
}

/// A receiver that answers a probe with a reset as fast as it replies ended the connection
/// itself: no deadline passed, and the probe is not "unanswered" (log-formats' server, which
/// closes with SO_LINGER 0 instead of answering).
#[test]
fn reset_as_the_answer_to_a_probe() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:7443");
    a.handshake(&mut sc, T0);
    let mut t = T0 + S;
    for _ in 0..5 {
        a.beat(&mut sc, t, 400 * US);
        t += 5 * S;
    }
    a.seg(&mut sc, t, 0, fl::PSH | fl::ACK, &[0x01], 0);
    a.seg(&mut sc, t + 500 * US, 1, fl::RST | fl::ACK, b"", 0);
    let (r, _) = sc.run(Options::default());
    let d = kinds(&r, 0, Kind::ResetAfterHeartbeatDeadline);
    assert_eq!(d.len(), 1);
    let dd = details!(d[0], ResetAfterHeartbeatDeadline);
    assert_eq!((dd.cause, dd.by), (DeadlineCause::ResetOnProbe, "server"));
    assert!(
        d[0].message.contains("answered by a reset"),
        "{}",
        d[0].message
    );
    assert!(kinds(&r, 0, Kind::UnansweredHeartbeat).is_empty());
    assert!(
        r.summary
            .iter()
            .any(|s| s.contains("as its answer to a heartbeat probe")),
        "{:?}",
        r.summary
    );
}

/// A missed beat (no probe for two periods) that the connection survives, and a slow reply
/// beyond --timeout.
#[test]
fn missed_beat_and_slow_reply() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:7443");
    a.handshake(&mut sc, T0);
    let mut t = T0 + S;
    for i in 0..12 {
        if i == 5 {
            t += 3 * S; // one beat skipped
        }
        let lat = if i == 8 { 1500 * MS } else { 300 * US };
        a.beat(&mut sc, t, lat);
        t += 3 * S;
    }
    let opts = Options {
        timeout_ns: Some(S),
        ..Options::default()
    };
    let (r, _) = sc.run(opts);
    let m = kinds(&r, 0, Kind::MissedHeartbeat);
    assert_eq!(m.len(), 1);
    assert_eq!(details!(m[0], MissedHeartbeat).missed, 1);
    assert!(kinds(&r, 0, Kind::LateHeartbeat).is_empty());
    let s = kinds(&r, 0, Kind::SlowHeartbeatReply);
    assert_eq!(s.len(), 1);
    assert_eq!(details!(s[0], SlowHeartbeatReply).latency_ms, 1500.0);
    assert_eq!(r.streams[0].heartbeat.as_ref().unwrap().period_s, 3.0);
}

/// Request/response traffic of varying sizes and bulk data is not a heartbeat.
#[test]
fn no_heartbeat_in_irregular_traffic() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:80");
    a.handshake(&mut sc, T0);
    let mut t = T0 + S;
    let gaps = [1, 17, 3, 40, 2, 9, 25, 4];
    for (i, g) in gaps.iter().enumerate() {
        a.seg(&mut sc, t, 0, fl::PSH | fl::ACK, &vec![b'G'; 300 + i], 0);
        a.seg(
            &mut sc,
            t + 5 * MS,
            1,
            fl::PSH | fl::ACK,
            &vec![b'H'; 1400],
            0,
        );
        t += g * S;
    }
    let (r, _) = sc.run(Options::default());
    assert!(r.streams[0].heartbeat.is_none());
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert!(r.summary.is_empty());
}

/// Odd input must not panic: empty payloads with huge lengths, wrapping sequence numbers,
/// out-of-order times, a stream that is only one RST.
#[test]
fn odd_input_does_not_panic() {
    let a: SocketAddr = "[::1]:1".parse().unwrap();
    let b: SocketAddr = "[::1]:1".parse().unwrap();
    let mut d = Diagnoser::new(Options::default());
    let mut seg = Segment {
        frame: 1,
        ts_ns: i64::MAX - 10,
        stream: u32::MAX,
        src: a,
        dst: b,
        flags: TcpFlags(0xFFFF),
        seq: u32::MAX,
        ack: 0,
        len: u32::MAX,
        payload: &[],
        window: 0,
        ttl: 0,
        analysis: AnalysisFlags(u32::MAX),
    };
    d.on_segment(&seg);
    seg.ts_ns = i64::MIN + 10;
    seg.frame = 2;
    seg.flags = TcpFlags(fl::RST);
    seg.len = 3;
    seg.payload = &[1, 2, 3, 4, 5];
    d.on_segment(&seg);
    seg.stream = 0;
    seg.flags = TcpFlags(fl::PSH);
    seg.len = 1;
    for i in 0..200_000u32 {
        seg.frame = i + 3;
        seg.ts_ns = i64::from(i) * 7;
        seg.seq = i.wrapping_mul(2_654_435_761);
        d.on_segment(&seg);
    }
    let r = d.finish(0);
    let _ = r.render_text(3);
    let _ = serde_json::to_string(&r).unwrap();
    let empty = Diagnoser::new(Options::default()).finish(0);
    assert!(empty.streams.is_empty());
    assert!(empty.render_text(3).contains("0 segments"));
}

/// Closed streams are summarized and dropped while the capture goes on.
#[test]
fn closed_streams_are_released() {
    let mut sc = Script::default();
    for i in 0..2000u32 {
        let mut c = Conn::new(
            i,
            &format!("10.0.{}.{}:40000", i / 250, i % 250 + 1),
            "10.0.0.1:80",
        );
        let t = T0 + i64::from(i) * 100 * MS;
        c.handshake(&mut sc, t);
        for k in 0..30 {
            c.seg(&mut sc, t + MS + k * MS, 1, fl::ACK, &[0u8; 1400], 0);
        }
        c.seg(&mut sc, t + 50 * MS, 0, fl::FIN | fl::ACK, b"", 0);
        c.seg(&mut sc, t + 51 * MS, 1, fl::FIN | fl::ACK, b"", 0);
        c.seg(&mut sc, t + 52 * MS, 0, fl::ACK, b"", 0);
    }
    sc.segs.sort_by_key(|s| s.ts);
    let mut d = Diagnoser::new(Options::default());
    let mut peak = 0;
    for (i, o) in sc.segs.iter().enumerate() {
        d.on_segment(&Segment {
            frame: i as u32 + 1,
            ts_ns: o.ts,
            stream: o.stream,
            src: o.src,
            dst: o.dst,
            flags: TcpFlags(o.flags),
            seq: o.seq,
            ack: o.ack,
            len: o.payload.len() as u32,
            payload: &o.payload,
            window: 0,
            ttl: 64,
            analysis: AnalysisFlags(0),
        });
        peak = peak.max(d.live.len());
    }
    // 70 000 segments, one sweep per 65 536: streams closed more than 30 s earlier are gone.
    assert!(
        peak < 2000 && d.reports.len() > 1000,
        "peak {peak}, summarized {}",
        d.reports.len()
    );
    let r = d.finish(T0 + 1000 * S);
    assert_eq!(r.streams.len(), 2000);
    assert_eq!(r.streams[5].close.as_ref().unwrap().kind, "fin");
    assert_eq!(r.streams[5].close.as_ref().unwrap().by, "client");
}

/// The log of the incident, with a clock 1.4 s behind the capture: the error line is matched to
/// the late probe and the reset.
#[test]
fn log_lines_line_up_with_the_reset() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:7443");
    a.handshake(&mut sc, T0);
    let mut t = T0 + S;
    for _ in 0..6 {
        a.beat(&mut sc, t, 370 * US);
        t += 45 * S;
    }
    let late = t - 45 * S + 58 * S;
    a.seg(&mut sc, late, 0, fl::PSH | fl::ACK, &[0x01], 0);
    a.seg(&mut sc, late + 370 * US, 1, fl::PSH | fl::ACK, &[0x41], 0);
    a.seg(&mut sc, late + 570 * US, 0, fl::RST | fl::ACK, b"", 0);
    // Log in UTC+1, clock 1.4 s behind; whole seconds.
    let log_ts = late - 1_400 * MS + 3600 * S;
    let tod = log_ts.rem_euclid(civil::DAY_NS) / S;
    let line =
        |s: i64, what: &str| format!("{:02}:{:02}:{:02} {what}\n", s / 3600, s / 60 % 60, s % 60);
    let text = format!(
        "{}{}{}",
        line(tod - 30, "info heartbeat ok"),
        line(tod, "error heartbeat reply timeout"),
        line(tod + 8, "restart")
    );
    let log = AppLog::parse(
        &text,
        LogOptions {
            format: None,
            date: None,
            tz_offset_s: Some(3600),
        },
    );
    let (r, segs) = sc.run(Options {
        logs: vec![log],
        ..Options::default()
    });
    let m: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.kind() == Kind::LogMatch)
        .collect();
    assert_eq!(m.len(), 1, "{:#?}", r.findings);
    assert_eq!(details!(m[0], LogMatch).line, 2);
    assert!(m[0]
        .frames
        .contains(&frame_at(&segs, late + 570 * US, fl::RST | fl::ACK)));
    let l = r.log.as_ref().unwrap();
    assert_eq!((l.event_lines, l.matched), (2, 1));
    // The restart 8 s later has nothing on the wire around it.
    assert_eq!(
        l.unmatched.iter().map(|u| u.line).collect::<Vec<_>>(),
        vec![3]
    );
    // One line and one event cannot establish the clocks' difference: none is claimed...
    assert_eq!(l.clock_offset_s, None);
    // ...but the offset used to match it puts the line where the application may have
    // written it: from the moment the late beat was due (13 s before it: the line may be the
    // application's own deadline expiring) to the reset, within the line's granularity and
    // the allowed logging lag ([line + off - 1 s, line + off + 1.25 s]).
    let off = details!(m[0], LogMatch).clock_offset_s;
    let line_utc = log_ts / S * S - 3600 * S;
    let e_minus_l = (late + 570 * US - line_utc) as f64 / 1e9;
    assert!(
        off >= e_minus_l - 13.0 - 1.25 - 0.06 && off <= e_minus_l + 1.0 + 0.06,
        "offset {off}"
    );
}

/// A reconnection with only two beats before the capture ends is judged against the period its
/// siblings on the same service showed; its late second beat is reported.
#[test]
fn short_connection_uses_the_service_period() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:7443");
    a.handshake(&mut sc, T0);
    let mut t = T0 + S;
    for _ in 0..8 {
        a.beat(&mut sc, t, 300 * US);
        t += 3 * S;
    }
    let mut b = Conn::new(1, "10.0.0.3:50001", "10.0.0.1:7443");
    b.handshake(&mut sc, T0 + 2 * S);
    b.beat(&mut sc, T0 + 5 * S, 300 * US);
    b.beat(&mut sc, T0 + 9 * S, 300 * US);
    // Another service with the same probe bytes but no established heartbeat stays unjudged.
    let mut c = Conn::new(2, "10.0.0.4:50002", "10.0.0.9:7000");
    c.handshake(&mut sc, T0);
    c.beat(&mut sc, T0 + S, 300 * US);
    c.beat(&mut sc, T0 + 5 * S, 300 * US);
    let (r, _) = sc.run(Options::default());
    let hb = r.streams[1]
        .heartbeat
        .as_ref()
        .expect("heartbeat from the service");
    assert_eq!((hb.beats, hb.period_s), (2, 3.0));
    let late = kinds(&r, 1, Kind::LateHeartbeat);
    assert_eq!(late.len(), 1);
    assert_eq!(details!(late[0], LateHeartbeat).late_by_s, 1.0);
    assert!(r.streams[2].heartbeat.is_none());
}

/// A long stream: the period freezes after 48 intervals and later late beats are classified on
/// arrival; a beat 20 s late at beat 80 and a missed beat at 120 are both reported.
#[test]
fn late_and_missed_beats_after_the_period_is_frozen() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:7443");
    a.handshake(&mut sc, T0);
    let mut t = T0 + S;
    let mut late_at = 0;
    for i in 0..150 {
        if i == 80 {
            t += 20 * S;
            late_at = t;
        }
        if i == 120 {
            t += 45 * S;
        }
        a.beat(&mut sc, t, 300 * US);
        t += 45 * S;
    }
    let (r, segs) = sc.run(Options::default());
    let late = kinds(&r, 0, Kind::LateHeartbeat);
    assert_eq!(late.len(), 1);
    assert_eq!(details!(late[0], LateHeartbeat).late_by_s, 20.0);
    assert_eq!(
        late[0].frames[1],
        frame_at(&segs, late_at, fl::PSH | fl::ACK)
    );
    let missed = kinds(&r, 0, Kind::MissedHeartbeat);
    assert_eq!(missed.len(), 1);
    assert_eq!(details!(missed[0], MissedHeartbeat).missed, 1);
    assert_eq!(r.streams[0].heartbeat.as_ref().unwrap().beats, 150);
}

/// Overrides: with --probe and --period given, a 600-byte probe (too long to be guessed, even as
/// a template) is the heartbeat and its period is the given one.
#[test]
fn overrides_probe_and_period() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:9000");
    a.handshake(&mut sc, T0);
    let probe = vec![0x50u8; 600];
    let mut t = T0 + S;
    for i in 0..6 {
        if i == 4 {
            t += 4 * S;
        }
        a.seg(&mut sc, t, 0, fl::PSH | fl::ACK, &probe, 0);
        a.seg(&mut sc, t + MS, 1, fl::PSH | fl::ACK, b"pong", 0);
        t += 10 * S;
    }
    let (r, _) = sc.run(Options::default());
    assert!(r.streams[0].heartbeat.is_none());
    let opts = Options {
        probe: Some(probe.clone()),
        period_ns: Some(10 * S),
        ..Options::default()
    };
    let mut sc2 = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:9000");
    a.handshake(&mut sc2, T0);
    let mut t = T0 + S;
    for i in 0..6 {
        if i == 4 {
            t += 4 * S;
        }
        a.seg(&mut sc2, t, 0, fl::PSH | fl::ACK, &probe, 0);
        a.seg(&mut sc2, t + MS, 1, fl::PSH | fl::ACK, b"pong", 0);
        t += 10 * S;
    }
    let (r, _) = sc2.run(opts);
    let hb = r.streams[0]
        .heartbeat
        .as_ref()
        .expect("heartbeat by override");
    assert!(hb.period_given);
    assert_eq!(
        (hb.period_s, hb.probe_len, hb.reply_hex.as_deref()),
        (10.0, 600, Some("706f6e67"))
    );
    let late = kinds(&r, 0, Kind::LateHeartbeat);
    assert_eq!(late.len(), 1);
    assert_eq!(details!(late[0], LateHeartbeat).late_by_s, 4.0);
}

/// A server that pings its clients (1-byte 0x70 every 5 s, answered 0x71) is the heartbeat
/// sender.
#[test]
fn server_sent_heartbeat() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:6000");
    a.handshake(&mut sc, T0);
    let mut t = T0 + S;
    for _ in 0..8 {
        a.seg(&mut sc, t, 1, fl::PSH | fl::ACK, &[0x70], 0);
        a.seg(&mut sc, t + 2 * MS, 0, fl::PSH | fl::ACK, &[0x71], 0);
        t += 5 * S;
    }
    let (r, _) = sc.run(Options::default());
    let hb = r.streams[0].heartbeat.as_ref().unwrap();
    assert_eq!(
        (hb.sender, hb.probe_hex.as_str(), hb.reply_hex.as_deref()),
        ("server", "70", Some("71"))
    );
    assert_eq!(hb.reply_latency_ms.as_ref().unwrap().median, 2.0);
}

/// A closed stream with a huge number is remembered without a huge bitset.
#[test]
fn huge_stream_numbers_cost_no_memory() {
    let a: SocketAddr = "10.0.0.1:1".parse().unwrap();
    let b: SocketAddr = "10.0.0.2:2".parse().unwrap();
    let mut d = Diagnoser::new(Options::default());
    let mut seg = Segment {
        frame: 1,
        ts_ns: T0,
        stream: u32::MAX - 1,
        src: a,
        dst: b,
        flags: TcpFlags(fl::RST),
        seq: 0,
        ack: 0,
        len: 0,
        payload: &[],
        window: 0,
        ttl: 64,
        analysis: AnalysisFlags(0),
    };
    d.on_segment(&seg);
    seg.stream = 0;
    seg.flags = TcpFlags(fl::ACK);
    for i in 0..70_000u32 {
        seg.frame = i + 2;
        seg.ts_ns = T0 + 31 * S + i64::from(i);
        d.on_segment(&seg);
    }
    assert!(d.is_done(u32::MAX - 1));
    assert!(d.done.len() <= 1);
    // Stragglers of the summarized stream are counted, not taken for a new stream.
    seg.stream = u32::MAX - 1;
    d.on_segment(&seg);
    let r = d.finish(T0 + 40 * S);
    assert_eq!(r.capture.late_segments, 1);
    assert_eq!(r.streams.len(), 2);
}

/// A beat 2 s late on a 45 s period is within the default tolerance (4.5 s), but with
/// `--timeout 1s` it is later than the client's own reply deadline and is reported.
#[test]
fn timeout_tightens_lateness() {
    let build = || {
        let mut sc = Script::default();
        let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:7443");
        a.handshake(&mut sc, T0);
        let mut t = T0 + S;
        for i in 0..10 {
            if i == 6 {
                t += 2 * S;
            }
            a.beat(&mut sc, t, 300 * US);
            t += 45 * S;
        }
        sc
    };
    let (r, _) = build().run(Options::default());
    assert!(kinds(&r, 0, Kind::LateHeartbeat).is_empty());
    let (r, _) = build().run(Options {
        timeout_ns: Some(S),
        ..Options::default()
    });
    let late = kinds(&r, 0, Kind::LateHeartbeat);
    assert_eq!(late.len(), 1);
    assert_eq!(details!(late[0], LateHeartbeat).late_by_s, 2.0);
    assert_eq!(r.streams[0].heartbeat.as_ref().unwrap().tolerance_s, 1.0);
}

/// Random segments and random log text: nothing may panic, whatever the input.
#[test]
fn random_input_never_panics() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let addrs: Vec<SocketAddr> = ["10.0.0.1:1", "10.0.0.2:2", "[::1]:3", "10.0.0.1:80"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    let mut text = String::new();
    for _ in 0..400 {
        let n = (next() % 40) as usize;
        let bytes: Vec<u8> = (0..n).map(|_| (next() % 128) as u8).collect();
        let prefix = [
            "12:00:0",
            "2024-03-01 12:00:0",
            "Mar  1 12:00:0",
            "",
            "[2024-03-01T12:00:0",
        ][(next() % 5) as usize];
        text.push_str(prefix);
        text.push_str(&String::from_utf8_lossy(&bytes));
        text.push_str(" error\n");
    }
    let opts = Options {
        logs: vec![AppLog::parse(
            &text,
            LogOptions {
                format: None,
                date: Some((2024, 3, 1)),
                tz_offset_s: Some(-3600),
            },
        )],
        timeout_ns: Some(S),
        ..Options::default()
    };
    let mut d = Diagnoser::new(opts);
    let payloads: [&[u8]; 4] = [b"", &[1], &[0x41], &[7; 64]];
    let mut ts = T0 + 12 * 3600 * S;
    for i in 0..100_000u32 {
        ts += (next() % 3_000_000_000) as i64 - 100_000_000;
        let p = payloads[(next() % 4) as usize];
        let r = next();
        d.on_segment(&Segment {
            frame: i + 1,
            ts_ns: ts,
            stream: (r % 7) as u32,
            src: addrs[((r >> 8) % 4) as usize],
            dst: addrs[((r >> 10) % 4) as usize],
            flags: TcpFlags((r >> 12) as u16 & 0xFF),
            seq: (r >> 20) as u32 % 64,
            ack: (r >> 28) as u32 % 64,
            len: if r >> 40 & 1 == 1 {
                p.len() as u32
            } else {
                (r >> 41) as u32 % 100
            },
            payload: p,
            window: (r >> 48) as u32 % 3,
            ttl: (r >> 50) as u8,
            analysis: AnalysisFlags((r >> 52) as u32 & 0x7FFF),
        });
    }
    let r = d.finish(ts);
    let _ = r.render_text(5);
    let _ = serde_json::to_string(&r).unwrap();
}

/// A browser-style WebSocket heartbeat: the client's masked ping (0x89 0x80 + a fresh 4-byte
/// mask each time) every 5 s, answered by the server's unmasked pong (0x8a 0x00).
#[test]
fn websocket_masked_ping_is_a_heartbeat() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:443");
    a.handshake(&mut sc, T0);
    let mut t = T0 + S;
    for i in 0..8u8 {
        let ping = [0x89, 0x80, i.wrapping_mul(37), i ^ 0x5a, 0x11 + i, 0xf0 - i];
        a.seg(&mut sc, t, 0, fl::PSH | fl::ACK, &ping, 0);
        a.seg(&mut sc, t + MS, 1, fl::PSH | fl::ACK, &[0x8a, 0x00], 0);
        t += 5 * S;
    }
    let (r, _) = sc.run(Options::default());
    let hb = r.streams[0]
        .heartbeat
        .as_ref()
        .expect("websocket heartbeat");
    assert_eq!(
        (hb.sender, hb.probe_hex.as_str(), hb.probe_len),
        ("client", "8980", 6)
    );
    assert_eq!(hb.reply_hex.as_deref(), Some("8a00"));
    assert_eq!((hb.beats, hb.period_s), (8, 5.0));
}

/// The seed incident as it was logged: beats every 45 s, the previous at 17:07:12, the late one
/// at 17:08:10 (58 s), answered, then the client's RST. The client's own deadline (45 s + 1 s)
/// expired while no probe had been sent: it logged `error` at 17:08:02 and `restart` at
/// 17:08:10. A second connection to the same server beats on time and logs nothing. With no
/// options, both lines are the late beat's, on its stream only, and the log reads as UTC.
#[test]
fn lines_written_at_the_deadline_belong_to_the_late_beat() {
    let day = civil::days_from_civil(2024, 3, 1) * civil::DAY_NS;
    let at = |h: i64, m: i64, s: i64| day + (h * 3600 + m * 60 + s) * S;
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:39660", "10.0.0.1:7443");
    let mut b = Conn::new(1, "10.0.0.3:39661", "10.0.0.1:7443");
    let prev = at(17, 7, 12) + 231 * MS;
    a.handshake(&mut sc, prev - 6 * 45 * S - S);
    b.handshake(&mut sc, prev - 6 * 45 * S - S + 300 * MS);
    for k in (0..=6).rev() {
        a.beat(&mut sc, prev - k * 45 * S, 370 * US);
    }
    let late = prev + 58 * S;
    a.seg(&mut sc, late, 0, fl::PSH | fl::ACK, &[0x01], 0);
    a.seg(&mut sc, late + 370 * US, 1, fl::PSH | fl::ACK, &[0x41], 0);
    a.seg(&mut sc, late + 570 * US, 0, fl::RST | fl::ACK, b"", 0);
    let mut tb = prev - 6 * 45 * S + 700 * MS;
    while tb < late + 60 * S {
        b.beat(&mut sc, tb, 250 * US);
        tb += 45 * S;
    }
    let text = "17:02:41 client info conn 1 connected (local port 39660)\n\
                17:02:41 client info conn 2 connected (local port 39661)\n\
                17:08:02 client error conn 1 heartbeat reply timeout\n\
                17:08:10 client info conn 1 restart\n";
    let (r, segs) = sc.run(Options {
        logs: vec![AppLog::parse(text, LogOptions::default())],
        ..Options::default()
    });
    let m: Vec<&crate::finding::LogMatch> = r
        .findings
        .iter()
        .filter_map(|f| match &f.details {
            Details::LogMatch(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(
        m.iter()
            .map(|m| (m.line, m.streams.clone()))
            .collect::<Vec<_>>(),
        vec![(3, vec![0]), (4, vec![0])],
        "{:#?}",
        r.findings
    );
    // The deadline line is the late beat's, written before it went out; the restart also
    // the reset's.
    assert!(m[0].matched_kinds.contains(&Kind::LateHeartbeat));
    assert!(m[0].at_deadline);
    assert!(m[1].matched_kinds.contains(&Kind::ConnectionReset));
    assert!(!m[1].at_deadline);
    assert!(r.summary.iter().any(|s| s.contains(
        "written while the beat was overdue: the application noticed the missing beat at its own deadline"
    )));
    let l = r.log.as_ref().unwrap();
    assert_eq!((l.zone.as_deref(), l.zone_from), (Some("+00:00"), "search"));
    let f = r
        .findings
        .iter()
        .find(|f| f.kind() == Kind::LogMatch && details!(f, LogMatch).line == 3)
        .unwrap();
    assert!(f.frames.contains(&frame_at(&segs, late, fl::PSH | fl::ACK)));
}
mod apps;
mod beats15;
mod h2;
mod tls;
mod ws;
/// Heartbeats every second, then `idle` of silence, then the client's data answered after
/// 300 µs by a RST in the server's name with `rst_ttl` (the server's packets have 63).
/// Heartbeats, an idle gap, a client PING, and a server RST with `rst_flags` 300 µs later.
fn idle_then_reset(
    idle: i64,
    rst_ttl: u8,
    rst_flags: u16,
    opts: Options,
) -> (Report, Vec<Owned>, [i64; 3]) {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:43210", "10.0.0.1:6379");
    a.ttl = [64, 63];
    a.handshake(&mut sc, T0);
    let mut t = T0 + S;
    for _ in 0..6 {
        a.beat(&mut sc, t, 400 * US);
        t += S;
    }
    // The client's ACK of the last reply ends the traffic.
    let last = t - S + 400 * US + 40 * MS;
    let after = last + idle;
    a.seg(&mut sc, after, 0, fl::PSH | fl::ACK, b"PING\r\n", 0);
    let rst = after + 300 * US;
    let seq = a.nxt[1];
    a.seg_at(&mut sc, rst, 1, rst_flags, seq, b"", 0, rst_ttl);
    let (r, segs) = sc.run(opts);
    (r, segs, [last, after, rst])
}

#[test]
fn forged_reset_after_idle_is_one_story() {
    let mut opts = Options::default();
    opts.middleboxes
        .push(crate::middlebox::Middlebox::from_flag("lab-nat=3").unwrap());
    let (r, segs, [last, after, rst]) = idle_then_reset(5 * S, 64, fl::RST | fl::ACK, opts);
    let f = kinds(&r, 0, Kind::MiddleboxIdleReset);
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert_eq!(f[0].severity, Severity::Error);
    assert_eq!(
        f[0].frames,
        vec![
            frame_at(&segs, last, fl::ACK),
            frame_at(&segs, after, fl::PSH | fl::ACK),
            frame_at(&segs, rst, fl::RST | fl::ACK)
        ]
    );
    let d = details!(f[0], MiddleboxIdleReset);
    assert_eq!(d.by, "server");
    assert_eq!(d.idle_s, 5.0);
    assert_eq!((d.ttl, d.usual_ttl_min, d.usual_ttl_max), (64, 63, 63));
    // The user's 3 s box fits within the 5 s gap and not within the ~1 s ones it survived;
    // no default box has so short a timeout.
    assert_eq!(d.middleboxes, vec!["lab-nat"]);
    assert!(d.survived_idle_s < 1.0, "{}", d.survived_idle_s);
    // One story: no separate forged-reset finding, and the reset is no half-open connection.
    assert!(kinds(&r, 0, Kind::InjectedReset).is_empty());
    let reset = kinds(&r, 0, Kind::ConnectionReset);
    assert_eq!(reset.len(), 1);
    assert!(!details!(reset[0], ConnectionReset).half_open);
    assert_eq!(reset[0].severity, Severity::Info);
    assert!(!reset[0].message.contains("no longer knew"));
}

#[test]
fn genuine_reset_after_idle_is_a_half_open_connection() {
    // A TCP answering a segment of a connection it no longer knows: RST without ACK, its
    // sequence number taken from the segment's ACK.
    let (r, _, _) = idle_then_reset(5 * S, 63, fl::RST, Options::default());
    assert!(kinds(&r, 0, Kind::MiddleboxIdleReset).is_empty());
    assert!(kinds(&r, 0, Kind::InjectedReset).is_empty());
    let reset = kinds(&r, 0, Kind::ConnectionReset);
    assert!(details!(reset[0], ConnectionReset).half_open);
}

#[test]
fn reset_acknowledging_the_late_packet_is_no_half_open_connection() {
    // The server's application aborts (SO_LINGER 0) when a packet comes after its deadline:
    // its RST acknowledges that packet, so its TCP still had the connection.
    let (r, _, _) = idle_then_reset(5 * S, 63, fl::RST | fl::ACK, Options::default());
    assert!(kinds(&r, 0, Kind::InjectedReset).is_empty());
    let reset = kinds(&r, 0, Kind::ConnectionReset);
    assert_eq!(reset.len(), 1);
    assert!(!details!(reset[0], ConnectionReset).half_open);
    assert!(!reset[0].message.contains("no longer knew"));
}

#[test]
fn forged_reset_without_idle_is_an_injected_reset() {
    // 0.8 s of silence is no idle gap next to 1 s heartbeats.
    let (r, _, _) = idle_then_reset(800 * MS, 64, fl::RST | fl::ACK, Options::default());
    assert!(kinds(&r, 0, Kind::MiddleboxIdleReset).is_empty());
    assert_eq!(kinds(&r, 0, Kind::InjectedReset).len(), 1);
    assert!(!details!(kinds(&r, 0, Kind::ConnectionReset)[0], ConnectionReset).half_open);
}

/// The hook for protocol modules: messages a protocol framed (here a FIX-like heartbeat of 90
/// bytes whose bytes change, with a declared 2 s interval) feed the same candidate machinery:
/// the declared period is used even though the beats came every 2.5 s after the first, the
/// replies are counted under their name, and a probe nobody answered is unanswered.
#[test]
fn protocol_modules_hand_their_beats_to_the_same_machinery() {
    use crate::stream::{Known, Sig, Stream};
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:9878");
    a.handshake(&mut sc, T0);
    let mut t = T0 + S;
    for i in 0..6u32 {
        let probe = format!(
            "8=FIX.4.4|35=0|34={}|52=20240301-09:00:{:02}|pad",
            10 + i,
            i
        )
        .into_bytes();
        a.seg(&mut sc, t, 0, fl::PSH | fl::ACK, &probe, 0);
        if i < 5 {
            a.seg(
                &mut sc,
                t + MS,
                1,
                fl::PSH | fl::ACK,
                b"8=FIX.4.4|35=0|ok",
                0,
            );
        }
        t += 2 * S + S / 2;
    }
    sc.segs.sort_by_key(|s| s.ts);
    fn seg(o: &Owned, frame: u32) -> Segment<'_> {
        Segment {
            frame,
            ts_ns: o.ts,
            stream: o.stream,
            src: o.src,
            dst: o.dst,
            flags: TcpFlags(o.flags),
            seq: o.seq,
            ack: o.ack,
            len: o.payload.len() as u32,
            payload: &o.payload,
            window: 64_000,
            ttl: o.ttl,
            analysis: AnalysisFlags(o.analysis),
        }
    }
    let opts = Options::default();
    let mut s = Stream::new(&seg(&sc.segs[0], 1));
    let heartbeat = Sig::of(2, b"hb");
    let reply = Sig::of(2, b"ok");
    for (i, o) in sc.segs.iter().enumerate() {
        let g = seg(o, i as u32 + 1);
        if o.payload.is_empty() {
            s.on_segment(&g, &opts, &mut Vec::new());
            continue;
        }
        let d = usize::from(g.src != s.addr[0]);
        let len = g.len;
        let known = if d == 0 {
            Known::Probe {
                name: heartbeat,
                len,
                declared_period_ns: Some(2 * S),
            }
        } else {
            Known::Reply { name: reply, len }
        };
        s.on_known_message(d, &g, known, g.seq.wrapping_add(len), &opts);
    }
    s.settle(t, S);
    let h = crate::heartbeat::choose(&s, &opts).expect("the protocol's heartbeat");
    assert_eq!((h.dir, h.period, h.cand.count), (0, 2 * S, 6));
    assert_eq!(h.cand.replies, 5);
    assert_eq!(h.cand.reply_sig(), Some(reply));
    assert_eq!(h.cand.unanswered_count, 1);
    assert!(!h.given);
}

/// A watch's use (`settle_closed` and `settle_single` now and then): closed streams, lone SYNs
/// and the findings handed out are forgotten, so what is held stays bounded by the streams
/// alive at once however many come and go; each finding is handed out once.
#[test]
fn a_long_running_caller_holds_only_the_live_streams() {
    let mut sc = Script::default();
    for i in 0..3000u32 {
        let mut c = Conn::new(
            2 * i,
            &format!("10.0.{}.{}:40000", i / 250, i % 250 + 1),
            "10.0.0.1:80",
        );
        let t = T0 + i64::from(i) * 100 * MS;
        c.handshake(&mut sc, t);
        c.seg(&mut sc, t + MS, 1, fl::RST | fl::ACK, b"", 0);
        let mut lone = Conn::new(
            2 * i + 1,
            &format!("10.1.{}.{}:40001", i / 250, i % 250 + 1),
            "10.0.0.1:81",
        );
        lone.seg(&mut sc, t + 2 * MS, 0, fl::SYN, b"", 0);
    }
    sc.segs.sort_by_key(|s| s.ts);
    let mut d = Diagnoser::new(Options::default());
    let mut whole = Diagnoser::new(Options::default());
    let (mut peak_live, mut peak_singles) = (0, 0);
    let mut told: Vec<(Kind, Option<u32>, Vec<u32>)> = Vec::new();
    for (i, o) in sc.segs.iter().enumerate() {
        let seg = Segment {
            frame: i as u32 + 1,
            ts_ns: o.ts,
            stream: o.stream,
            src: o.src,
            dst: o.dst,
            flags: TcpFlags(o.flags),
            seq: o.seq,
            ack: o.ack,
            len: o.payload.len() as u32,
            payload: &o.payload,
            window: 0,
            ttl: 64,
            analysis: AnalysisFlags(0),
        };
        d.on_segment(&seg);
        whole.on_segment(&seg);
        if i % 100 == 0 {
            d.settle_single(o.ts, 10 * S);
            for f in d.settle_closed(o.ts, 2 * S) {
                told.push((f.kind(), f.stream, f.frames));
            }
            assert!(d.reports.is_empty() && d.findings.is_empty());
        }
        peak_live = peak_live.max(d.live.len());
        peak_singles = peak_singles.max(d.singles.iter().count());
    }
    // 10 connections a second: 2 s of closed ones, 10 s of lone SYNs (and a sweep's worth).
    assert!(peak_live < 100, "peak live {peak_live}");
    assert!(peak_singles < 200, "peak singles {peak_singles}");
    let end = T0 + 400 * S;
    told.extend(
        d.finish(end)
            .findings
            .into_iter()
            .map(|f| (f.kind(), f.stream, f.frames)),
    );
    // The same findings as the diagnosis of the whole, each once.
    let mut all: Vec<_> = whole
        .finish(end)
        .findings
        .into_iter()
        .map(|f| (f.kind(), f.stream, f.frames))
        .collect();
    told.sort();
    all.sort();
    assert!(all.len() >= 3000, "{} findings", all.len());
    assert_eq!(told, all);
}
