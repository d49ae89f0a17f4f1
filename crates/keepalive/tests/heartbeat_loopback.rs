//! Heartbeat server and client over real loopback sockets (no root needed).

use keepsight_keepalive::heartbeat::{
    run_client, run_client_with_app, ClientConfig, ClientEvent, ClientExit, ClientStats, EventSink,
    Server, ServerConfig, Wire, DEFAULT_MAX_APP_LEN,
};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Log = Arc<Mutex<Vec<(Instant, ClientEvent)>>>;

fn recorder() -> (EventSink, Log) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink_log = log.clone();
    let sink: EventSink = Arc::new(move |_conn, e: &ClientEvent| {
        sink_log.lock().unwrap().push((Instant::now(), e.clone()));
    });
    (sink, log)
}

/// A one-second run is at the mercy of the machine: a 100 ms scheduler stall on a loaded CI
/// host makes the client skip a slot, as it should. So the run is tried up to three times; a
/// client that drifts or bursts fails every attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beats_on_schedule_and_measures_rtt() {
    let mut failures = Vec::new();
    for _ in 0..3 {
        match one_second_of_beats().await {
            Ok(()) => return,
            Err(e) => failures.push(e),
        }
    }
    panic!("three attempts failed:\n{}", failures.join("\n"));
}

async fn one_second_of_beats() -> Result<(), String> {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let server_stats = server.stats();
    let server_task = tokio::spawn(server.run());
    let _abort = AbortOnDrop(server_task);

    let mut config = ClientConfig::new(addr);
    config.every = Duration::from_millis(50);
    config.timeout = Duration::from_millis(500);
    config.reconnect = false;
    let stats = Arc::new(ClientStats::default());
    let (sink, log) = recorder();
    let started = Instant::now();
    let run = tokio::time::timeout(
        Duration::from_millis(1040),
        run_client(config, 0, stats.clone(), sink),
    )
    .await;
    let check = |ok: bool, what: String| if ok { Ok(()) } else { Err(what) };
    check(run.is_err(), format!("client must keep beating: {run:?}"))?;
    let s = stats.snapshot();
    // Probes at 0, 50, ..., 1000 ms: 21 of them, none skipped, each answered.
    check(s.probes_sent == 21, format!("probes_sent != 21: {s:?}"))?;
    check(
        s.replies >= 20 && s.misses == 0 && s.skipped_slots == 0,
        format!("{s:?}"),
    )?;
    check(s.rtt.p50_ms < 5.0, format!("rtt: {s:?}"))?;
    // Each probe left within its own period (the tight bounds are the load tests').
    check(s.lateness.max_ms < 50.0, format!("lateness: {s:?}"))?;
    let answered = server_stats.snapshot().probes_answered;
    check(answered == 21, format!("server answered {answered}"))?;
    // No drift: the 21st reply's probe left 1000 ms after the first, not 21 × (50 + work).
    let replies: Vec<Instant> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, e)| matches!(e, ClientEvent::Reply { .. }))
        .map(|(t, _)| *t)
        .collect();
    let span = replies.last().unwrap().duration_since(replies[0]);
    check(
        span >= Duration::from_millis(945) && span <= Duration::from_millis(1060),
        format!(
            "{span:?} since first reply, started {:?} ago",
            started.elapsed()
        ),
    )
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A peer that accepts and reads but never answers: misses 1 and 2 must not declare it dead,
/// miss 3 must, at the time the schedule says.
#[tokio::test]
async fn dead_after_n_consecutive_misses_not_the_first() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        let mut got = 0;
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            got += n;
        }
        got
    });
    let mut config = ClientConfig::new(addr);
    config.every = Duration::from_millis(200);
    config.timeout = Duration::from_millis(100);
    config.misses = 3;
    config.reconnect = false;
    let stats = Arc::new(ClientStats::default());
    let (sink, log) = recorder();
    let t0 = Instant::now();
    let exit = tokio::time::timeout(
        Duration::from_secs(3),
        run_client(config, 0, stats.clone(), sink),
    )
    .await
    .expect("client must give up");
    let took = t0.elapsed();
    assert_eq!(exit, ClientExit::Dead);
    // Probes at 0, 200, 400 ms; the third times out at 500 ms.
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(650),
        "{took:?}"
    );
    let misses: Vec<u32> = log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, e)| match e {
            ClientEvent::Miss { consecutive, .. } => Some(*consecutive),
            _ => None,
        })
        .collect();
    assert_eq!(misses, [1, 2, 3]);
    assert_eq!(stats.snapshot().dead_declared, 1);
    drop(exit);
    assert_eq!(
        silent.join().unwrap(),
        3,
        "three bare probe bytes on the wire"
    );
}

