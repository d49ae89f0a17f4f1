//! Heartbeat roles under slow replies, slow replies against a baseline, senders giving up, and
//! the causes they add up to (issue 15, classes 4-7). Scripts as in the parent module.

use super::*;
use crate::finding::GaveUp;

/// A text probe `PING\n` from the client at `ts`, `PONG\n` back after `lat`, the client's ACK.
fn ping(c: &mut Conn, sc: &mut Script, ts: i64, lat: i64) {
    c.seg(sc, ts, 0, fl::PSH | fl::ACK, b"PING\n", 0);
    c.seg(sc, ts + 40 * MS, 1, fl::ACK, b"", 0);
    c.seg(sc, ts + lat, 1, fl::PSH | fl::ACK, b"PONG\n", 0);
    c.seg(sc, ts + lat + 40 * MS, 0, fl::ACK, b"", 0);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Replies that take 80 % of a 7 s period make PONG → PING the quicker exchange; the client
/// still opened every exchange, so it stays the prober, and nothing is late.
#[test]
fn slow_replies_do_not_swap_the_roles() {
    for share in [60, 70, 80, 90] {
        let mut sc = Script::default();
        let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:7007");
        a.handshake(&mut sc, T0);
        let mut t = T0 + 7 * S;
        for i in 0..10 {
            // The server's latency wanders by ±5 % of the period.
            let lat = 7 * S * share / 100 + (i % 3 - 1) * 350 * MS;
            ping(&mut a, &mut sc, t, lat);
            t += 7 * S;
        }
        let (r, _) = sc.run(Options::default());
        let hb = r.streams[0].heartbeat.as_ref().expect("a heartbeat");
        assert_eq!(
            (hb.sender, hb.probe_hex.as_str(), hb.reply_hex.as_deref()),
            (
                "client",
                hex(b"PING\n").as_str(),
                Some(hex(b"PONG\n").as_str())
            ),
            "replies at {share} % of the period"
        );
        assert_eq!(hb.period_s, 7.0);
        assert!(
            kinds(&r, 0, Kind::LateHeartbeat).is_empty(),
            "{share} %: {:#?}",
            r.findings
        );
    }
}

/// A server-sent heartbeat answered slowly by the client: the server opened the exchanges.
#[test]
fn the_opener_is_the_prober_whichever_side_it_is() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:6000");
    a.handshake(&mut sc, T0);
    let mut t = T0 + S;
    for _ in 0..8 {
        a.seg(&mut sc, t, 1, fl::PSH | fl::ACK, &[0xfe], 0);
        a.seg(&mut sc, t + 4_200 * MS, 0, fl::PSH | fl::ACK, &[0xff], 0);
        t += 5 * S;
    }
    let (r, _) = sc.run(Options::default());
    let hb = r.streams[0].heartbeat.as_ref().unwrap();
    assert_eq!((hb.sender, hb.probe_hex.as_str()), ("server", "fe"));
    assert_eq!(hb.reply_latency_ms.as_ref().unwrap().median, 4200.0);
}

/// Fast replies, then a jump to 70 % of the period: every slow reply is measured against the
/// replies before the jump; the beats stay on time and the roles stay.
#[test]
fn a_latency_jump_is_a_slow_reply_not_a_late_beat() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:7007");
    a.handshake(&mut sc, T0);
    let mut t = T0 + 7 * S;
    let mut slow_frames = Vec::new();
    for i in 0..12 {
        let lat = if i < 4 { 2 * MS } else { 4_900 * MS };
        ping(&mut a, &mut sc, t, lat);
        if i >= 4 {
            slow_frames.push(t + lat);
        }
        t += 7 * S;
    }
    let (r, segs) = sc.run(Options::default());
    assert_eq!(r.streams[0].heartbeat.as_ref().unwrap().sender, "client");
    assert!(kinds(&r, 0, Kind::LateHeartbeat).is_empty());
    let slow = kinds(&r, 0, Kind::SlowHeartbeatReply);
    assert_eq!(slow.len(), 8, "{:#?}", r.findings);
    for (f, ts) in slow.iter().zip(&slow_frames) {
        let d = details!(f, SlowHeartbeatReply);
        assert_eq!(d.latency_ms, 4900.0);
        assert_eq!(d.baseline_ms, Some(2.0));
        assert_eq!(d.factor, Some(2450.0));
        assert_eq!(d.timeout_ms, None);
        assert_eq!(f.frames[1], frame_at(&segs, *ts, fl::PSH | fl::ACK));
    }
    assert!(
        slow[0].message.contains("2450× the usual 2.00 ms"),
        "{}",
        slow[0].message
    );
}

