//! Graceful shutdown under load: no request that reached the proxy is lost.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[test]
fn graceful_shutdown_under_load_loses_no_request() {
    // A slow upstream keeps requests in flight at the moment of shutdown.
    let upstream = serve_fixed(opts(), "slow\n", Duration::from_millis(150));
    let mut o = opts();
    o.server.keepalive_requests = 0;
    let mut proxy = proxy_to(o, upstream.addr, |_| {});
    let port = proxy.addr.port().to_string();
    let load = std::thread::spawn(move || {
        peer(
            &["load", "127.0.0.1", &port, "16", "10"],
            Duration::from_secs(60),
        )
    });
    // One client that stays idle on its keep-alive connection: shutdown must close it at
    // once, not after the 75 s keep-alive timeout.
    let mut idle = TcpStream::connect(proxy.addr).unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 512];
    assert!(idle.read(&mut buf).unwrap() > 0);
    // Stop only once the load is really running (a loaded machine can take a while to start
    // the Python clients).
    let t0 = Instant::now();
    while proxy.ctl.stats.requests.load(Ordering::Relaxed) < 100 {
        assert!(t0.elapsed() < Duration::from_secs(30), "load never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let t0 = Instant::now();
    proxy.stop();
    let drained_in = t0.elapsed();
    assert_eq!(
        idle.read(&mut buf).unwrap(),
        0,
        "idle connection not closed at shutdown"
    );
    let r = load.join().unwrap();
    eprintln!("load outcome: {r}, drained in {drained_in:?}");
    let log = proxy.log_lines();
    let served = log.iter().filter(|l| l.contains("\" 200 ")).count() as u64;
    let ok = r["ok"].as_u64().unwrap();
    let ok_close = r["ok_close"].as_u64().unwrap();
    assert_eq!(r["error"], 0, "lost requests: {r}");
    // Requests in flight at shutdown finished, each told the connection closes.
    assert!(ok_close >= 8, "{r}");
    assert!(ok > 50, "{r}");
    // Every response the proxy logged reached its client (plus the idle client's one).
    assert_eq!(served, ok + ok_close + 1, "{r}");
    assert!(
        r["refused"].as_u64().unwrap() >= 1,
        "clients never saw the listener close: {r}"
    );
    assert!(
        drained_in < Duration::from_secs(3),
        "drain took {drained_in:?}"
    );
}
