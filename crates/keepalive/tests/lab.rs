//! Proof in a lab: network namespaces linked by veth pairs, traffic dropped with nft, a NAT
//! built with iptables and conntrack. The kernel's real TCP stack is the oracle; nothing is
//! mocked. Needs root (fails without it, see `keepsight_testlab::require_root`; CI runs as
//! root).

use keepsight_keepalive::heartbeat::{
    run_client, ClientConfig, ClientEvent, ClientExit, ClientStats, EventSink, Server,
    ServerConfig, Wire,
};
use keepsight_keepalive::{Effective, KeepaliveSettings, SystemDefaults};
use keepsight_testlab::{in_ns, require_root, spawn_in_ns, Lab, NatLab};
use socket2::SockRef;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

type Log = Arc<Mutex<Vec<(Instant, ClientEvent)>>>;

fn recorder(replies: Option<mpsc::Sender<()>>) -> (EventSink, Log) {
    let log: Log = Arc::default();
    let sink_log = log.clone();
    let replies = Mutex::new(replies);
    let sink: EventSink = Arc::new(move |_, e: &ClientEvent| {
        sink_log.lock().unwrap().push((Instant::now(), e.clone()));
        if let ClientEvent::Reply { .. } = e {
            if let Some(tx) = replies.lock().unwrap().as_ref() {
                let _ = tx.send(());
            }
        }
    });
    (sink, log)
}

