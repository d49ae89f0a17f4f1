//! `heartbeat client --protocol`: the client against real peers on loopback — a real
//! `redis-server`, and for FIX, ISO 8583 and AMQP 0-9-1 a Python peer (`peers/app_peer.py`)
//! that speaks the protocol with its own encoder and parser and checks every message the
//! client sent. Each peer stalls after a few beats, so each test also sees the client notice
//! the silence through the one schedule/timeout/misses engine.

use keepsight_keepalive::heartbeat::{
    run_client, ClientConfig, ClientEvent, ClientExit, ClientStats, Dialect, EventSink,
};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Log = Arc<Mutex<Vec<ClientEvent>>>;

fn recorder() -> (EventSink, Log) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink_log = log.clone();
    let sink: EventSink = Arc::new(move |_conn, e: &ClientEvent| {
        sink_log.lock().unwrap().push(e.clone());
    });
    (sink, log)
}

/// The Python peer, listening; its first line of output is its port.
struct Peer {
    child: Child,
    addr: SocketAddr,
}

impl Peer {
    fn start(protocol: &str, stall_after: u32, heartbeat_s: u32) -> Peer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/app_peer.py");
        let mut child = Command::new("python3")
            .args([
                script,
                protocol,
                &stall_after.to_string(),
                &heartbeat_s.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the test peers (apt-get install python3)");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().expect("the peer prints its port first");
        Peer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// What the peer received and checked, once the client has gone.
    fn report(mut self) -> Value {
        let mut rest = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut rest)
            .unwrap();
        self.child.wait().unwrap();
        serde_json::from_str(rest.lines().last().expect("the peer's report"))
            .unwrap_or_else(|e| panic!("peer report {rest:?}: {e}"))
    }
}

async fn run(config: ClientConfig) -> (ClientExit, Vec<ClientEvent>, ClientStats) {
    let stats = Arc::new(ClientStats::default());
    let (sink, log) = recorder();
    let exit = tokio::time::timeout(
        Duration::from_secs(25),
        run_client(config, 0, stats.clone(), sink),
    )
    .await
    .expect("the client must notice the stalled peer and end");
    let events = log.lock().unwrap().clone();
    (exit, events, Arc::try_unwrap(stats).unwrap_or_default())
}

fn client(addr: SocketAddr, dialect: Dialect, every_ms: u64, timeout_ms: u64) -> ClientConfig {
    let mut config = ClientConfig::new(addr);
    config.dialect = dialect;
    config.every = Duration::from_millis(every_ms);
    config.timeout = Duration::from_millis(timeout_ms);
    config.misses = 2;
    config.reconnect = false;
    config
}

fn count(events: &[ClientEvent], pred: impl Fn(&ClientEvent) -> bool) -> usize {
    events.iter().filter(|e| pred(e)).count()
}

#[tokio::test]
async fn fix_heartbeats_test_request_and_logout_against_a_fix_peer() {
    let peer = Peer::start("fix", 3, 0);
    let (exit, events, stats) = run(client(peer.addr, Dialect::Fix, 1000, 500)).await;
    assert_eq!(exit, ClientExit::Dead, "{events:?}");
    let report = peer.report();
    let got = report["received"].as_array().unwrap();
    let types: Vec<&str> = got.iter().map(|m| m["type"].as_str().unwrap()).collect();
    // Every message well framed (the peer's own BodyLength/CheckSum check), numbered 1, 2, 3...
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m["ok"], true, "{m}");
        assert_eq!(m["seq"], i as u64 + 1, "{types:?}");
        let time = m["sending_time"].as_str().unwrap();
        assert_eq!(
            (time.len(), &time[8..9], &time[17..18]),
            (21, "-", "."),
            "{time}"
        );
    }
    assert_eq!(types[0], "A");
    assert_eq!(got[0]["tag108"], "1", "HeartBtInt from --every");
    // Heartbeats while the peer beats; TestRequests once it is silent; then Logout.
    let beats = types.iter().filter(|t| **t == "0").count();
    assert!(beats >= 2, "{types:?}");
    let tests: Vec<&Value> = got.iter().filter(|m| m["type"] == "1").collect();
    assert_eq!(
        tests.len(),
        2,
        "two unanswered TestRequests = --misses 2: {types:?}"
    );
    assert_ne!(tests[0]["tag112"], tests[1]["tag112"]);
    assert_eq!(types.last(), Some(&"5"), "{types:?}");
    assert_eq!(got.last().unwrap()["tag58"], "no heartbeat");
    assert_eq!(stats.snapshot().misses, 2);
    assert!(count(&events, |e| matches!(e, ClientEvent::SessionOpen { .. })) == 1);
}

