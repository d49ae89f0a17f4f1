//! Idle keep-alive connections leave their task after `park_after` and come back on their next
//! byte. Observed with real loopback sockets: the client must not be able to tell, except by
//! the server's counters.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn parked(s: &TestServer) -> u64 {
    s.ctl.stats.connections_parked.load(Ordering::Relaxed)
}

fn open(s: &TestServer) -> u64 {
    let st = &s.ctl.stats;
    st.connections_accepted.load(Ordering::Relaxed) - st.connections_closed.load(Ordering::Relaxed)
}

/// Wait (at most `limit`) until `f` holds.
fn until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// One request; the response head and body, read up to the end of its Content-Length.
fn request(c: &mut TcpStream, path: &str) -> String {
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return text;
            }
        }
    }
}

fn connect(s: &TestServer) -> TcpStream {
    let c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

fn parking_opts(after_ms: u64) -> keepsight_proxy::Options {
    let mut o = opts();
    o.server.park_after = Duration::from_millis(after_ms);
    o
}

#[test]
fn idle_connections_park_and_come_back_as_the_same_connection() {
    let mut o = parking_opts(100);
    o.server.keepalive_requests = 3;
    let s = serve_fixed(o, "ok", Duration::ZERO);
    let mut conns: Vec<TcpStream> = (0..40).map(|_| connect(&s)).collect();
    for (round, expect_close) in [(1, false), (2, false), (3, true)] {
        for c in conns.iter_mut() {
            let r = request(c, &format!("/r{round}"));
            assert!(r.starts_with("HTTP/1.1 200"), "{r}");
            assert_eq!(r.contains("Connection: close"), expect_close, "{r}");
        }
        if !expect_close {
            assert!(
                until(Duration::from_secs(5), || parked(&s) == 40),
                "parked {} of 40 after round {round}",
                parked(&s)
            );
        }
    }
    // The third response closed every connection: the request count went with each one
    // through two parkings.
    for c in conns.iter_mut() {
        let mut b = [0u8; 1];
        assert_eq!(c.read(&mut b).unwrap(), 0, "server closes after request 3");
    }
    assert_eq!(
        s.ctl.stats.connections_accepted.load(Ordering::Relaxed),
        40,
        "no client reconnected"
    );
    let log = s.log_lines();
    assert_eq!(log.len(), 120, "{log:?}");
    for conn in 1..=40 {
        for req in 1..=3 {
            let tag = format!("conn={conn} req={req} ");
            assert!(
                log.iter().any(|l| l.contains(&tag)),
                "no `{tag}` in {log:?}"
            );
        }
    }
    assert!(until(Duration::from_secs(3), || parked(&s) == 0 && open(&s) == 0));
}

#[test]
fn a_parked_connection_closes_on_its_original_idle_deadline() {
    let mut o = parking_opts(100);
    o.server.keepalive_timeout = Duration::from_millis(1200);
    let s = serve_fixed(o, "ok", Duration::ZERO);
    let mut c = connect(&s);
    request(&mut c, "/");
    let t0 = Instant::now();
    assert!(until(Duration::from_secs(1), || parked(&s) == 1));
    let mut b = [0u8; 1];
    assert_eq!(c.read(&mut b).unwrap(), 0, "closed with FIN");
    let secs = t0.elapsed().as_secs_f64();
    // Never early; late by at most the sweeper's tick (75 ms here) plus scheduling.
    assert!(
        (1.15..1.7).contains(&secs),
        "closed after {secs:.3} s, want 1.2 s"
    );
    assert_eq!(s.ctl.stats.closed_idle.load(Ordering::Relaxed), 1);
    assert!(until(Duration::from_secs(1), || parked(&s) == 0 && open(&s) == 0));
}

#[test]
fn a_client_that_closes_while_parked_is_noticed_at_once() {
    let s = serve_fixed(parking_opts(100), "ok", Duration::ZERO);
    let mut c = connect(&s);
    request(&mut c, "/");
    assert!(until(Duration::from_secs(2), || parked(&s) == 1));
    drop(c);
    let t0 = Instant::now();
    assert!(
        until(Duration::from_secs(2), || open(&s) == 0 && parked(&s) == 0),
        "still open: {} parked: {}",
        open(&s),
        parked(&s)
    );
    // Long before the 75 s idle timeout: the close itself woke the parked connection.
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn parked_connections_keep_their_place_in_the_connection_limit() {
    let mut o = parking_opts(100);
    o.server.max_connections = 2;
    let s = serve_fixed(o, "ok", Duration::ZERO);
    let mut a = connect(&s);
    let mut b = connect(&s);
    request(&mut a, "/a");
    request(&mut b, "/b");
    assert!(until(Duration::from_secs(2), || parked(&s) == 2));
    // The third client waits in the listen backlog: connected by the kernel, not served.
    let mut c = connect(&s);
    c.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    c.write_all(b"GET /c HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut buf = [0u8; 64];
    let waited = c.read(&mut buf);
    assert!(waited.is_err(), "served beyond the limit: {waited:?}");
    drop(a);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = c.read(&mut buf).unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    // And the parked one still works.
    assert!(request(&mut b, "/b2").starts_with("HTTP/1.1 200"));
}

#[test]
fn shutdown_closes_parked_connections_and_returns() {
    let mut s = serve_fixed(parking_opts(100), "ok", Duration::ZERO);
    let mut conns: Vec<TcpStream> = (0..20).map(|_| connect(&s)).collect();
    for c in conns.iter_mut() {
        request(c, "/");
    }
    assert!(until(Duration::from_secs(3), || parked(&s) == 20));
    let t0 = Instant::now();
    s.stop();
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    for c in conns.iter_mut() {
        let mut b = [0u8; 1];
        assert_eq!(c.read(&mut b).unwrap(), 0, "closed with FIN");
    }
    assert_eq!(s.ctl.stats.closed_shutdown.load(Ordering::Relaxed), 20);
    assert_eq!(parked(&s), 0);
}

#[test]
fn parking_off_keeps_every_connection_in_its_task() {
    let s = serve_fixed(parking_opts(0), "ok", Duration::ZERO);
    let mut c = connect(&s);
    request(&mut c, "/");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(parked(&s), 0);
    assert!(request(&mut c, "/again").starts_with("HTTP/1.1 200"));
}

/// Blocks its worker's thread on `/stall` (as a stuck handler or a long pause would).
struct Stall;

impl keepsight_proxy::server::Handler for Stall {
    async fn handle(
        &self,
        ex: &mut keepsight_proxy::server::Exchange<'_>,
    ) -> Result<(), keepsight_proxy::server::HandlerError> {
        if ex.request().target() == b"/stall" {
            std::thread::sleep(Duration::from_millis(800));
        }
        ex.respond(200, b"", b"ok\n").await
    }
}

/// A request that reaches a parked connection just as shutdown begins is served, not reset.
#[test]
fn shutdown_serves_a_request_waiting_on_a_parked_connection() {
    let w = keepsight_proxy::start_workers(parking_opts(100), std::sync::Arc::new(Stall), None, 1)
        .unwrap();
    let (addr, ctl) = (w.running.addr, w.running.ctl.clone());
    let mut parked_client = TcpStream::connect(addr).unwrap();
    parked_client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    request(&mut parked_client, "/first");
    assert!(until(Duration::from_secs(2), || {
        ctl.stats.connections_parked.load(Ordering::Relaxed) == 1
    }));
    // Stall the only worker, send on the parked connection meanwhile, and shut down: when the
    // worker runs again the request is in the socket and shutdown has begun.
    let mut staller = TcpStream::connect(addr).unwrap();
    staller
        .write_all(b"GET /stall HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    parked_client
        .write_all(b"GET /late HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    ctl.shutdown();
    let mut got = String::new();
    let r = parked_client.read_to_string(&mut got);
    assert!(
        r.is_ok() && got.starts_with("HTTP/1.1 200 ") && got.contains("Connection: close"),
        "{r:?} {got:?}"
    );
    w.join();
    assert_eq!(ctl.stats.requests.load(Ordering::Relaxed), 3);
}