/// A slow peer: replies after the timeout are late replies, not answers, but prove liveness
/// to the log; an in-time reply resets the consecutive count.
#[tokio::test]
async fn late_reply_counts_as_miss_and_order_is_kept() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1];
        // First probe answered after 150 ms (late), the others at once.
        for i in 0..4 {
            if s.read_exact(&mut buf).is_err() {
                return;
            }
            assert_eq!(buf[0], 0x01);
            if i == 0 {
                std::thread::sleep(Duration::from_millis(150));
            }
            s.write_all(&[0x41]).unwrap();
        }
        std::thread::sleep(Duration::from_secs(2));
    });
    let mut config = ClientConfig::new(addr);
    config.every = Duration::from_millis(200);
    config.timeout = Duration::from_millis(100);
    config.misses = 2;
    config.reconnect = false;
    let stats = Arc::new(ClientStats::default());
    let (sink, log) = recorder();
    let _ = tokio::time::timeout(
        Duration::from_millis(700),
        run_client(config, 0, stats.clone(), sink),
    )
    .await;
    let s = stats.snapshot();
    assert_eq!(
        (s.misses, s.late_replies, s.dead_declared),
        (1, 1, 0),
        "{s:?}"
    );
    assert!(s.replies >= 3, "{s:?}");
    let kinds: Vec<&'static str> = log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, e)| match e {
            ClientEvent::Miss { .. } => Some("miss"),
            ClientEvent::LateReply { seq: 0, rtt } => {
                assert!(*rtt >= Duration::from_millis(150), "{rtt:?}");
                Some("late0")
            }
            ClientEvent::Reply { seq, .. } => Some(["r0", "r1", "r2", "r3"][*seq as usize]),
            _ => None,
        })
        .collect();
    assert_eq!(kinds[..4], ["miss", "late0", "r1", "r2"]);
}

#[tokio::test]
async fn reconnects_with_backoff_after_server_closes() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Accept and close at once, three times.
    std::thread::spawn(move || {
        for _ in 0..3 {
            let (s, _) = listener.accept().unwrap();
            drop(s);
        }
        std::thread::sleep(Duration::from_secs(3));
    });
    let mut config = ClientConfig::new(addr);
    config.every = Duration::from_millis(100);
    config.backoff.min = Duration::from_millis(40);
    config.backoff.max = Duration::from_millis(400);
    let stats = Arc::new(ClientStats::default());
    let (sink, log) = recorder();
    let _ = tokio::time::timeout(
        Duration::from_millis(600),
        run_client(config, 0, stats.clone(), sink),
    )
    .await;
    let delays: Vec<Duration> = log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, e)| match e {
            ClientEvent::Reconnecting { delay } => Some(*delay),
            _ => None,
        })
        .collect();
    assert!(delays.len() >= 3, "{delays:?}");
    // Failure n waits within [cap/2, cap], cap = 40 ms × 2^n.
    for (n, d) in delays.iter().take(3).enumerate() {
        let cap = Duration::from_millis(40 << n);
        assert!(*d >= cap / 2 && *d <= cap, "attempt {n}: {d:?}");
    }
    assert!(stats.snapshot().reconnects >= 3);
}

// The test talks with blocking std sockets, so the server needs a worker of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn app_frames_share_the_connection() {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run());
    // Raw client: probe, app frame, probe in one write; expect reply, echo, reply.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let wire = Wire::default();
    let mut msg = vec![0x01];
    wire.encode_app(b"hello, world", &mut msg).unwrap();
    msg.push(0x01);
    s.write_all(&msg).unwrap();
    let mut want = vec![0x41];
    wire.encode_app(b"hello, world", &mut want).unwrap();
    want.push(0x41);
    let mut got = vec![0u8; want.len()];
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, want);
    // A foreign byte ends the connection after answering what came before it.
    s.write_all(&[0x01, 0x7f, 0x01]).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, [0x41]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_carries_application_messages_between_beats() {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let server_stats = server.stats();
    tokio::spawn(server.run());
    let mut config = ClientConfig::new(addr);
    config.every = Duration::from_millis(50);
    config.reconnect = false;
    let stats = Arc::new(ClientStats::default());
    let (sink, log) = recorder();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    for msg in [&b"first"[..], b"", b"third message"] {
        tx.send(msg.to_vec()).await.unwrap();
    }
    tx.send(vec![0u8; (DEFAULT_MAX_APP_LEN + 1) as usize])
        .await
        .unwrap();
    let _ = tokio::time::timeout(
        Duration::from_millis(300),
        run_client_with_app(config, 0, stats.clone(), sink, Some(rx)),
    )
    .await;
    let log = log.lock().unwrap();
    let echoed: Vec<Vec<u8>> = log
        .iter()
        .filter_map(|(_, e)| match e {
            ClientEvent::App { payload } => Some(payload.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        echoed,
        [b"first".to_vec(), b"".to_vec(), b"third message".to_vec()]
    );
    assert!(log
        .iter()
        .any(|(_, e)| matches!(e, ClientEvent::AppTooLong { len } if *len == DEFAULT_MAX_APP_LEN as usize + 1)));
    let s = stats.snapshot();
    assert!(s.replies >= 5 && s.misses == 0, "{s:?}");
    assert_eq!(server_stats.snapshot().app_frames, 3);
}

/// `idle_timeout` closes a silent client, and only a silent one.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn server_closes_silent_clients_after_the_idle_timeout() {
    let config = ServerConfig {
        idle_timeout: Some(Duration::from_millis(300)),
        ..ServerConfig::default()
    };
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let server_stats = server.stats();
    tokio::spawn(server.run());
    let silent = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let t0 = Instant::now();
        let mut b = [0u8; 1];
        let n = s.read(&mut b).unwrap();
        (n, t0.elapsed())
    });
    let mut beating = ClientConfig::new(addr);
    beating.every = Duration::from_millis(100);
    beating.reconnect = false;
    let stats = Arc::new(ClientStats::default());
    let (sink, _log) = recorder();
    let run = tokio::time::timeout(
        Duration::from_millis(900),
        run_client(beating, 0, stats.clone(), sink),
    )
    .await;
    assert!(run.is_err(), "a beating client must not be closed: {run:?}");
    let (n, took) = silent.join().unwrap();
    assert_eq!(n, 0, "the silent client must see the server close");
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_millis(800),
        "{took:?}"
    );
    assert_eq!(server_stats.snapshot().idle_closed, 1);
}
