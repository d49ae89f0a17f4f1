//! Heartbeats and closes inside TLS (issue 16): scripted TLS record streams whose ciphertext
//! differs every time, so only the record pattern (type, length, timing) can find the beat.
//! Scripts as in the parent module; the real captures are in tests/scenarios/tls-heartbeat.

use super::*;
use crate::finding::{GaveUp, TlsCut};

/// A record of content type `ty` with a `len`-byte fragment of bytes that never repeat (as
/// ciphertext does not).
fn record(ty: u8, len: usize, salt: u32) -> Vec<u8> {
    let mut r = vec![ty, 3, 3, (len >> 8) as u8, len as u8];
    let mut x = salt.wrapping_mul(2_654_435_761).wrapping_add(1);
    for _ in 0..len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        r.push(x as u8);
    }
    r
}

/// A Client Hello record (enough of one to be recognized) and a Server Hello that settles
/// `version`, then each side's Change Cipher Spec.
fn tls_handshake(c: &mut Conn, sc: &mut Script, ts: i64, version: u16) {
    c.handshake(sc, ts);
    let mut ch = vec![3, 3];
    ch.extend([7u8; 32]);
    ch.push(0);
    let mut hello = vec![22, 3, 1, 0, ch.len() as u8 + 4, 1, 0, 0, ch.len() as u8];
    hello.extend(ch);
    c.seg(sc, ts + MS, 0, fl::PSH | fl::ACK, &hello, 0);
    // Server Hello: version 0303, random, empty session id, suite 1302, null compression,
    // supported_versions(version).
    let mut body = vec![3, 3];
    body.extend([9u8; 32]);
    body.extend([0, 0x13, 0x02, 0, 0, 6, 0, 43, 0, 2]);
    body.extend(version.to_be_bytes());
    let mut sh = vec![2, 0, 0, body.len() as u8];
    sh.extend(body);
    let mut rec = vec![22, 3, 3, 0, sh.len() as u8];
    rec.extend(sh);
    rec.extend([20, 3, 3, 0, 1, 1]);
    c.seg(sc, ts + 2 * MS, 1, fl::PSH | fl::ACK, &rec, 0);
    c.seg(
        sc,
        ts + 3 * MS,
        0,
        fl::PSH | fl::ACK,
        &[20, 3, 3, 0, 1, 1],
        0,
    );
}

/// Every 1 s the client sends a record of type `ty` (21 bytes of ciphertext), the server
/// answers one of the same size after 200 µs; beat `late_k` leaves `late_gap` after the one
/// before. The probe record is split across two segments when `split`.
#[allow(clippy::too_many_arguments)]
fn beats(
    c: &mut Conn,
    sc: &mut Script,
    mut t: i64,
    n: u32,
    ty: u8,
    late_k: u32,
    late_gap: i64,
    split: bool,
) -> i64 {
    for k in 1..=n {
        t += if k == late_k { late_gap } else { S };
        let probe = record(ty, 21, k);
        if split {
            c.seg(sc, t, 0, fl::ACK, &probe[..3], 0);
            c.seg(sc, t + 10 * US, 0, fl::PSH | fl::ACK, &probe[3..], 0);
        } else {
            c.seg(sc, t, 0, fl::PSH | fl::ACK, &probe, 0);
        }
        c.seg(
            sc,
            t + 200 * US,
            1,
            fl::PSH | fl::ACK,
            &record(ty, 21, 1000 + k),
            0,
        );
        c.seg(sc, t + 40 * MS, 0, fl::ACK, b"", 0);
    }
    t
}

#[test]
fn a_late_beat_inside_tls_13_is_found_by_record_pattern_even_split_across_segments() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:8443");
    tls_handshake(&mut a, &mut sc, T0, 0x0304);
    let end = beats(&mut a, &mut sc, T0, 12, 23, 7, 2600 * MS, true);
    a.seg(&mut sc, end + S / 2, 0, fl::FIN | fl::ACK, b"", 0);
    let (r, _) = sc.run(Options::default());
    let hb = r.streams[0]
        .heartbeat
        .as_ref()
        .expect("the beat inside TLS is found");
    assert_eq!(
        (
            hb.sender,
            hb.probe_hex.as_str(),
            hb.probe_len,
            hb.tls_record
        ),
        ("client", "1703030015", 26, Some("application_data"))
    );
    let late = kinds(&r, 0, Kind::LateHeartbeat);
    assert_eq!(late.len(), 1, "{:#?}", r.findings);
    assert_eq!(details!(late[0], LateHeartbeat).gap_s, 2.6);
}

