//! WebSocket on scripted connections: the shapes the real capture (tests/scenarios/
//! ws-proxy-timeout) cannot vary cheaply: a 60 s silence matched to nginx's default, a cut by
//! the client (no proxy timeout), a reset, a refused upgrade, hostile frames.

use super::*;

const REQ: &[u8] =
    b"GET /feed HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
const RESP: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                      Connection: Upgrade\r\n\r\n";

/// A masked client frame (key 0: the bytes stay readable) or an unmasked server frame.
fn ws_frame(opcode: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![
        0x80 | opcode,
        payload.len() as u8 | if masked { 0x80 } else { 0 },
    ];
    if masked {
        b.extend([0; 4]);
    }
    b.extend(payload);
    b
}

/// An upgraded connection with one text exchange; `then` scripts the rest from `T0 + 1 s`.
fn upgraded(then: impl FnOnce(&mut Script, &mut Conn)) -> Report {
    let mut sc = Script::default();
    let mut c = Conn::new(0, "10.0.0.2:40000", "10.0.0.1:8443");
    c.handshake(&mut sc, T0);
    c.seg(&mut sc, T0 + MS, 0, fl::PSH | fl::ACK, REQ, 0);
    c.seg(&mut sc, T0 + 2 * MS, 1, fl::PSH | fl::ACK, RESP, 0);
    c.seg(
        &mut sc,
        T0 + 3 * MS,
        0,
        fl::PSH | fl::ACK,
        &ws_frame(1, true, b"hi"),
        0,
    );
    c.seg(
        &mut sc,
        T0 + 4 * MS,
        1,
        fl::PSH | fl::ACK,
        &ws_frame(1, false, b"hi"),
        0,
    );
    then(&mut sc, &mut c);
    sc.run(Options::default()).0
}

#[test]
fn a_quiet_connection_cut_at_60_s_by_the_server_side_is_nginxs_default_read_timeout() {
    let r = upgraded(|sc, c| {
        c.seg(sc, T0 + 4 * MS + 60 * S, 1, fl::FIN | fl::ACK, b"", 0);
    });
    let a = kinds(&r, 0, Kind::WebsocketAbnormalClose);
    assert_eq!(a.len(), 1, "{:?}", r.findings);
    let d = details!(a[0], WebsocketAbnormalClose);
    assert_eq!((d.code, d.closed_by, d.close), (1006, "server", "fin"));
    let p = kinds(&r, 0, Kind::WebsocketProxyTimeout);
    let d = details!(p[0], WebsocketProxyTimeout);
    assert!((d.idle_s - 60.0).abs() < 0.01, "{d:?}");
    assert!(d
        .matches_default
        .is_some_and(|m| m.contains("proxy_read_timeout")));
    let u = kinds(&r, 0, Kind::WebsocketUpgrade);
    assert_eq!(details!(u[0], WebsocketUpgrade).path, "/feed");
}

#[test]
fn a_cut_by_the_client_or_a_reset_right_away_is_1006_but_no_proxy_timeout() {
    let r = upgraded(|sc, c| {
        c.seg(sc, T0 + 5 * S, 0, fl::FIN | fl::ACK, b"", 0);
    });
    assert_eq!(kinds(&r, 0, Kind::WebsocketAbnormalClose).len(), 1);
    assert!(kinds(&r, 0, Kind::WebsocketProxyTimeout).is_empty());
    let r = upgraded(|sc, c| {
        c.seg(sc, T0 + 5 * MS, 1, fl::RST | fl::ACK, b"", 0);
    });
    let a = kinds(&r, 0, Kind::WebsocketAbnormalClose);
    assert_eq!(details!(a[0], WebsocketAbnormalClose).close, "rst");
    assert!(kinds(&r, 0, Kind::WebsocketProxyTimeout).is_empty());
}

#[test]
fn server_pings_answered_then_a_close_without_a_code() {
    let r = upgraded(|sc, c| {
        for k in 0..3i64 {
            let t = T0 + (k + 1) * 10 * S;
            let beat = (k as u32).to_be_bytes();
            c.seg(sc, t, 1, fl::PSH | fl::ACK, &ws_frame(9, false, &beat), 0);
            c.seg(
                sc,
                t + 2 * MS,
                0,
                fl::PSH | fl::ACK,
                &ws_frame(10, true, &beat),
                0,
            );
        }
        c.seg(
            sc,
            T0 + 35 * S,
            1,
            fl::PSH | fl::ACK,
            &ws_frame(8, false, b""),
            0,
        );
        c.seg(
            sc,
            T0 + 35 * S + MS,
            0,
            fl::PSH | fl::ACK,
            &ws_frame(8, true, b""),
            0,
        );
        c.seg(sc, T0 + 35 * S + 2 * MS, 1, fl::FIN | fl::ACK, b"", 0);
    });
    let h = kinds(&r, 0, Kind::WebsocketPingHeartbeat);
    let d = details!(h[0], WebsocketPingHeartbeat);
    assert_eq!(
        (d.by, d.pings, d.pongs, d.period_s),
        ("server", 3, 3, Some(10.0))
    );
    let c = kinds(&r, 0, Kind::WebsocketClose);
    let d = details!(c[0], WebsocketClose);
    assert_eq!(
        (d.by, d.code, d.normal, d.answered),
        ("server", None, false, true)
    );
    assert!(kinds(&r, 0, Kind::WebsocketAbnormalClose).is_empty());
}

#[test]
fn a_refused_upgrade_is_not_websocket() {
    let mut sc = Script::default();
    let mut c = Conn::new(0, "10.0.0.2:40000", "10.0.0.1:8443");
    c.handshake(&mut sc, T0);
    c.seg(&mut sc, T0 + MS, 0, fl::PSH | fl::ACK, REQ, 0);
    let resp = b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 2\r\n\r\n\x88\x00";
    c.seg(&mut sc, T0 + 2 * MS, 1, fl::PSH | fl::ACK, resp, 0);
    c.seg(&mut sc, T0 + 3 * S, 1, fl::FIN | fl::ACK, b"", 0);
    let (r, _) = sc.run(Options::default());
    assert!(
        r.findings
            .iter()
            .all(|f| !f.kind().as_str().starts_with("websocket")),
        "{:?}",
        r.findings
    );
}

/// Random frames with lying 16- and 64-bit lengths, in random pieces: nothing panics.
#[test]
fn random_frames_after_an_upgrade_never_panic() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..30 {
        let _ = upgraded(|sc, c| {
            for k in 0..50i64 {
                let len = (next() % 30) as usize;
                let mut f: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                if let Some(b) = f.get_mut(1) {
                    *b = [126u8, 127, 0xfe, 0xff, 5][(next() % 5) as usize];
                }
                c.seg(
                    sc,
                    T0 + (k + 1) * 10 * MS,
                    (next() % 2) as usize,
                    fl::PSH | fl::ACK,
                    &f,
                    0,
                );
            }
            c.seg(sc, T0 + 2 * S + round * MS, 1, fl::FIN | fl::ACK, b"", 0);
        });
    }
}