/// A connection slow from its first reply has no faster past: the same server's other
/// connections are its measure. Their own jitter is not slow.
#[test]
fn slow_from_the_start_is_measured_against_the_servers_other_connections() {
    let mut sc = Script::default();
    let mut fast = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:7007");
    let mut slow = Conn::new(1, "10.0.0.3:50001", "10.0.0.1:7007");
    fast.handshake(&mut sc, T0);
    slow.handshake(&mut sc, T0 + S);
    for i in 0..6 {
        let t = T0 + (i + 1) * 7 * S;
        ping(&mut fast, &mut sc, t, (1 + i % 3) * MS);
        ping(&mut slow, &mut sc, t + S, 5_300 * MS);
    }
    let (r, _) = sc.run(Options::default());
    assert!(kinds(&r, 0, Kind::SlowHeartbeatReply).is_empty());
    let s = kinds(&r, 1, Kind::SlowHeartbeatReply);
    assert_eq!(s.len(), 6, "{:#?}", r.findings);
    let d = details!(s[0], SlowHeartbeatReply);
    assert_eq!((d.latency_ms, d.baseline_ms), (5300.0, Some(2.0)));
    assert!(
        s[0].message.contains("other connections"),
        "{}",
        s[0].message
    );
    for st in &r.streams {
        assert_eq!(st.heartbeat.as_ref().unwrap().sender, "client");
    }
}

/// With --timeout the timeout decides, as before; the numbers say the usual latency too.
#[test]
fn with_a_timeout_slow_is_beyond_the_timeout() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:7007");
    a.handshake(&mut sc, T0);
    let mut t = T0 + 7 * S;
    for i in 0..8 {
        // 300 ms is 150x the usual latency, but within the timeout.
        let lat = [
            2 * MS,
            2 * MS,
            300 * MS,
            2 * MS,
            1_500 * MS,
            2 * MS,
            2 * MS,
            2 * MS,
        ][i];
        ping(&mut a, &mut sc, t, lat);
        t += 7 * S;
    }
    let (r, _) = sc.run(Options {
        timeout_ns: Some(S),
        ..Options::default()
    });
    let s = kinds(&r, 0, Kind::SlowHeartbeatReply);
    assert_eq!(s.len(), 1);
    let d = details!(s[0], SlowHeartbeatReply);
    assert_eq!(
        (d.latency_ms, d.timeout_ms, d.baseline_ms),
        (1500.0, Some(1000.0), Some(2.0))
    );
}

