//! Client-side keep-alive controls, observed from real peers (Python raw sockets, curl).

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

fn sequence(s: &TestServer, n: usize, interval: &str) -> serde_json::Value {
    let port = s.addr.port().to_string();
    peer(
        &["sequence", "127.0.0.1", &port, &n.to_string(), interval],
        T,
    )
}

#[test]
fn keepalive_requests_closes_after_exactly_n() {
    for n in [1u64, 5, 37] {
        let mut o = opts();
        o.server.keepalive_requests = n;
        let s = serve_fixed(o, "ok", Duration::ZERO);
        let r = sequence(&s, n as usize + 10, "0");
        let responses = r["responses"].as_array().unwrap();
        assert_eq!(responses.len() as u64, n, "{r}");
        for (i, resp) in responses.iter().enumerate() {
            assert_eq!(resp["status"], 200);
            assert_eq!(
                resp["close"],
                i as u64 + 1 == n,
                "response {} of {n}: {resp}",
                i + 1
            );
        }
        assert_eq!(
            r["after"], "eof",
            "server must close right after response {n}"
        );
        let log = s.log_lines();
        assert_eq!(log.len() as u64, n);
        assert!(
            log[n as usize - 1].contains(&format!("conn=1 req={n} ")),
            "{log:?}"
        );
        assert!(
            log[n as usize - 1].ends_with("keepalive-requests"),
            "{log:?}"
        );
    }
}

#[test]
fn idle_timeout_closes_within_its_bound_and_header_is_advertised() {
    let mut o = opts();
    let (idle, header) = keepsight_proxy::parse_keepalive_timeout("1s,7s").unwrap();
    o.server.keepalive_timeout = idle;
    o.server.keepalive_header = header;
    let s = serve_fixed(o, "ok", Duration::ZERO);
    let port = s.addr.port().to_string();
    let r = sequence(&s, 1, "0");
    assert_eq!(
        r["responses"][0]["headers"]["keep-alive"][0], "timeout=7",
        "{r}"
    );
    let r = peer(&["idle", "127.0.0.1", &port, "1"], T);
    assert_eq!(r["after"], "eof", "{r}");
    let secs = r["seconds"].as_f64().unwrap();
    assert!(
        (0.95..2.0).contains(&secs),
        "idle close after {secs:.3}s, want ~1s"
    );
}

#[test]
fn header_timeout_bounds_a_silent_or_slow_client() {
    let mut o = opts();
    o.server.header_timeout = Duration::from_millis(800);
    o.server.keepalive_timeout = Duration::from_secs(30);
    let s = serve_fixed(o, "ok", Duration::ZERO);
    let port = s.addr.port().to_string();
    // Nothing at all.
    let r = peer(&["idle", "127.0.0.1", &port, "0"], T);
    let secs = r["seconds"].as_f64().unwrap();
    assert_eq!(r["after"], "eof");
    assert!(
        (0.75..1.8).contains(&secs),
        "silent client closed after {secs:.3}s"
    );
    // Half a head, then silence (slowloris).
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let t0 = Instant::now();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    let n = c.read(&mut buf).unwrap_or(usize::MAX);
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(n, 0, "expected EOF");
    assert!(
        (0.75..1.8).contains(&secs),
        "half head closed after {secs:.3}s"
    );
}

#[test]
fn keepalive_time_limits_connection_lifetime() {
    let mut o = opts();
    o.server.keepalive_time = Duration::from_secs(1);
    let s = serve_fixed(o, "ok", Duration::ZERO);
    let r = sequence(&s, 30, "0.2");
    let responses = r["responses"].as_array().unwrap();
    let last = responses.last().unwrap();
    assert_eq!(last["close"], true, "{r}");
    let t = last["t"].as_f64().unwrap();
    assert!(
        (1.0..1.8).contains(&t),
        "closed at {t:.2}s, want the first response after 1s"
    );
    assert!(responses[..responses.len() - 1]
        .iter()
        .all(|x| x["close"] == false));
    assert_eq!(r["after"], "eof");
    assert!(s.log_lines().last().unwrap().ends_with("keepalive-time"));
}

#[test]
fn keepalive_timeout_zero_disables_keep_alive() {
    let mut o = opts();
    o.server.keepalive_timeout = Duration::ZERO;
    let s = serve_fixed(o, "ok", Duration::ZERO);
    let r = sequence(&s, 3, "0");
    assert_eq!(r["responses"].as_array().unwrap().len(), 1);
    assert_eq!(r["responses"][0]["close"], true);
    assert_eq!(r["after"], "eof");
}