/// Starts a heartbeat server inside `ns`; returns once it listens. Dropping the sender stops it.
fn start_server(ns: &str, addr: &str) -> tokio::sync::oneshot::Sender<()> {
    let addr: SocketAddr = addr.parse().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    spawn_in_ns(ns, move || async move {
        let server = Server::bind(addr, ServerConfig::default())
            .await
            .expect("bind");
        ready_tx.send(()).unwrap();
        tokio::select! {
            _ = server.run() => {}
            _ = stop_rx => {}
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("server did not start");
    stop_tx
}

fn app_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Wire::default().encode_app(payload, &mut out).unwrap();
    out
}

/// Sends an application frame and waits up to `within` for the server's echo.
fn echo(s: &mut TcpStream, payload: &[u8], within: Duration) -> std::io::Result<()> {
    let frame = app_frame(payload);
    s.write_all(&frame)?;
    s.set_read_timeout(Some(within))?;
    let mut back = vec![0u8; frame.len()];
    s.read_exact(&mut back)?;
    assert_eq!(back, frame);
    Ok(())
}

#[test]
fn kernel_keepalive_notices_a_dead_peer_on_time_not_before() {
    if !require_root("kernel_keepalive_notices_a_dead_peer_on_time_not_before") {
        return;
    }
    let lab = Lab::new(&["c", "s"]);
    lab.link(0, "eth0", "10.77.0.1/24", 1, "eth0", "10.77.0.2/24");
    let listener = in_ns(lab.ns(1), || TcpListener::bind("10.77.0.2:7000").unwrap())
        .join()
        .unwrap();
    let cases = [
        // Count-limited: probes at 2, 3, 4 s; given up at 5 s.
        KeepaliveSettings {
            idle: Some(Duration::from_secs(2)),
            interval: Some(Duration::from_secs(1)),
            count: Some(3),
            user_timeout: None,
        },
        // User-timeout-limited: the count of 9 is ignored; probes at 2, 3 s; given up at 4 s.
        KeepaliveSettings {
            idle: Some(Duration::from_secs(2)),
            interval: Some(Duration::from_secs(1)),
            count: Some(9),
            user_timeout: Some(Duration::from_millis(3500)),
        },
    ];
    let mut conns = Vec::new();
    for settings in cases {
        let client = in_ns(lab.ns(0), || TcpStream::connect("10.77.0.2:7000").unwrap())
            .join()
            .unwrap();
        settings.apply(SockRef::from(&client)).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        conns.push((client, server_side, settings));
    }
    // The last segment from the peer: one byte each, then the peer vanishes.
    let mut readers = Vec::new();
    for (client, server_side, _) in &mut conns {
        server_side.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        client.read_exact(&mut b).unwrap();
    }
    let last_heard = Instant::now();
    lab.blackhole(1);
    for (client, _, settings) in &conns {
        let mut client = client.try_clone().unwrap();
        let expected = settings
            .resolve(&SystemDefaults::read().unwrap())
            .worst_case_detection();
        readers.push(std::thread::spawn(move || {
            client
                .set_read_timeout(Some(Duration::from_secs(15)))
                .unwrap();
            let mut b = [0u8; 1];
            let err = client
                .read(&mut b)
                .expect_err("a dead peer must not deliver data");
            (err, last_heard.elapsed(), expected)
        }));
    }
    for r in readers {
        let (err, took, expected) = r.join().unwrap();
        assert_eq!(
            err.raw_os_error(),
            Some(libc::ETIMEDOUT),
            "the kernel must drop the connection by keep-alive, got {err}"
        );
        assert!(
            took + Duration::from_millis(100) >= expected,
            "dropped after {took:?}, before the computed bound {expected:?}"
        );
        assert!(
            took <= expected + Duration::from_millis(1000),
            "dropped after {took:?}, well after the computed bound {expected:?}"
        );
        eprintln!("kernel keep-alive: computed {expected:?}, kernel took {took:?}");
    }
    drop(conns);
}

#[test]
fn heartbeat_declares_a_dead_peer_after_n_misses_on_schedule() {
    if !require_root("heartbeat_declares_a_dead_peer_after_n_misses_on_schedule") {
        return;
    }
    let lab = Lab::new(&["c", "s"]);
    lab.link(0, "eth0", "10.77.1.1/24", 1, "eth0", "10.77.1.2/24");
    let _stop = start_server(lab.ns(1), "10.77.1.2:7000");
    let every = Duration::from_millis(300);
    let timeout = Duration::from_millis(200);
    let misses = 3u32;
    let mut config = ClientConfig::new("10.77.1.2:7000".parse().unwrap());
    config.every = every;
    config.timeout = timeout;
    config.misses = misses;
    config.reconnect = false;
    let stats = Arc::new(ClientStats::default());
    let (tx, rx) = mpsc::channel();
    let (sink, log) = recorder(Some(tx));
    let client_stats = stats.clone();
    let client = spawn_in_ns(lab.ns(0), move || async move {
        tokio::time::timeout(
            Duration::from_secs(10),
            run_client(config, 0, client_stats, sink),
        )
        .await
    });
    for _ in 0..3 {
        rx.recv_timeout(Duration::from_secs(3))
            .expect("the live peer must answer");
    }
    lab.blackhole(1);
    let exit = client
        .join()
        .unwrap()
        .expect("client must give up within 10 s");
    assert_eq!(exit, ClientExit::Dead);
    let log = log.lock().unwrap();
    let dead_at = log
        .iter()
        .find(|(_, e)| matches!(e, ClientEvent::Dead { .. }))
        .unwrap()
        .0;
    let last_reply = log
        .iter()
        .rev()
        .find(|(_, e)| matches!(e, ClientEvent::Reply { .. }))
        .unwrap()
        .0;
    let consecutive: Vec<u32> = log
        .iter()
        .filter_map(|(_, e)| match e {
            ClientEvent::Miss { consecutive, .. } => Some(*consecutive),
            _ => None,
        })
        .collect();
    assert_eq!(
        consecutive,
        [1, 2, 3],
        "dead after the third miss, not the first"
    );
    // After the last answered probe: the next is due one period later, and the peer is dead
    // when the third unanswered probe's timeout expires.
    let expected = every * misses + timeout;
    let took = dead_at - last_reply;
    assert!(
        took + Duration::from_millis(30) >= expected
            && took <= expected + Duration::from_millis(150),
        "declared dead {took:?} after the last reply, expected {expected:?}"
    );
    let s = stats.snapshot();
    assert_eq!((s.misses, s.dead_declared), (3, 1), "{s:?}");
    eprintln!("heartbeat: dead {took:?} after the last reply (schedule says {expected:?})");
}

/// A NAT whose conntrack forgets established TCP after 3 s of silence, as NAT gateways do
/// (after minutes). Mid-stream packets without an entry are invalid and dropped
/// (`nf_conntrack_tcp_loose=0`), so a forgotten connection is dead for good.
#[test]
fn nat_forgets_idle_connections_unless_kept_alive() {
    if !require_root("nat_forgets_idle_connections_unless_kept_alive") {
        return;
    }
    let nat = NatLab::new("10.78", 3);
    let (lab, c) = (&nat.lab, nat.client().to_string());
    // The server has no route to the client's network: only the NAT can reach it.
    let _stop = start_server(lab.ns(2), "10.78.2.2:7000");
    let nat_timeout = Duration::from_secs(3);
    let idle = Duration::from_secs(6);
    let connect = |c: &str| {
        in_ns(c, || TcpStream::connect("10.78.2.2:7000").unwrap())
            .join()
            .unwrap()
    };

    // (a) No keep-alive: idle past the NAT timeout, then the connection is dead. A user
    // timeout turns "retransmits forever" into a crisp ETIMEDOUT.
    let mut plain = connect(&c);
    SockRef::from(&plain)
        .set_tcp_user_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    echo(&mut plain, b"a1", Duration::from_secs(2)).expect("fresh connection works");
    let plain_check = std::thread::spawn(move || {
        std::thread::sleep(idle);
        echo(&mut plain, b"a2", Duration::from_secs(8))
    });

    // (b) Kernel keep-alive with idle 1 s < NAT timeout: probes refresh the entry.
    let mut kept = connect(&c);
    let settings = KeepaliveSettings {
        idle: Some(Duration::from_secs(1)),
        interval: Some(Duration::from_secs(1)),
        count: Some(3),
        user_timeout: None,
    };
    let eff: Effective = settings.resolve(&SystemDefaults::read().unwrap());
    assert!(eff.versus_middlebox(nat_timeout).keeps_entry_alive);
    settings.apply(SockRef::from(&kept)).unwrap();
    echo(&mut kept, b"b1", Duration::from_secs(2)).expect("fresh connection works");
    let kept_check = std::thread::spawn(move || {
        std::thread::sleep(idle);
        echo(&mut kept, b"b2", Duration::from_secs(2))
    });

    // (c) Heartbeats every 1 s < NAT timeout keep it; (d) every 5 s > NAT timeout do not.
    let beat = |every: Duration, misses: u32, run_for: Duration| {
        let mut config = ClientConfig::new("10.78.2.2:7000".parse().unwrap());
        config.every = every;
        config.timeout = Duration::from_millis(800);
        config.misses = misses;
        config.reconnect = false;
        let stats = Arc::new(ClientStats::default());
        let (sink, _log) = recorder(None);
        let st = stats.clone();
        let handle = spawn_in_ns(&c, move || async move {
            tokio::time::timeout(run_for, run_client(config, 0, st, sink)).await
        });
        (handle, stats)
    };
    let (short_beats, short_stats) = beat(Duration::from_secs(1), 2, Duration::from_millis(6500));
    let (long_beats, long_stats) = beat(Duration::from_secs(5), 1, Duration::from_secs(9));

    let plain_result = plain_check.join().unwrap();
    let err =
        plain_result.expect_err("an idle connection through the NAT must die without keep-alive");
    assert_eq!(
        err.raw_os_error(),
        Some(libc::ETIMEDOUT),
        "expected the user timeout to kill the forgotten connection, got {err}"
    );
    kept_check
        .join()
        .unwrap()
        .expect("keep-alive probes must keep the NAT entry and the connection alive");

    assert!(
        short_beats.join().unwrap().is_err(),
        "1 s heartbeats must still be running (no death) when stopped"
    );
    let s = short_stats.snapshot();
    assert!(s.probes_sent >= 6, "{s:?}");
    assert_eq!((s.misses, s.connects, s.reconnects), (0, 1, 0), "{s:?}");

    let long_exit = long_beats
        .join()
        .unwrap()
        .expect("5 s heartbeats must lose the peer");
    assert_eq!(long_exit, ClientExit::Dead);
    let s = long_stats.snapshot();
    assert_eq!(
        (s.replies, s.misses),
        (1, 1),
        "first probe answered, the one after the NAT timeout lost: {s:?}"
    );
}