/// The server stops answering; the client closes with FIN at the time its 4th unanswered beat
/// would be due (after 3 unanswered beats). Another client resets after 2.
#[test]
fn a_sender_closing_after_unanswered_beats_gave_up() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:5151");
    let mut b = Conn::new(1, "10.0.0.3:50001", "10.0.0.1:5151");
    a.handshake(&mut sc, T0);
    b.handshake(&mut sc, T0 + 300 * MS);
    let p = 2_500 * MS;
    let probe = [0x00, 0xff, 0x07];
    let mut a_probes = Vec::new();
    let mut b_probes = Vec::new();
    for k in 1..=7 {
        let t = T0 + k * p;
        a.seg(&mut sc, t, 0, fl::PSH | fl::ACK, &probe, 0);
        if k <= 4 {
            a.seg(
                &mut sc,
                t + MS,
                1,
                fl::PSH | fl::ACK,
                &[0x00, 0xff, 0x08],
                0,
            );
        } else {
            a.seg(&mut sc, t + 40 * MS, 1, fl::ACK, b"", 0);
            a_probes.push(t);
        }
    }
    let a_fin = T0 + 8 * p;
    a.seg(&mut sc, a_fin, 0, fl::FIN | fl::ACK, b"", 0);
    a.seg(&mut sc, a_fin + MS, 1, fl::FIN | fl::ACK, b"", 0);
    a.seg(&mut sc, a_fin + 2 * MS, 0, fl::ACK, b"", 0);
    for k in 1..=5 {
        let t = T0 + 300 * MS + k * p;
        b.seg(&mut sc, t, 0, fl::PSH | fl::ACK, &probe, 0);
        if k <= 3 {
            b.seg(
                &mut sc,
                t + MS,
                1,
                fl::PSH | fl::ACK,
                &[0x00, 0xff, 0x08],
                0,
            );
        } else {
            b.seg(&mut sc, t + 40 * MS, 1, fl::ACK, b"", 0);
            b_probes.push(t);
        }
    }
    let b_rst = T0 + 300 * MS + 6 * p;
    b.seg(&mut sc, b_rst, 0, fl::RST | fl::ACK, b"", 0);
    let (r, segs) = sc.run(Options::default());

    let g = kinds(&r, 0, Kind::HeartbeatGaveUp);
    assert_eq!(g.len(), 1, "{:#?}", r.findings);
    let d: &GaveUp = details!(g[0], HeartbeatGaveUp);
    assert_eq!((d.by, d.close, d.unanswered), ("client", "fin", 3));
    assert_eq!(d.policy, "closes after 3 unanswered beats");
    assert_eq!(d.without_reply_s, 7.5);
    let mut frames: Vec<u32> = a_probes
        .iter()
        .map(|&t| frame_at(&segs, t, fl::PSH | fl::ACK))
        .collect();
    let fin_frame = frame_at(&segs, a_fin, fl::FIN | fl::ACK);
    frames.push(fin_frame);
    assert_eq!(g[0].frames, frames);
    // The last probe waited until the close, and says so.
    let u = kinds(&r, 0, Kind::UnansweredHeartbeat);
    assert_eq!(u.len(), 3);
    let last = u.iter().max_by_key(|f| f.ts_ns).unwrap();
    assert!(
        last.message
            .contains(&format!("until the connection closed (frame {fin_frame})")),
        "{}",
        last.message
    );
    assert!(!last.message.contains("end of the capture"));

    let g = kinds(&r, 1, Kind::HeartbeatGaveUp);
    assert_eq!(g.len(), 1, "{:#?}", r.findings);
    let d = details!(g[0], HeartbeatGaveUp);
    assert_eq!((d.by, d.close, d.unanswered), ("client", "rst", 2));
    assert_eq!(
        g[0].frames.last(),
        Some(&frame_at(&segs, b_rst, fl::RST | fl::ACK))
    );
    // One story per close: no deadline reset, and the reset is explained.
    assert!(kinds(&r, 1, Kind::ResetAfterHeartbeatDeadline).is_empty());
    assert_eq!(
        kinds(&r, 1, Kind::ConnectionReset)[0].severity,
        Severity::Info
    );
    // One cause, by the client, on both connections; its sentence names the side.
    assert_eq!(r.causes.len(), 1, "{:#?}", r.causes);
    let c = &r.causes[0];
    assert_eq!(
        (c.cause, c.by, c.connections, c.streams.clone()),
        (Kind::HeartbeatGaveUp, Some("client"), 2, vec![0, 1])
    );
    assert!(
        r.summary[c.summary].contains("closed by the client"),
        "{:?}",
        r.summary
    );
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["causes"][0]["cause"], "heartbeat_gave_up");
    assert_eq!(v["causes"][0]["by"], "client");
}

