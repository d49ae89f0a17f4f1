//! Fault injection against the proxy, on real kernel sockets inside a network namespace of its
//! own (named `faults-…`): upstreams that die, stall, reset or talk garbage; slow clients that
//! hold their request heads open while real load runs; graceful shutdown in the middle of
//! load. curl and wrk are the independent clients where one exists; the upstreams are written
//! here because their faults must be exact. Needs root, like every namespace lab.

use keepsight_proxy::proxy::{ProxyHandler, UpstreamConfig};
use keepsight_proxy::serve::{Content, ServeHandler};
use keepsight_proxy::server::{Control, Handler};
use keepsight_proxy::Options;
use keepsight_testlab::{in_ns, ns_sh, require_root, require_tool, Lab};
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// A server running on a current-thread runtime on a thread inside the lab's namespace.
struct InNs {
    addr: SocketAddr,
    ctl: Arc<Control>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InNs {
    fn start<H: Handler>(ns: &str, opts: Options, handler: Arc<H>) -> InNs {
        let (tx, rx) = mpsc::channel();
        let thread = in_ns(ns, move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let (running, fut) = keepsight_proxy::start(opts, handler, None).unwrap();
                    tx.send((running.addr, running.ctl.clone())).unwrap();
                    fut.await;
                })
        });
        let (addr, ctl) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        InNs {
            addr,
            ctl,
            thread: Some(thread),
        }
    }

    /// Graceful shutdown; returns how long the drain took.
    fn stop(&mut self) -> Duration {
        let t0 = Instant::now();
        self.ctl.shutdown();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        t0.elapsed()
    }
}

impl Drop for InNs {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The tests here each load the machine on purpose (wrk, a thousand clients, two dozen busy
/// ones); run side by side on 2 cores they would measure each other. One at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn lab(tag: &str) -> Lab {
    Lab::with_prefix("faults", &[tag])
}

fn local_opts() -> Options {
    Options::new("127.0.0.1:0".parse().unwrap())
}

/// Closes with a reset instead of a FIN, as a crashed or killed peer's kernel does.
fn reset(s: TcpStream) {
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
}

/// Reads one request head (the hostile upstreams ignore bodies: the tests send none).
fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&b[..n]),
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// The part of a body a dying upstream sends: more than the proxy buffers before it writes
/// (64 KiB), so the client has already received the head and part of the body when the fault
/// comes.
const PART: usize = 100_000;

/// An upstream that misbehaves as the request path says; `/ok` answers properly and keeps the
/// connection. Every fault happens after a whole request head arrived.
fn hostile_upstream(ns: &str) -> SocketAddr {
    let listener = in_ns(ns, || TcpListener::bind("127.0.0.1:0").unwrap())
        .join()
        .unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(s) = conn else { return };
            std::thread::spawn(move || serve_hostile(s));
        }
    });
    addr
}