#[test]
fn rfc_6520_heartbeat_records_are_beats_and_are_counted() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:8443");
    tls_handshake(&mut a, &mut sc, T0, 0x0303);
    let end = beats(&mut a, &mut sc, T0, 10, 24, 0, 0, false);
    a.seg(&mut sc, end + S / 2, 0, fl::FIN | fl::ACK, b"", 0);
    let (r, _) = sc.run(Options::default());
    let hb = r.streams[0]
        .heartbeat
        .as_ref()
        .expect("heartbeat records are beats");
    assert_eq!((hb.tls_record, hb.beats), (Some("heartbeat"), 10));
    let tls = r.streams[0]
        .close
        .as_ref()
        .and_then(|c| c.tls.as_ref())
        .expect("close.tls");
    assert_eq!(tls.heartbeat_records, 20);
    assert_eq!(tls.version, "TLSv1.2");
    assert_eq!(tls.bare_fin_by, vec!["client"]);
}

/// The teardown: the client's bare FIN, the server's alert on the dead connection, the
/// client kernel's RST. A TLS shutdown, never a close race.
#[test]
fn alert_after_the_peers_fin_and_its_rst_are_a_tls_shutdown() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:8443");
    tls_handshake(&mut a, &mut sc, T0, 0x0303);
    let end = beats(&mut a, &mut sc, T0, 6, 23, 0, 0, false);
    a.seg(&mut sc, end + S / 2, 0, fl::FIN | fl::ACK, b"", 0);
    a.seg(
        &mut sc,
        end + S / 2 + 100 * US,
        1,
        fl::PSH | fl::ACK,
        &record(21, 26, 7),
        0,
    );
    a.seg(&mut sc, end + S / 2 + 120 * US, 0, fl::RST, b"", 0);
    let (r, _) = sc.run(Options::default());
    let resets = kinds(&r, 0, Kind::ConnectionReset);
    assert_eq!(resets.len(), 1);
    let reset = details!(resets[0], ConnectionReset);
    assert!(reset.tls_shutdown && !reset.close_race, "{reset:?}");
    assert_eq!(resets[0].severity, Severity::Info);
    assert!(
        !r.summary
            .iter()
            .any(|l| l.contains("keep-alive close race")),
        "{:?}",
        r.summary
    );
}

/// Application data (a request) the peer sent after the resetter's FIN is a reuse of a
/// connection the resetter had closed, TLS or not: a close race, not a TLS shutdown (the
/// HTTPS reuse race seen without a key log).
#[test]
fn application_data_after_the_peers_fin_is_a_close_race_on_tls_too() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:8443");
    tls_handshake(&mut a, &mut sc, T0, 0x0303);
    a.seg(&mut sc, T0 + S, 0, fl::PSH | fl::ACK, &record(23, 60, 1), 0);
    a.seg(
        &mut sc,
        T0 + S + MS,
        1,
        fl::PSH | fl::ACK,
        &record(23, 200, 2),
        0,
    );
    // The server's idle close (close_notify, FIN), then the client's next request.
    let close = T0 + 2 * S + MS;
    a.seg(&mut sc, close, 1, fl::PSH | fl::ACK, &record(21, 26, 3), 0);
    a.seg(&mut sc, close + 10 * US, 1, fl::FIN | fl::ACK, b"", 0);
    a.seg(
        &mut sc,
        close + 3 * MS,
        0,
        fl::PSH | fl::ACK,
        &record(23, 60, 4),
        0,
    );
    a.seg(&mut sc, close + 3 * MS + 20 * US, 1, fl::RST, b"", 0);
    let (r, _) = sc.run(Options::default());
    let resets = kinds(&r, 0, Kind::ConnectionReset);
    assert_eq!(resets.len(), 1);
    let reset = details!(resets[0], ConnectionReset);
    assert!(reset.close_race && !reset.tls_shutdown, "{reset:?}");
    assert_eq!(resets[0].severity, Severity::Warning);
}