/// A client still waiting for its reply when the capture ends: "to the end of the capture";
/// a client that quits right after an answered beat gave nothing up.
#[test]
fn no_give_up_without_unanswered_beats() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:5151");
    a.handshake(&mut sc, T0);
    for k in 1..=6 {
        a.beat(&mut sc, T0 + k * 2 * S, MS);
    }
    a.seg(&mut sc, T0 + 13 * S, 0, fl::FIN | fl::ACK, b"", 0);
    let mut b = Conn::new(1, "10.0.0.3:50001", "10.0.0.1:5151");
    b.handshake(&mut sc, T0);
    for k in 1..=5 {
        b.beat(&mut sc, T0 + k * 2 * S, MS);
    }
    b.seg(&mut sc, T0 + 12 * S, 0, fl::PSH | fl::ACK, &[0x01], 0);
    let (r, _) = sc.run(Options::default());
    assert!(r.findings.iter().all(|f| f.kind() != Kind::HeartbeatGaveUp));
    let u = kinds(&r, 1, Kind::UnansweredHeartbeat);
    assert_eq!(u.len(), 1);
    assert!(
        u[0].message.contains("to the end of the capture"),
        "{}",
        u[0].message
    );
    assert!(r.causes.is_empty(), "{:#?}", r.causes);
}

/// Two late probes: one client resets itself, the other connection is reset by its server.
/// The summary tells each side in its own sentence, and the causes say who.
#[test]
fn a_servers_reset_is_not_counted_among_the_clients() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:7443");
    let mut b = Conn::new(1, "10.0.0.3:50001", "10.0.0.1:7443");
    a.handshake(&mut sc, T0);
    b.handshake(&mut sc, T0);
    for (c, side) in [(&mut a, 0usize), (&mut b, 1)] {
        let mut t = T0 + S;
        for _ in 0..6 {
            c.beat(&mut sc, t, 300 * US);
            t += 3 * S;
        }
        let late = t - 3 * S + 3_900 * MS;
        c.seg(&mut sc, late, 0, fl::PSH | fl::ACK, &[0x01], 0);
        c.seg(&mut sc, late + 300 * US, 1, fl::PSH | fl::ACK, &[0x41], 0);
        c.seg(&mut sc, late + 500 * US, side, fl::RST | fl::ACK, b"", 0);
    }
    let (r, _) = sc.run(Options::default());
    assert_eq!(r.causes.len(), 2, "{:#?}", r.causes);
    let by: Vec<(Option<&str>, Vec<u32>)> =
        r.causes.iter().map(|c| (c.by, c.streams.clone())).collect();
    assert!(by.contains(&(Some("client"), vec![0])), "{by:?}");
    assert!(by.contains(&(Some("server"), vec![1])), "{by:?}");
    for c in &r.causes {
        assert_eq!(c.cause, Kind::ResetAfterHeartbeatDeadline);
        assert_eq!(c.connections, 1);
        let s = &r.summary[c.summary];
        assert!(s.starts_with("1 connection(s) were reset by the"), "{s}");
        assert!(s.contains(c.by.unwrap()), "{s}");
    }
    assert_ne!(r.causes[0].summary, r.causes[1].summary);
}

/// A capture that cut the first probe before its TCP header shows the server's reply first;
/// the reply acknowledges the unseen probe, so the client still spoke first and probes.
#[test]
fn a_cut_first_probe_does_not_make_the_reply_the_opener() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:47001");
    a.handshake(&mut sc, T0);
    let mut t = T0 + S;
    for _ in 0..8 {
        a.beat(&mut sc, t, 100 * US);
        t += S;
    }
    // The first probe never reaches the diagnoser.
    sc.segs.retain(|s| !(s.ts == T0 + S && s.payload == [0x01]));
    let (r, _) = sc.run(Options::default());
    let hb = r.streams[0].heartbeat.as_ref().unwrap();
    assert_eq!((hb.sender, hb.probe_hex.as_str()), ("client", "01"));
}