fn serve_hostile(mut s: TcpStream) {
    let body = vec![b'x'; PART];
    while let Some(head) = read_head(&mut s) {
        let path = head.split(' ').nth(1).unwrap_or("").to_string();
        let w = |s: &mut TcpStream, b: &[u8]| {
            let _ = s.write_all(b);
        };
        match path.as_str() {
            "/ok" => {
                w(&mut s, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
                continue;
            }
            // Dies inside a body whose length it announced.
            "/cl-die" => {
                w(&mut s, b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n");
                w(&mut s, &body);
            }
            "/cl-reset" => {
                w(&mut s, b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n");
                w(&mut s, &body);
                std::thread::sleep(Duration::from_millis(50));
                return reset(s);
            }
            // Dies between two chunks.
            "/chunked-die" => {
                w(
                    &mut s,
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n186a0\r\n",
                );
                w(&mut s, &body);
                w(&mut s, b"\r\n");
            }
            // A body delimited by the close: only a reset tells its end from a truncation.
            "/close-reset" => {
                w(&mut s, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                w(&mut s, &body);
                std::thread::sleep(Duration::from_millis(50));
                return reset(s);
            }
            "/head-reset" => return reset(s),
            "/head-die" => w(&mut s, b"HTTP/1.1 20"),
            "/stall-head" => std::thread::sleep(Duration::from_secs(4)),
            "/stall-body" => {
                w(&mut s, b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n");
                w(&mut s, &body);
                std::thread::sleep(Duration::from_secs(4));
            }
            "/garbage" => w(
                &mut s,
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 SSH-2.0\r\n\r\n",
            ),
            "/bad-length" => w(
                &mut s,
                b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nhello",
            ),
            "/bad-chunk" => w(
                &mut s,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
            ),
            // More bytes than announced: the surplus must not become the next response.
            "/overlong" => {
                w(
                    &mut s,
                    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged",
                );
                continue;
            }
            _ => w(
                &mut s,
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            ),
        }
        let _ = s.shutdown(Shutdown::Write);
        return;
    }
}

/// What curl made of one request, run inside the namespace.
#[derive(Debug)]
struct Curl {
    exit: i32,
    status: u16,
    body_len: usize,
    took: Duration,
}

fn curl(ns: &str, url: &str, extra: &[&str]) -> Curl {
    let t0 = Instant::now();
    let mut args = vec![
        "netns",
        "exec",
        ns,
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{size_download}",
        "--max-time",
        "15",
    ];
    args.extend_from_slice(extra);
    args.push(url);
    let out = Command::new("ip").args(&args).output().unwrap();
    let took = t0.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    Curl {
        exit: out.status.code().unwrap_or(-1),
        status: parts.next().and_then(|p| p.parse().ok()).unwrap_or(0),
        body_len: parts.next().and_then(|p| p.parse().ok()).unwrap_or(0),
        took,
    }
}

/// How a raw client's read of a whole response ended.
#[derive(Debug, PartialEq)]
enum End {
    /// A FIN: for a close-delimited body this says "complete".
    Eof,
    /// A reset: the body is known to be incomplete.
    Reset,
    TimedOut,
}

fn raw_exchange(ns: &str, addr: SocketAddr, request: &'static [u8]) -> (Vec<u8>, End) {
    in_ns(ns, move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request).unwrap();
        let mut data = Vec::new();
        let mut b = [0u8; 8192];
        loop {
            match s.read(&mut b) {
                Ok(0) => return (data, End::Eof),
                Ok(n) => data.extend_from_slice(&b[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return (data, End::Reset),
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                    return (data, End::TimedOut)
                }
                Err(e) => panic!("read: {e}"),
            }
        }
    })
    .join()
    .unwrap()
}

#[test]
fn faults_hostile_upstreams_get_an_error_status_or_a_visibly_broken_response() {
    if !require_root("faults_hostile_upstreams") || !require_tool("curl") {
        return;
    }
    let _serial = serial();
    let lab = lab("up");
    let ns = lab.ns(0).to_string();
    let upstream = hostile_upstream(&ns);
    let read_timeout = Duration::from_millis(600);
    let mut cfg = UpstreamConfig::new(upstream);
    cfg.read_timeout = read_timeout;
    let handler = Arc::new(ProxyHandler::new(cfg));
    let proxy = InNs::start(&ns, local_opts(), handler.clone());
    let url = |path: &str| format!("http://{}{path}", proxy.addr);
    // Within this, every case has ended one way or the other: nothing hangs on a dead peer.
    let bound = read_timeout + Duration::from_secs(3);

    // Faults before the response head: the proxy still owns the status line.
    for (path, want) in [
        ("/head-reset", 502),
        ("/head-die", 502),
        ("/garbage", 502),
        ("/bad-length", 502),
        ("/stall-head", 504),
    ] {
        let c = curl(&ns, &url(path), &[]);
        assert_eq!((c.exit, c.status), (0, want), "{path}: {c:?}");
        assert!(c.took < bound, "{path}: {c:?}");
    }

    // Faults inside the body: the head has gone out, so the client must be able to see that
    // the body is cut short. curl is the judge: 18 is "partial file", 56 "failure receiving".
    for path in [
        "/cl-die",
        "/cl-reset",
        "/chunked-die",
        "/close-reset",
        "/stall-body",
        "/bad-chunk",
    ] {
        for version in ["--http1.1", "--http1.0"] {
            let c = curl(&ns, &url(path), &[version]);
            eprintln!("{path} {version}: {c:?}");
            assert!(
                [18, 52, 56].contains(&c.exit),
                "{path} {version}: a truncated body passed off as whole: {c:?}"
            );
            assert!(c.body_len <= PART, "{path} {version}: {c:?}");
            assert!(c.took < bound, "{path} {version}: {c:?}");
        }
    }

    // The raw view of the hardest case: an HTTP/1.0 client gets a close-delimited body, whose
    // only end marker is the connection's end, so a cut must end in a reset, not a FIN.
    let (data, end) = raw_exchange(&ns, proxy.addr, b"GET /close-reset HTTP/1.0\r\n\r\n");
    let text = String::from_utf8_lossy(&data);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(!text.contains("Content-Length"), "{text}");
    assert_eq!(
        end,
        End::Reset,
        "a cut close-delimited body ended with a FIN"
    );

    // Surplus bytes after a whole response are not served as the next one.
    for _ in 0..3 {
        let (data, end) = raw_exchange(
            &ns,
            proxy.addr,
            b"GET /overlong HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let text = String::from_utf8_lossy(&data);
        assert!(!text.contains("forged"), "{text}");
        assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
        assert_eq!(end, End::Eof, "{text}");
    }

    // And the proxy keeps serving, new connections and kept-alive ones alike.
    let c = curl(&ns, &url("/ok"), &[]);
    assert_eq!((c.exit, c.status, c.body_len), (0, 200, 3), "{c:?}");
    let (data, _) = raw_exchange(
        &ns,
        proxy.addr,
        b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        String::from_utf8_lossy(&data)
            .matches("HTTP/1.1 200")
            .count(),
        2
    );
    // No client connection outlives its fault.
    let s = &proxy.ctl.stats;
    let t0 = Instant::now();
    while s.connections_closed.load(Ordering::Relaxed)
        < s.connections_accepted.load(Ordering::Relaxed)
    {
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "client connections left open: {}",
            s.to_json()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kernel-reported resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// `wrk`'s summary: requests done, and errors of any kind (socket errors, non-2xx).
fn run_wrk(ns: &str, url: &str, connections: u32, secs: u32) -> (u64, u64, String) {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "wrk",
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            "--timeout",
            "2s",
            url,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "wrk: {text}");
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .map(|(n, _)| n.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("no request count from wrk: {text}"));
    let mut errors = 0;
    for l in text.lines() {
        if let Some(rest) = l.trim().strip_prefix("Socket errors:") {
            errors += rest
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
        if let Some(rest) = l.trim().strip_prefix("Non-2xx or 3xx responses:") {
            errors += rest.trim().parse::<u64>().unwrap();
        }
    }
    (requests, errors, text)
}

#[test]
fn faults_slowloris_clients_are_cut_at_the_header_timeout_while_wrk_is_served() {
    if !require_root("faults_slowloris") || !require_tool("wrk") {
        return;
    }
    let _serial = serial();
    const SLOW: usize = 1000;
    let lab = lab("slow");
    let ns = lab.ns(0).to_string();
    let upstream = InNs::start(
        &ns,
        local_opts(),
        Arc::new(ServeHandler::new(
            Content::Fixed {
                status: 200,
                body: b"served\n".to_vec().into(),
                headers: vec![],
            },
            Duration::ZERO,
        )),
    );
    let header_timeout = Duration::from_secs(2);
    let mut o = local_opts();
    o.server.header_timeout = header_timeout;
    o.backlog = 4096;
    let proxy = InNs::start(
        &ns,
        o,
        Arc::new(ProxyHandler::new(UpstreamConfig::new(upstream.addr))),
    );
    let rss_before = rss_kib();

    // Each slow client sends a partial head, then one more header byte every 300 ms: always
    // within any per-read timeout, never finishing. It records how long the proxy let it live.
    let addr = proxy.addr;
    let slow = in_ns(&ns, move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut tasks = Vec::new();
                for i in 0..SLOW {
                    tasks.push(tokio::spawn(async move {
                        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                        let t0 = Instant::now();
                        s.write_all(format!("GET /{i} HTTP/1.1\r\nHost: x\r\nX-Slow: ").as_bytes())
                            .await
                            .unwrap();
                        let mut b = [0u8; 256];
                        loop {
                            let tick = tokio::time::sleep(Duration::from_millis(300));
                            tokio::select! {
                                r = s.read(&mut b) => {
                                    // Cut: closed (0) or reset. Anything else is a response
                                    // to a head that never ended.
                                    if let Ok(n) = r {
                                        assert_eq!(n, 0, "answered an unfinished head");
                                    }
                                    return t0.elapsed();
                                }
                                _ = tick => {
                                    if s.write_all(b"a").await.is_err() {
                                        return t0.elapsed();
                                    }
                                }
                            }
                            if t0.elapsed() > Duration::from_secs(20) {
                                return t0.elapsed();
                            }
                        }
                    }));
                }
                let mut lived = Vec::new();
                for t in tasks {
                    lived.push(t.await.unwrap());
                }
                lived
            })
    });
    // Real load at the same time, from wrk.
    std::thread::sleep(Duration::from_millis(300));
    let (requests, errors, text) = run_wrk(&ns, &format!("http://{addr}/"), 16, 3);
    let mut lived = slow.join().unwrap();
    lived.sort();
    let rss_after = rss_kib();
    eprintln!(
        "slowloris: {SLOW} slow clients lived {:?} .. {:?}; wrk {requests} requests, {errors} errors; \
         test process RSS {rss_before} -> {rss_after} KiB",
        lived[0],
        lived[SLOW - 1]
    );
    assert_eq!(errors, 0, "{text}");
    // (About 16,000 per second here alone; a few hundred in 3 s is a loaded machine, none or
    // a handful is a proxy whose worker the slow clients hold.)
    assert!(requests >= 300, "the real load starved: {text}");
    assert!(
        lived[0] + Duration::from_millis(100) >= header_timeout,
        "cut before the header timeout: {:?}",
        lived[0]
    );
    // The proxy cuts at the timeout; the slack is for this test's own runtime to notice on a
    // busy machine (1000 clients on one thread). Without the cut they would live to 20 s.
    assert!(
        lived[SLOW - 1] <= header_timeout * 2,
        "a slow client outlived the header timeout: {:?}",
        lived[SLOW - 1]
    );
    assert!(
        lived[SLOW / 2] <= header_timeout + Duration::from_millis(500),
        "most slow clients outlived the header timeout: median {:?}",
        lived[SLOW / 2]
    );
    let s = &proxy.ctl.stats;
    assert!(s.connections_accepted.load(Ordering::Relaxed) >= SLOW as u64);
    // 1000 connections, each a few KiB at most while open; all gone now.
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS {rss_before} -> {rss_after} KiB"
    );
}

/// An upstream that answers every request, records the `X-Id` of each, and takes 5 ms.
fn counting_upstream(ns: &str) -> (SocketAddr, Arc<Mutex<Vec<u64>>>) {
    let listener = in_ns(ns, || TcpListener::bind("127.0.0.1:0").unwrap())
        .join()
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { return };
            let record = record.clone();
            std::thread::spawn(move || {
                while let Some(head) = read_head(&mut s) {
                    let id: u64 = head
                        .lines()
                        .find_map(|l| l.strip_prefix("X-Id: "))
                        .and_then(|v| v.trim().parse().ok())
                        .expect("every request carries an id");
                    record.lock().unwrap().push(id);
                    std::thread::sleep(Duration::from_millis(5));
                    let body = format!("{id}\n");
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// One keep-alive client's log: ids answered (with the id echoed back), ids sent without an
/// answer (the connection closed first), connections made.
#[derive(Default, Debug)]
struct ClientLog {
    answered: Vec<u64>,
    unanswered: Vec<u64>,
    connects: u64,
    refused: u64,
}

/// Sends requests with unique ids one after another on keep-alive connections until refused;
/// reconnects after every close. Never resends: what happens to each id is the test's to judge.
fn keepalive_client(addr: SocketAddr, first_id: u64) -> ClientLog {
    let mut log = ClientLog::default();
    let mut id = first_id;
    'connect: loop {
        let mut s = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(_) => {
                log.refused += 1;
                return log;
            }
        };
        log.connects += 1;
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        loop {
            id += 1;
            let req = format!("GET /r HTTP/1.1\r\nHost: x\r\nX-Id: {id}\r\n\r\n");
            if s.write_all(req.as_bytes()).is_err() {
                log.unanswered.push(id);
                continue 'connect;
            }
            // Read one whole response: head, then its Content-Length body.
            let mut b = [0u8; 4096];
            let (head_end, len) = loop {
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..p]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|v| v.trim().parse().ok())
                        .expect("length");
                    if buf.len() >= p + 4 + len {
                        break (p + 4, len);
                    }
                }
                match s.read(&mut b) {
                    Ok(0) | Err(_) => {
                        assert!(buf.is_empty(), "response cut: {buf:?}");
                        log.unanswered.push(id);
                        continue 'connect;
                    }
                    Ok(n) => buf.extend_from_slice(&b[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            let echoed: u64 = String::from_utf8_lossy(&buf[head_end..head_end + len])
                .trim()
                .parse()
                .unwrap();
            assert_eq!(echoed, id, "a response for another request");
            log.answered.push(id);
            let closes = head.contains("connection: close");
            buf.drain(..head_end + len);
            if closes {
                continue 'connect;
            }
        }
    }
}

#[test]
fn faults_drain_and_shutdown_under_load_lose_and_repeat_nothing() {
    if !require_root("faults_drain_and_shutdown") {
        return;
    }
    let _serial = serial();
    const CLIENTS: u64 = 24;
    let lab = lab("drain");
    let ns = lab.ns(0).to_string();
    let (upstream, seen) = counting_upstream(&ns);
    let mut o = local_opts();
    // A third of the responses close their connection: clients reconnect all the time.
    o.drain_ratio = 0.3;
    let mut proxy = InNs::start(
        &ns,
        o,
        Arc::new(ProxyHandler::new(UpstreamConfig::new(upstream))),
    );
    let addr = proxy.addr;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| in_ns(&ns, move || keepalive_client(addr, c * 1_000_000)))
        .collect();
    let rss_at_start = rss_kib();
    let t0 = Instant::now();
    while proxy.ctl.stats.requests.load(Ordering::Relaxed) < 1500 {
        assert!(t0.elapsed() < Duration::from_secs(20), "load never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Drain everything for a moment, then back to a share: the ratio changes under load.
    proxy.ctl.drain.set_ratio(1.0);
    std::thread::sleep(Duration::from_millis(300));
    proxy.ctl.drain.set_ratio(0.3);
    std::thread::sleep(Duration::from_millis(300));
    let drained_in = proxy.stop();
    let rss_at_stop = rss_kib();

    let logs: Vec<ClientLog> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let mut upstream_count: BTreeMap<u64, u32> = BTreeMap::new();
    for id in seen.lock().unwrap().iter() {
        *upstream_count.entry(*id).or_default() += 1;
    }
    let repeated: Vec<_> = upstream_count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "sent upstream twice: {repeated:?}");
    let answered: Vec<u64> = logs.iter().flat_map(|l| l.answered.clone()).collect();
    for id in &answered {
        assert!(
            upstream_count.contains_key(id),
            "answered {id} without the upstream"
        );
    }
    // Lost: the upstream served it, the client never heard. A request the client sent into a
    // connection closing at that very moment may be unanswered, but then it never went
    // upstream (the race RFC 9112 §9.3.1 leaves to clients, which resend).
    let lost: Vec<_> = logs
        .iter()
        .flat_map(|l| l.unanswered.iter())
        .filter(|id| upstream_count.contains_key(id))
        .collect();
    assert!(lost.is_empty(), "lost responses: {lost:?}");
    assert_eq!(answered.len(), upstream_count.len());
    let connects: u64 = logs.iter().map(|l| l.connects).sum();
    let unanswered: usize = logs.iter().map(|l| l.unanswered.len()).sum();
    eprintln!(
        "drain+shutdown: {} answered over {connects} connections, {unanswered} unanswered (never \
         sent upstream), drained in {drained_in:?}, RSS {rss_at_start} -> {rss_at_stop} KiB",
        answered.len()
    );
    let s = &proxy.ctl.stats;
    assert!(
        s.closed_drain.load(Ordering::Relaxed) > 100,
        "{}",
        s.to_json()
    );
    assert!(logs.iter().all(|l| l.refused == 1), "{logs:?}");
    assert_eq!(
        s.connections_accepted.load(Ordering::Relaxed),
        s.connections_closed.load(Ordering::Relaxed),
        "connections left after shutdown: {}",
        s.to_json()
    );
    assert!(drained_in < Duration::from_secs(3), "{drained_in:?}");
    assert!(
        rss_at_stop < rss_at_start + 32 * 1024,
        "RSS {rss_at_start} -> {rss_at_stop} KiB"
    );
    // The namespace has nothing left in any TCP state but TIME-WAIT.
    let ss = ns_sh(&ns, &["ss", "-tanH"]);
    let open: Vec<_> = ss
        .lines()
        .filter(|l| !l.starts_with("TIME-WAIT") && !l.contains(&upstream.port().to_string()))
        .collect();
    assert!(open.is_empty(), "{open:#?}");
}