/// The same sequence on a plain stream stays a close race: TLS changes only TLS streams.
#[test]
fn the_same_sequence_without_tls_is_still_a_close_race() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:8080");
    a.handshake(&mut sc, T0);
    a.seg(
        &mut sc,
        T0 + S,
        0,
        fl::PSH | fl::ACK,
        b"GET / HTTP/1.1\r\n\r\n",
        0,
    );
    a.seg(&mut sc, T0 + 2 * S, 0, fl::FIN | fl::ACK, b"", 0);
    a.seg(
        &mut sc,
        T0 + 2 * S + 100 * US,
        1,
        fl::PSH | fl::ACK,
        &record(21, 26, 7),
        0,
    );
    a.seg(&mut sc, T0 + 2 * S + 120 * US, 0, fl::RST, b"", 0);
    let (r, _) = sc.run(Options::default());
    let reset = details!(kinds(&r, 0, Kind::ConnectionReset)[0], ConnectionReset);
    assert!(reset.close_race && !reset.tls_shutdown);
}

#[test]
fn a_fin_in_the_middle_of_a_record_is_a_truncation_and_a_whole_one_is_not() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:8443");
    let mut b = Conn::new(1, "10.0.0.3:50001", "10.0.0.1:8443");
    for (c, cut) in [(&mut a, true), (&mut b, false)] {
        tls_handshake(c, &mut sc, T0, 0x0303);
        c.seg(&mut sc, T0 + S, 0, fl::PSH | fl::ACK, &record(23, 28, 1), 0);
        let answer = record(23, 3000, 2);
        let sent = if cut { 1200 } else { answer.len() };
        c.seg(&mut sc, T0 + S + MS, 1, fl::ACK, &answer[..sent], 0);
        c.seg(&mut sc, T0 + S + 2 * MS, 1, fl::FIN | fl::ACK, b"", 0);
    }
    let (r, _) = sc.run(Options::default());
    let cut = kinds(&r, 0, Kind::TlsTruncation);
    assert_eq!(cut.len(), 1);
    assert_eq!(
        details!(cut[0], TlsTruncation),
        &TlsCut {
            by: "server",
            sent_bytes: 1200,
            record_len: 3005,
            version: "TLSv1.2"
        }
    );
    assert!(kinds(&r, 1, Kind::TlsTruncation).is_empty());
}

/// A client that gives up sends its close_notify first; the server's FIN follows.
#[test]
fn a_sender_giving_up_with_close_notify_has_given_up() {
    let mut sc = Script::default();
    let mut a = Conn::new(0, "10.0.0.2:50000", "10.0.0.1:8443");
    tls_handshake(&mut a, &mut sc, T0, 0x0303);
    let mut t = beats(&mut a, &mut sc, T0, 4, 23, 0, 0, false);
    for k in 0..3 {
        t += S;
        a.seg(&mut sc, t, 0, fl::PSH | fl::ACK, &record(23, 21, 50 + k), 0);
        a.seg(&mut sc, t + 40 * MS, 1, fl::ACK, b"", 0);
    }
    t += S;
    a.seg(&mut sc, t, 0, fl::PSH | fl::ACK, &record(21, 26, 99), 0);
    a.seg(
        &mut sc,
        t + 100 * US,
        1,
        fl::PSH | fl::ACK,
        &record(21, 26, 98),
        0,
    );
    a.seg(&mut sc, t + 200 * US, 1, fl::FIN | fl::ACK, b"", 0);
    a.seg(&mut sc, t + 300 * US, 0, fl::FIN | fl::ACK, b"", 0);
    let (r, _) = sc.run(Options::default());
    let g = kinds(&r, 0, Kind::HeartbeatGaveUp);
    assert_eq!(g.len(), 1, "{:#?}", r.findings);
    let GaveUp {
        by,
        close,
        unanswered,
        ..
    } = details!(g[0], HeartbeatGaveUp);
    assert_eq!((*by, *close, *unanswered), ("client", "tls_alert", 3));
}