/// A server that pings its clients gives up on one that stopped answering: by the server.
#[test]
fn a_server_prober_gives_up_too() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:6000");
    a.handshake(&mut sc, T0);
    let mut t = T0 + S;
    for k in 0..7 {
        a.seg(&mut sc, t, 1, fl::PSH | fl::ACK, b"hb?", 0);
        if k < 5 {
            a.seg(&mut sc, t + 3 * MS, 0, fl::PSH | fl::ACK, b"hb!", 0);
        } else {
            a.seg(&mut sc, t + 40 * MS, 0, fl::ACK, b"", 0);
        }
        t += 4 * S;
    }
    a.seg(&mut sc, t, 1, fl::FIN | fl::ACK, b"", 0);
    let (r, _) = sc.run(Options::default());
    let g = kinds(&r, 0, Kind::HeartbeatGaveUp);
    assert_eq!(g.len(), 1, "{:#?}", r.findings);
    let d = details!(g[0], HeartbeatGaveUp);
    assert_eq!((d.by, d.close, d.unanswered), ("server", "fin", 2));
    assert_eq!(r.causes[0].by, Some("server"));
    assert!(r.summary[r.causes[0].summary].contains("closed by the server"));
}

/// Beats whose bytes change (a counter, a send time, an id) and are longer than an exact beat,
/// answered after 70-90 % of the period by replies that change too: the side that opened every
/// exchange stays the prober, whichever side it is, and nothing is late.
#[test]
fn slow_replies_do_not_swap_the_roles_of_a_template() {
    for (share, prober) in [(70, 0usize), (85, 0), (70, 1), (90, 1)] {
        let mut sc = Script::default();
        let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:7007");
        a.handshake(&mut sc, T0);
        let mut t = T0 + 2 * S;
        for i in 0..10i64 {
            let probe = format!(
                "{{\"op\":\"ping\",\"seq\":{},\"ts\":{}.{:06},\"id\":\"{:012x}\"}}\n",
                i + 1,
                t / S,
                (t % S) / 1000,
                (i + 3) * 0x9e37_79b9_7f4a
            );
            let reply = format!("{{\"op\":\"pong\",\"seq\":{},\"at\":{}}}\n", i + 1, t / MS);
            let lat = 5 * S * share / 100 + (i % 3 - 1) * 200 * MS;
            a.seg(&mut sc, t, prober, fl::PSH | fl::ACK, probe.as_bytes(), 0);
            a.seg(&mut sc, t + 40 * MS, 1 - prober, fl::ACK, b"", 0);
            a.seg(
                &mut sc,
                t + lat,
                1 - prober,
                fl::PSH | fl::ACK,
                reply.as_bytes(),
                0,
            );
            a.seg(&mut sc, t + lat + 40 * MS, prober, fl::ACK, b"", 0);
            t += 5 * S;
        }
        let (r, _) = sc.run(Options::default());
        let hb = r.streams[0].heartbeat.as_ref().expect("a heartbeat");
        let sender = ["client", "server"][prober];
        assert_eq!(hb.sender, sender, "replies at {share} % of the period");
        assert!(hb.probe_hex.starts_with(&hex(b"{\"op\":\"p")));
        assert!(hb.probe_len > 64);
        assert_eq!((hb.period_s, hb.beats, hb.replies), (5.0, 10, 10));
        assert!(
            kinds(&r, 0, Kind::LateHeartbeat).is_empty()
                && kinds(&r, 0, Kind::MissedHeartbeat).is_empty(),
            "{share} %: {:#?}",
            r.findings
        );
    }
}
