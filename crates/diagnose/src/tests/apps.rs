//! Application protocols with their own heartbeat (issue 24) on scripted FIX sessions: what the
//! real captures (tests/scenarios/fix-heartbeat, …) do not show — a message split across
//! segments and retransmitted, a capture gap, a session that only went quiet at the capture's
//! end. Scripts as in the parent module.

use super::*;

/// A FIX 4.4 message with BodyLength and CheckSum as the spec computes them.
fn fix(fields: &[(u32, &str)]) -> Vec<u8> {
    let body: String = fields.iter().map(|(t, v)| format!("{t}={v}\x01")).collect();
    let mut m = format!("8=FIX.4.4\x019={}\x01{body}", body.len()).into_bytes();
    let sum = m.iter().fold(0u8, |s, &c| s.wrapping_add(c));
    m.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    m
}

/// Logon both ways with HeartBtInt 2, then `beats` heartbeats each way every 2 s; returns the
/// time after the last beat and each side's next MsgSeqNum.
fn session(c: &mut Conn, sc: &mut Script, beats: u32) -> (i64, [u32; 2]) {
    c.handshake(sc, T0);
    let logon = |seq: &str| fix(&[(35, "A"), (34, seq), (98, "0"), (108, "2")]);
    c.seg(sc, T0 + MS, 0, fl::PSH | fl::ACK, &logon("1"), 0);
    c.seg(sc, T0 + 2 * MS, 1, fl::PSH | fl::ACK, &logon("1"), 0);
    let mut t = T0 + 2 * S;
    for k in 0..beats {
        let seq = (k + 2).to_string();
        c.seg(
            sc,
            t,
            0,
            fl::PSH | fl::ACK,
            &fix(&[(35, "0"), (34, &seq)]),
            0,
        );
        c.seg(
            sc,
            t + 10 * MS,
            1,
            fl::PSH | fl::ACK,
            &fix(&[(35, "0"), (34, &seq)]),
            0,
        );
        t += 2 * S;
    }
    (t, [beats + 2; 2])
}

#[test]
fn fix_server_stops_then_the_client_tests_and_logs_out() {
    let mut sc = Script::default();
    let mut c = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:9878");
    let (t, seq) = session(&mut c, &mut sc, 3);
    // The server falls silent; the client beats once more, sends a TestRequest 2.4 s after the
    // server's last message, then logs out and resets.
    let s = |n: u32| n.to_string();
    c.seg(
        &mut sc,
        t,
        0,
        fl::PSH | fl::ACK,
        &fix(&[(35, "0"), (34, &s(seq[0]))]),
        0,
    );
    let test = fix(&[(35, "1"), (34, &s(seq[0] + 1)), (112, "T1")]);
    // Split across two segments, the first retransmitted.
    let (a, b) = test.split_at(20);
    c.seg(&mut sc, t + 400 * MS, 0, fl::PSH | fl::ACK, a, 0);
    c.seg_at(
        &mut sc,
        t + 600 * MS,
        0,
        fl::PSH | fl::ACK,
        c.nxt[0] - 20,
        a,
        0,
        64,
    );
    c.seg(&mut sc, t + 610 * MS, 0, fl::PSH | fl::ACK, b, 0);
    let logout = fix(&[(35, "5"), (34, &s(seq[0] + 2)), (58, "no heartbeat")]);
    c.seg(&mut sc, t + 2400 * MS, 0, fl::PSH | fl::ACK, &logout, 0);
    c.seg(&mut sc, t + 2900 * MS, 0, fl::RST | fl::ACK, b"", 0);
    let (r, segs) = sc.run(Options::default());
    let stopped = kinds(&r, 0, Kind::AppHeartbeatStopped);
    assert_eq!(stopped.len(), 1, "{:#?}", r.findings);
    let d = details!(stopped[0], AppHeartbeatStopped);
    assert_eq!((d.sender, d.protocol, d.interval_s), ("server", "fix", 2.0));
    let probe = d.probe.as_ref().expect("the TestRequest");
    assert_eq!((probe.by, probe.answered), ("client", false));
    // The TestRequest is the frame that completed it.
    assert_eq!(
        probe.frame,
        frame_at(&segs, t + 610 * MS, fl::PSH | fl::ACK)
    );
    let bye = d.goodbye.as_ref().expect("the Logout");
    assert_eq!(bye.text.as_deref(), Some("no heartbeat"));
    assert_eq!((d.close, d.close_by), (Some("rst"), Some("client")));
    assert!((d.silent_s - 4.39).abs() < 0.001, "{}", d.silent_s);
    // The reset is that story's end, not a separate warning.
    let reset = kinds(&r, 0, Kind::ConnectionReset);
    assert_eq!(reset[0].severity, Severity::Info);
    assert!(kinds(&r, 0, Kind::AppHeartbeatLate).is_empty());
    assert!(kinds(&r, 0, Kind::AppSequenceGap).is_empty());
}

#[test]
fn a_capture_gap_or_a_quiet_end_is_no_stopped_heartbeat() {
    let mut sc = Script::default();
    // Stream 0: the server's bytes jump (the capture lost a segment), then it goes quiet.
    let mut c = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:9878");
    let (t, seq) = session(&mut c, &mut sc, 2);
    c.nxt[1] += 100;
    c.seg(
        &mut sc,
        t,
        1,
        fl::PSH | fl::ACK,
        &fix(&[(35, "0"), (34, "9")]),
        0,
    );
    c.seg(
        &mut sc,
        t + 10 * MS,
        0,
        fl::PSH | fl::ACK,
        &fix(&[(35, "0"), (34, &seq[0].to_string())]),
        0,
    );
    for k in 1..4 {
        let n = (seq[0] + k).to_string();
        c.seg(
            &mut sc,
            t + i64::from(k) * 2 * S,
            0,
            fl::PSH | fl::ACK,
            &fix(&[(35, "0"), (34, &n)]),
            0,
        );
    }
    // Stream 1: healthy beats until the capture ends (the end is 1 s after the last segment).
    let mut d = Conn::new(1, "10.0.0.3:50001", "10.0.0.1:9878");
    session(&mut d, &mut sc, 5);
    let (r, _) = sc.run(Options::default());
    for s in [0, 1] {
        for k in [
            Kind::AppHeartbeatStopped,
            Kind::AppHeartbeatLate,
            Kind::AppSequenceGap,
        ] {
            assert!(kinds(&r, s, k).is_empty(), "stream {s}: {:#?}", r.findings);
        }
    }
}
