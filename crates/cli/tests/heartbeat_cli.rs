//! `keepsight heartbeat serve|client` as a user runs them: real processes, real sockets.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_keepsight");

/// A child process killed on drop, so a failing test leaves nothing running.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve` (optionally through a prefix such as `ip netns exec NS`) and waits for its
/// "listening on" line; returns the process and the address it reports.
fn serve(prefix: &[&str], listen: &str) -> (Proc, String) {
    let mut cmd = if prefix.is_empty() {
        Command::new(BIN)
    } else {
        let mut c = Command::new(prefix[0]);
        c.args(&prefix[1..]).arg(BIN);
        c
    };
    let mut child = cmd
        .args(["heartbeat", "serve", "--listen", listen, "--quiet"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start server");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("server output").unwrap();
    let addr = first
        .split("listening on ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_string();
    // Keep draining so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Proc(child), addr)
}

fn last_json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_else(|| {
        panic!(
            "no output; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[test]
fn client_and_server_on_loopback_with_json_stats() {
    let (_server, addr) = serve(&[], "127.0.0.1:0");
    let out = Command::new(BIN)
        .args([
            "heartbeat",
            "client",
            "--connect",
            &addr,
            "--every",
            "100ms",
            "--timeout",
            "500ms",
            "--duration",
            "1050ms",
            "--stats",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = last_json(&out);
    assert_eq!(v["kind"], "client-stats");
    let c = &v["client"];
    // Probes at 0, 100, ..., 1000 ms.
    assert_eq!(c["probes_sent"], 11, "{v}");
    assert_eq!(c["misses"], 0, "{v}");
    assert!(c["replies"].as_u64().unwrap() >= 10, "{v}");
    assert!(c["rtt"]["p50_ms"].as_f64().unwrap() < 10.0, "{v}");
    // The log went to stderr, one line per reply, with millisecond UTC timestamps.
    let log = String::from_utf8_lossy(&out.stderr);
    let reply = log
        .lines()
        .find(|l| l.contains(" reply seq=0 "))
        .expect("reply logged");
    let ts = reply.split(' ').next().unwrap();
    assert_eq!(ts.len(), "2026-11-29T01:34:15.123Z".len(), "{reply}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.', "{reply}");
}

#[test]
fn kernel_keepalive_underneath_is_set_and_read_back() {
    let (_server, addr) = serve(&[], "127.0.0.1:0");
    let out = Command::new(BIN)
        .args([
            "heartbeat",
            "client",
            "--connect",
            &addr,
            "--every",
            "100ms",
            "--duration",
            "250ms",
            "--keepalive",
            "30s:5s:3",
            "--user-timeout",
            "10s",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stdout);
    // The values come from getsockopt on the connected socket, not from the flags.
    assert!(
        log.contains("(keep-alive idle=30s interval=5s probes=3 user_timeout=10s)"),
        "{log}"
    );
    let out = Command::new(BIN)
        .args([
            "heartbeat",
            "client",
            "--connect",
            &addr,
            "--user-timeout",
            "10s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--user-timeout needs --keepalive"));
}

/// `serve --so-keepalive` must arm the kernel's keep-alive timer on accepted sockets: `ss`
/// shows the timer the kernel is running, counting down from the idle time.
#[test]
fn serve_so_keepalive_arms_the_kernel_timer() {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "heartbeat",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--quiet",
        "--so-keepalive",
        "30s:5s:3",
    ]);
    let mut child = Proc(cmd.stdout(Stdio::piped()).spawn().unwrap());
    let first = BufReader::new(child.0.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let port = first
        .split("listening on 127.0.0.1:")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let _client = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    // The accept happens asynchronously; poll briefly (bounded).
    let mut seen = String::new();
    for _ in 0..40 {
        let out = Command::new("ss")
            .args([
                "-Htno",
                "state",
                "established",
                &format!("( sport = :{port} )"),
            ])
            .output()
            .expect("ss (iproute2)");
        seen = String::from_utf8_lossy(&out.stdout).into_owned();
        if seen.contains("timer:(keepalive,") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let secs: u32 = seen
        .split("timer:(keepalive,")
        .nth(1)
        .and_then(|t| t.split("sec").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no keep-alive timer on the server socket: {seen}"));
    assert!(
        (25..=30).contains(&secs),
        "timer at {secs} s, expected just under 30: {seen}"
    );
}

#[test]
fn many_connections_from_several_source_addresses() {
    let (_server, addr) = serve(&[], "127.0.0.1:0");
    let out = Command::new(BIN)
        .args([
            "heartbeat",
            "client",
            "--connect",
            &addr,
            "--connections",
            "200",
            "--bind",
            "127.0.0.2,127.0.0.3",
            "--every",
            "500ms",
            "--ramp",
            "200ms",
            "--duration",
            "1600ms",
            "--stats",
            "--json",
            "--log",
            "none",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = last_json(&out)["client"].clone();
    assert_eq!(c["connects"], 200, "{c}");
    assert_eq!(c["misses"], 0, "{c}");
    // 200 connections, phases spread over 500 ms, 1.6 s: each sends 3 or 4 probes.
    let probes = c["probes_sent"].as_u64().unwrap();
    assert!((600..=800).contains(&probes), "{c}");
}

#[test]
fn help_teaches_with_examples() {
    for sub in ["serve", "client"] {
        let out = Command::new(BIN)
            .args(["heartbeat", sub, "--help"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Examples:"), "{sub}: {text}");
        assert!(text.contains("keepsight heartbeat"), "{sub}: {text}");
    }
    let out = Command::new(BIN)
        .args([
            "heartbeat",
            "client",
            "--connect",
            "127.0.0.1:1",
            "--probe",
            "02",
        ])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reserved for application frames"));
    // Durations that would overflow a monotonic deadline are refused up front, not a panic.
    for (flag, value, needle) in [
        ("--every", "400d", "the probe period of 400d is too long"),
        (
            "--stats-every",
            "400d",
            "--stats-every 400d must be above zero and at most 366 days",
        ),
        (
            "--every",
            "99999999d",
            "invalid duration `99999999d`: too large",
        ),
    ] {
        let out = Command::new(BIN)
            .args([
                "heartbeat",
                "client",
                "--connect",
                "127.0.0.1:1",
                flag,
                value,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{flag}"
        );
    }
}

#[test]
fn connection_refused_then_give_up_without_reconnect() {
    // A port nobody listens on (bound then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(BIN)
        .args([
            "heartbeat",
            "client",
            "--connect",
            &format!("127.0.0.1:{port}"),
            "--no-reconnect",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Connection refused"));
}

/// The incident, replayed through the CLI in two namespaces: the server's host vanishes
/// (all its traffic dropped by nft); the client must declare it dead after three misses,
/// not one, and exit 1. Needs root.
#[test]
fn cli_declares_a_vanished_server_dead_after_three_misses() {
    if !keepsight_testlab::require_root("cli_declares_a_vanished_server_dead_after_three_misses") {
        return;
    }
    let base = format!("ks-{}-cli-hb", std::process::id());
    let (c, s) = (format!("{base}-c"), format!("{base}-s"));
    struct Guard(Vec<String>);
    impl Drop for Guard {
        fn drop(&mut self) {
            for ns in &self.0 {
                let _ = Command::new("ip").args(["netns", "del", ns]).status();
            }
        }
    }
    let run = |args: &[&str]| {
        let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let mut guard = Guard(Vec::new());
    for ns in [&c, &s] {
        run(&["ip", "netns", "add", ns]);
        guard.0.push(ns.clone());
    }
    run(&[
        "ip", "link", "add", "eth0", "netns", &c, "type", "veth", "peer", "name", "eth0", "netns",
        &s,
    ]);
    for (ns, addr) in [(&c, "10.79.0.1/24"), (&s, "10.79.0.2/24")] {
        run(&[
            "ip", "netns", "exec", ns, "ip", "addr", "add", addr, "dev", "eth0",
        ]);
        run(&["ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up"]);
        run(&["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
    }
    let (_server, addr) = serve(&["ip", "netns", "exec", &s], "10.79.0.2:7000");
    assert_eq!(addr, "10.79.0.2:7000");
    let client = Command::new("ip")
        .args([
            "netns",
            "exec",
            &c,
            BIN,
            "heartbeat",
            "client",
            "--connect",
            "10.79.0.2:7000",
            "--every",
            "250ms",
            "--timeout",
            "150ms",
            "--misses",
            "3",
            "--no-reconnect",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut client = Proc(client);
    let mut lines = BufReader::new(client.0.stdout.take().unwrap()).lines();
    // Wait for two answered beats, then make the server's host vanish.
    let mut replies = 0;
    for line in lines.by_ref() {
        if line.unwrap().contains(" reply seq=") {
            replies += 1;
            if replies == 2 {
                break;
            }
        }
    }
    run(&[
        "ip", "netns", "exec", &s, "nft", "add", "table", "inet", "ks",
    ]);
    for hook in ["input", "output"] {
        run(&[
            "ip",
            "netns",
            "exec",
            &s,
            "nft",
            "add",
            "chain",
            "inet",
            "ks",
            hook,
            &format!("{{ type filter hook {hook} priority 0; policy drop; }}"),
        ]);
    }
    let vanished = Instant::now();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let took = vanished.elapsed();
    let status = client.0.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{rest:?}");
    let misses: Vec<&String> = rest.iter().filter(|l| l.contains(" miss seq=")).collect();
    assert_eq!(misses.len(), 3, "{rest:?}");
    assert!(
        misses[0].contains("1 in a row") && misses[2].contains("3 in a row"),
        "{rest:?}"
    );
    assert!(
        rest.iter()
            .any(|l| l.contains("peer declared dead after 3 consecutive misses")),
        "{rest:?}"
    );
    // Three periods plus the timeout at most after the host vanished, and at least two
    // periods plus the timeout (the third miss cannot come sooner).
    assert!(
        took >= Duration::from_millis(650) && took <= Duration::from_millis(1400),
        "{took:?}: {rest:?}"
    );
}

/// `--protocol redis` against a real redis-server: PING/PONG with the usual statistics, and a
/// period a protocol cannot say (FIX's HeartBtInt is whole seconds) or an unknown protocol
/// refused as usage errors.
#[test]
fn protocol_redis_against_redis_server_and_protocol_usage_errors() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let redis = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server runs this test (apt-get install redis-server)");
    let _redis = Proc(redis);
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "redis-server not listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = Command::new(BIN)
        .args([
            "heartbeat",
            "client",
            "--connect",
            &addr,
            "--protocol",
            "redis",
        ])
        .args([
            "--every",
            "100ms",
            "--duration",
            "550ms",
            "--stats",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = last_json(&out);
    let c = &v["client"];
    // PINGs at 0, 100, ..., 500 ms; the last PONG may come after the 550 ms stop.
    assert_eq!(c["probes_sent"], 6, "{v}");
    assert!(c["replies"].as_u64().unwrap() >= 5, "{v}");
    assert_eq!(c["misses"], 0, "{v}");

    for (args, says) in [
        (
            &["--protocol", "fix", "--every", "1500ms"][..],
            "whole seconds",
        ),
        (
            &["--protocol", "smtp"][..],
            "expected bytes, fix, iso8583, amqp or redis",
        ),
    ] {
        let out = Command::new(BIN)
            .args(["heartbeat", "client", "--connect", &addr])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
