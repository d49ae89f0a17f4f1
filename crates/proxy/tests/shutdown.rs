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
    // A new connection reset before any response is one the kernel completed into the listen
    // backlog and the server never accepted (closing a listener resets its backlog; nginx
    // behaves the same): never more of them than connections the server did not accept.
    let accepted = proxy.ctl.stats.connections_accepted.load(Ordering::Relaxed);
    let never_accepted = (r["connects"].as_u64().unwrap() + 1).saturating_sub(accepted);
    assert!(
        r["reset_fresh"].as_u64().unwrap() <= never_accepted,
        "reset after accept: {r}, server accepted {accepted}"
    );
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

/// Worker mode binds one SO_REUSEPORT socket per worker. It must still refuse an address that
/// is taken, also by a process that set SO_REUSEPORT itself (which would otherwise share the
/// port silently), serve every connection the kernel hands to any worker, and stop cleanly.
#[test]
fn workers_refuse_a_taken_port_and_serve_every_connection() {
    use keepsight_proxy::serve::{Content, ServeHandler};
    use std::sync::Arc;
    // A body no other server in this test binary sends, to tell ours apart after shutdown.
    let token = format!("w-{}-{:?}\n", std::process::id(), Instant::now());
    let handler = || {
        Arc::new(ServeHandler::new(
            Content::Fixed {
                status: 200,
                body: bytes::Bytes::from(token.clone().into_bytes()),
                headers: vec![],
            },
            Duration::ZERO,
        ))
    };
    let w = keepsight_proxy::start_workers(opts(), handler(), None, 2).unwrap();
    let addr = w.running.addr;
    let again =
        keepsight_proxy::start_workers(keepsight_proxy::Options::new(addr), handler(), None, 2);
    assert!(
        matches!(again, Err(keepsight_proxy::StartError::Bind { .. })),
        "second server on {addr} started"
    );

    let foreign = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    foreign.set_reuse_port(true).unwrap();
    foreign
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    foreign.listen(16).unwrap();
    let taken = foreign.local_addr().unwrap().as_socket().unwrap();
    let r =
        keepsight_proxy::start_workers(keepsight_proxy::Options::new(taken), handler(), None, 2);
    assert!(
        matches!(r, Err(keepsight_proxy::StartError::Bind { .. })),
        "started on {taken}, which another SO_REUSEPORT socket holds"
    );

    // Many connections at once: wherever the kernel puts them, each is answered.
    let clients: Vec<_> = (0..64)
        .map(|_| {
            let mut c = TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            c
        })
        .collect();
    for mut c in clients {
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        assert!(
            got.starts_with("HTTP/1.1 200 ") && got.ends_with(&format!("\r\n\r\n{token}")),
            "{got:?}"
        );
    }
    let t0 = Instant::now();
    w.running.ctl.shutdown();
    let ctl = w.running.ctl.clone();
    w.join();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "workers took {:?} to stop",
        t0.elapsed()
    );
    assert_eq!(ctl.stats.requests.load(Ordering::Relaxed), 64);
    // Nothing of ours answers any more. (The port itself may already be someone else's: the
    // tests of this binary run in parallel and bind ephemeral ports.)
    if let Ok(mut c) = TcpStream::connect(addr) {
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut got = String::new();
        let _ = c.read_to_string(&mut got);
        assert!(
            !got.contains(&token),
            "still serving after shutdown: {got:?}"
        );
    }
}

/// Blocks its worker's thread on the first request (as a stuck handler or a long GC pause
/// would), so that new clients pile up in the kernel's listen backlog meanwhile.
struct StallOnce(std::sync::atomic::AtomicBool);

impl keepsight_proxy::server::Handler for StallOnce {
    async fn handle(
        &self,
        ex: &mut keepsight_proxy::server::Exchange<'_>,
    ) -> Result<(), keepsight_proxy::server::HandlerError> {
        if !self.0.swap(true, Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(800));
        }
        ex.respond(200, b"", b"served\n").await
    }
}

/// Connections the kernel completed into the listen backlog before shutdown are served, not
/// reset with the listener (nginx resets them).
#[test]
fn shutdown_serves_the_listen_backlog() {
    let w = keepsight_proxy::start_workers(
        opts(),
        std::sync::Arc::new(StallOnce(Default::default())),
        None,
        1,
    )
    .unwrap();
    let addr = w.running.addr;
    let mut first = TcpStream::connect(addr).unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    first
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // The only worker is now stuck in the first request for 800 ms.
    std::thread::sleep(Duration::from_millis(200));
    let waiting: Vec<TcpStream> = (0..5)
        .map(|_| {
            let mut c = TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            c
        })
        .collect();
    w.running.ctl.shutdown();
    for (i, mut c) in waiting.into_iter().enumerate() {
        let mut got = String::new();
        let r = c.read_to_string(&mut got);
        assert!(
            r.is_ok() && got.starts_with("HTTP/1.1 200 ") && got.ends_with("served\n"),
            "client {i} in the backlog: {r:?} {got:?}"
        );
        assert!(got.contains("Connection: close"), "{got}");
    }
    let mut got = String::new();
    first.read_to_string(&mut got).unwrap();
    assert!(got.starts_with("HTTP/1.1 200 "), "{got}");
    let ctl = w.running.ctl.clone();
    w.join();
    assert_eq!(ctl.stats.requests.load(Ordering::Relaxed), 6);
}