#[test]
fn curl_reuses_the_connection_and_http10_gets_close_delimited_or_length() {
    let s = serve_fixed(opts(), "hello\n", Duration::ZERO);
    let url = format!("http://{}/", s.addr);
    let out = Command::new("curl")
        .args(["-sv", "--max-time", "10", &url, &url, &url])
        .output()
        .expect("curl");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n".repeat(3));
    assert_eq!(
        err.matches("Re-using existing connection").count(),
        2,
        "{err}"
    );
    let out = Command::new("curl")
        .args(["-sv", "-0", "--max-time", "10", &url])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("< Connection: close"), "{err}");
    assert!(err.contains("< Content-Length: 6"), "{err}");
    // HTTP/1.0 with keep-alive asked for: kept, and said so.
    let out = Command::new("curl")
        .args([
            "-sv",
            "-0",
            "-H",
            "Connection: keep-alive",
            "--max-time",
            "10",
            &url,
            &url,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("< Connection: keep-alive"), "{err}");
    let log = s.log_lines_when(|l| l.last().is_some_and(|last| last.contains("req=2 ")));
    assert!(log[2].contains("conn=1 req=3 "), "{log:?}");
    assert!(log.last().unwrap().contains("req=2 "), "{log:?}");
}

#[test]
fn head_gets_length_without_body() {
    let s = serve_fixed(opts(), "twelve bytes", Duration::ZERO);
    let req =
        "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let port = s.addr.port().to_string();
    let r = peer(&["raw", "127.0.0.1", &port, &hex(req.as_bytes()), "5"], T);
    let raw = r["data"].as_str().unwrap();
    // The HEAD response carries the GET's length but no body; the GET follows directly.
    let (head_resp, rest) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head_resp.contains("Content-Length: 12"), "{raw}");
    assert!(rest.starts_with("HTTP/1.1 200 OK"), "{raw}");
    assert!(rest.ends_with("\r\n\r\ntwelve bytes"), "{raw}");
}

#[test]
fn so_keepalive_reaches_accepted_sockets() {
    let mut o = opts();
    o.so_keepalive = Some(keepsight_keepalive::KeepaliveSettings::parse_nginx("30m::10").unwrap());
    let s = serve_fixed(o, "ok", Duration::ZERO);
    let _c = TcpStream::connect(s.addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // The server's end of the connection shows a keep-alive timer of (about) 30 minutes.
    let out = Command::new("ss")
        .args([
            "-tnoH",
            "state",
            "established",
            "sport",
            "=",
            &format!(":{}", s.addr.port()),
        ])
        .output()
        .expect("ss (iproute2)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("timer:(keepalive,29min") || text.contains("timer:(keepalive,30min"),
        "{text}"
    );
}

#[test]
fn connection_limit_holds_extra_clients_in_the_backlog() {
    let mut o = opts();
    o.server.max_connections = 2;
    let s = serve_fixed(o, "ok", Duration::ZERO);
    let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut a = TcpStream::connect(s.addr).unwrap();
    let mut b = TcpStream::connect(s.addr).unwrap();
    for c in [&mut a, &mut b] {
        c.write_all(req).unwrap();
        let mut buf = [0u8; 256];
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(c.read(&mut buf).unwrap() > 0);
    }
    let mut third = TcpStream::connect(s.addr).unwrap();
    third.write_all(req).unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut buf = [0u8; 256];
    assert!(
        third.read(&mut buf).is_err(),
        "third client served beyond the limit"
    );
    drop(a);
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let n = third.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}

/// A client that asks to close gets a plain close (no lingering), but one that sends more
/// after its `Connection: close` request still reads its whole response: closing with those
/// bytes unread would send a reset that destroys the response in the client's buffer.
#[test]
fn client_close_is_plain_but_never_resets_unread_bytes() {
    let s = serve_fixed(opts(), "bye\n", Duration::ZERO);
    let one = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(one).unwrap();
    let t0 = Instant::now();
    let mut got = String::new();
    c.read_to_string(&mut got).unwrap();
    assert!(got.ends_with("\r\n\r\nbye\n"), "{got:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "close took {:?}",
        t0.elapsed()
    );

    for _ in 0..20 {
        let mut c = TcpStream::connect(s.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut both = one.to_vec();
        both.extend_from_slice(b"GET /more HTTP/1.1\r\nHost: x\r\n\r\n");
        c.write_all(&both).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got)
            .expect("reset instead of the response and a close");
        let got = String::from_utf8_lossy(&got);
        assert_eq!(got.matches("HTTP/1.1 200").count(), 1, "{got:?}");
        assert!(got.ends_with("\r\n\r\nbye\n"), "{got:?}");
    }
}