#[tokio::test]
async fn fix_peer_that_keeps_beating_needs_no_test_request() {
    // The peer beats every HeartBtInt (1 s) on its own: never overdue, so the client only
    // sends Heartbeats and counts no miss.
    let peer = Peer::start("fix", 100, 0);
    let mut config = client(peer.addr, Dialect::Fix, 1000, 500);
    config.reconnect = false;
    let stats = Arc::new(ClientStats::default());
    let (sink, log) = recorder();
    let ran = tokio::time::timeout(
        Duration::from_millis(4500),
        run_client(config, 0, stats.clone(), sink),
    )
    .await;
    assert!(ran.is_err(), "a beating peer keeps the session up: {ran:?}");
    let events = log.lock().unwrap().clone();
    assert_eq!(stats.snapshot().misses, 0, "{events:?}");
    assert!(count(&events, |e| matches!(e, ClientEvent::Beat { .. })) >= 3);
    let report = peer.report();
    let types: Vec<&str> = report["received"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert!(types[1..].iter().all(|t| *t == "0"), "{types:?}");
}

#[tokio::test]
async fn iso8583_echo_tests_paired_by_trace_number() {
    let peer = Peer::start("iso8583", 4, 0);
    let (exit, events, stats) = run(client(peer.addr, Dialect::Iso8583, 200, 150)).await;
    assert_eq!(exit, ClientExit::Dead);
    let report = peer.report();
    let got = report["received"].as_array().unwrap();
    assert_eq!(got.len(), 6, "4 answered, 2 missed: {got:?}");
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m["mti"], "0800");
        assert_eq!(m["whole"], true, "exactly fields 7, 11, 70: {m}");
        assert_eq!(m["fields"]["70"], "301");
        assert_eq!(m["fields"]["11"], format!("{:06}", i + 1));
        assert_eq!(m["fields"]["7"].as_str().unwrap().len(), 10);
    }
    let s = stats.snapshot();
    assert_eq!((s.replies, s.misses), (4, 2), "{events:?}");
}

#[tokio::test]
async fn amqp_negotiates_the_heartbeat_and_judges_the_peer_by_its_frames() {
    // The peer proposes 1 s, the client asks for 2 s: the lower one is settled.
    let peer = Peer::start("amqp", 3, 1);
    let (exit, events, stats) = run(client(peer.addr, Dialect::Amqp, 2000, 300)).await;
    assert_eq!(exit, ClientExit::Dead, "{events:?}");
    let report = peer.report();
    assert_eq!(report["header_ok"], true);
    let got = report["received"].as_array().unwrap();
    let methods: Vec<&Value> = got.iter().filter(|f| f["frame"] == 1).collect();
    assert_eq!(methods[0]["mechanism"], "PLAIN");
    assert_eq!(
        methods[1]["tune_ok"][2], 1,
        "TuneOk settles the lower heartbeat"
    );
    assert_eq!(methods[2]["vhost"], "/");
    assert!(got.iter().all(|f| f["end_ok"] == true));
    let heartbeats = got.iter().filter(|f| f["frame"] == 8).count();
    assert!(heartbeats >= 3, "{got:?}");
    let close = &methods.last().unwrap()["close"];
    assert_eq!(close[1], "no heartbeat");
    assert!(
        events.iter().any(
            |e| matches!(e, ClientEvent::SessionOpen { every } if *every == Duration::from_secs(1))
        ),
        "{events:?}"
    );
    assert_eq!(stats.snapshot().misses, 2);
}

/// A free loopback port for redis-server, which cannot pick its own and report it.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn redis_ping_pong_against_redis_server_and_a_busy_server_missed() {
    let port = free_port();
    let server = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "no", "--enable-debug-command", "local"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server runs the Redis test (apt-get install redis-server)");
    let _server = KillOnDrop(server);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut admin = None;
    for _ in 0..100 {
        match std::net::TcpStream::connect(addr) {
            Ok(s) => {
                admin = Some(s);
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let mut admin = admin.expect("redis-server listening");
    let stats = Arc::new(ClientStats::default());
    let (sink, log) = recorder();
    let beating = tokio::spawn(run_client(
        client(addr, Dialect::Redis, 100, 80),
        0,
        stats.clone(),
        sink,
    ));
    tokio::time::sleep(Duration::from_millis(550)).await;
    // Redis runs commands one at a time: while it sleeps, PINGs wait unanswered.
    admin
        .write_all(b"*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$1\r\n1\r\n")
        .unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), beating)
        .await
        .expect("a busy Redis is noticed")
        .unwrap();
    assert_eq!(exit, ClientExit::Dead);
    let events = log.lock().unwrap().clone();
    let s = stats.snapshot();
    assert!(s.replies >= 4, "PONGs before the sleep: {events:?}");
    assert_eq!(s.misses, 2, "{events:?}");
}
