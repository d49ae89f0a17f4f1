//! HTTP/2 on scripted connections: an `Upgrade: h2c` connection (RFC 7540 §3.2), whose
//! frames follow the HTTP/1.1 heads, and hostile bytes after a preface. The real captures
//! (grpcio, python-h2) are tests/scenarios/grpc-keepalive and h2-ping-goaway.

use super::*;

fn frame(ty: u8, flags: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    b.push(ty);
    b.push(flags);
    b.extend(sid.to_be_bytes());
    b.extend(payload);
    b
}

#[test]
fn an_upgraded_h2c_connection_is_followed_after_its_http1_heads() {
    let mut sc = Script::default();
    let mut c = Conn::new(0, "10.0.0.2:40000", "10.0.0.1:80");
    c.handshake(&mut sc, T0);
    let req = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n\
                Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";
    c.seg(&mut sc, T0 + MS, 0, fl::PSH | fl::ACK, req, 0);
    // The 101's blank line split across two segments, frames right behind it.
    let mut resp =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r".to_vec();
    c.seg(&mut sc, T0 + 2 * MS, 1, fl::PSH | fl::ACK, &resp, 0);
    resp = b"\n".to_vec();
    resp.extend(frame(4, 0, 0, &[]));
    c.seg(&mut sc, T0 + 3 * MS, 1, fl::PSH | fl::ACK, &resp, 0);
    let mut preface = keepsight_h2::preface::CLIENT_PREFACE.to_vec();
    preface.extend(frame(4, 0, 0, &[]));
    c.seg(&mut sc, T0 + 4 * MS, 0, fl::PSH | fl::ACK, &preface, 0);
    for k in 0..3i64 {
        let t = T0 + (k + 1) * S;
        c.seg(
            &mut sc,
            t,
            0,
            fl::PSH | fl::ACK,
            &frame(6, 0, 0, b"pingpong"),
            0,
        );
        c.seg(
            &mut sc,
            t + MS,
            1,
            fl::PSH | fl::ACK,
            &frame(6, 1, 0, b"pingpong"),
            0,
        );
    }
    let goaway = frame(7, 0, 0, b"\0\0\0\x01\0\0\0\x0bcalm down");
    c.seg(&mut sc, T0 + 4 * S, 1, fl::PSH | fl::ACK, &goaway, 0);
    c.seg(&mut sc, T0 + 4 * S + MS, 1, fl::FIN | fl::ACK, b"", 0);
    let (r, _) = sc.run(Options::default());
    let g = kinds(&r, 0, Kind::Http2Goaway);
    assert_eq!(g.len(), 1, "{:?}", r.findings);
    let d = details!(g[0], Http2Goaway);
    assert_eq!(
        (d.by, d.error, d.last_stream_id),
        ("server", "ENHANCE_YOUR_CALM", 1)
    );
    assert_eq!(d.debug_data, "calm down");
    let p = kinds(&r, 0, Kind::Http2PingHeartbeat);
    assert_eq!(details!(p[0], Http2PingHeartbeat).acked, 3);
}

#[test]
fn a_refused_upgrade_stays_http1() {
    let mut sc = Script::default();
    let mut c = Conn::new(0, "10.0.0.2:40000", "10.0.0.1:80");
    c.handshake(&mut sc, T0);
    let req = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n\r\n";
    c.seg(&mut sc, T0 + MS, 0, fl::PSH | fl::ACK, req, 0);
    // A 200 whose body happens to hold a GOAWAY frame's bytes: HTTP/1, not a frame.
    let goaway = frame(7, 0, 0, b"\0\0\0\x01\0\0\0\x00");
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
        goaway.len()
    )
    .into_bytes();
    resp.extend(goaway);
    c.seg(&mut sc, T0 + 2 * MS, 1, fl::PSH | fl::ACK, &resp, 0);
    c.seg(&mut sc, T0 + 3 * S, 1, fl::FIN | fl::ACK, b"", 0);
    let (r, _) = sc.run(Options::default());
    assert!(
        kinds(&r, 0, Kind::Http2Goaway).is_empty(),
        "{:?}",
        r.findings
    );
}

/// A preface, then random frames with lying lengths in random pieces: nothing panics.
#[test]
fn random_frames_after_a_preface_never_panic() {
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..40 {
        let mut sc = Script::default();
        let mut c = Conn::new(round, "10.0.0.2:40000", "10.0.0.1:50051");
        c.handshake(&mut sc, T0);
        c.seg(
            &mut sc,
            T0 + MS,
            0,
            fl::PSH | fl::ACK,
            keepsight_h2::preface::CLIENT_PREFACE,
            0,
        );
        for k in 0..60i64 {
            let ty = (next() % 10) as u8;
            let len = (next() % 40) as usize;
            let body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let mut f = frame(ty, next() as u8, (next() % 8) as u32, &body);
            if next() % 6 == 0 {
                f[..3].copy_from_slice(&[0, (next() % 4) as u8, next() as u8]);
            }
            c.seg(
                &mut sc,
                T0 + (k + 2) * 10 * MS,
                (next() % 2) as usize,
                fl::PSH | fl::ACK,
                &f,
                0,
            );
        }
        let _ = sc.run(Options::default());
    }
}
