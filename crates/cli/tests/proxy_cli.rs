//! `keepsight proxy` as a user runs it, in front of nginx: drain share and its change at run
//! time through the admin endpoint, and SIGTERM under load losing no request.

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// nginx on loopback with `server_body` in its server block (access log kept under `dir`).
fn nginx(dir: &std::path::Path, server_body: &str) -> (Guard, SocketAddr) {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let http = format!(
        "access_log {}/access.log;\n  keepalive_requests 100000;",
        dir.display()
    );
    (common::nginx(dir, addr, &http, server_body, &[]), addr)
}

/// The proxy's later standard-error lines, collected in the background.
type Stderr = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

fn proxy(args: &[&str]) -> (Guard, String, Option<String>, Stderr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("proxy")
        .args(["--listen", "127.0.0.1:0", "--workers", "2"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut addr, mut admin) = (None, None);
    let want_admin = args.contains(&"--admin");
    while let Some(Ok(line)) = lines.next() {
        if let Some(a) = line.strip_prefix("keepsight proxy: listening on ") {
            addr = Some(a.to_string());
        }
        if let Some(a) = line.strip_prefix("keepsight proxy: admin on ") {
            admin = Some(a.to_string());
        }
        if addr.is_some() && (admin.is_some() || !want_admin) {
            break;
        }
    }
    let rest = Stderr::default();
    let keep = rest.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            keep.lock().unwrap().push(line);
        }
    });
    (Guard(child), addr.expect("listening line"), admin, rest)
}

fn peer(args: &[&str], limit: Duration) -> serde_json::Value {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proxy/tests/peers/http_peer.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("peer {args:?} ran longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn drain_share_and_runtime_change_through_the_binary() {
    let dir = scratch("drain");
    let (_ng, up) = nginx(&dir, "location / { return 200 \"up\\n\"; }");
    let (_p, addr, admin, _) = proxy(&[
        "--upstream",
        &up.to_string(),
        "--drain-ratio",
        "0.3",
        "--keepalive-requests",
        "0",
        "--admin",
        "127.0.0.1:0",
    ]);
    let admin = admin.unwrap();
    let port = addr.rsplit(':').next().unwrap();
    let r = peer(
        &["drain", "127.0.0.1", port, "2000"],
        Duration::from_secs(90),
    );
    let closes = r["closes"].as_u64().unwrap();
    let share = closes as f64 / 2000.0;
    assert!((share - 0.3).abs() <= 0.05, "{r}");
    assert_eq!(r["not_eof_after_close"], 0, "{r}");
    let stats: serde_json::Value =
        serde_json::from_str(&curl(&[&format!("http://{admin}/stats")])).unwrap();
    assert_eq!(stats["closed_drain"], closes, "{stats}");
    assert_eq!(stats["connections_accepted"], r["connections"], "{stats}");
    assert!(stats["upstream_connects"].as_u64().unwrap() <= 4, "{stats}");
    // Stop draining without a restart.
    curl(&["-X", "POST", &format!("http://{admin}/drain?ratio=0")]);
    let r = peer(
        &["drain", "127.0.0.1", port, "300"],
        Duration::from_secs(60),
    );
    assert_eq!(r["closes"], 0, "{r}");
    assert_eq!(r["connections"], 1, "{r}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_under_load_loses_no_request() {
    // The upstream answers after 100 ms, so requests are in flight when the signal lands.
    let (_slow, slow_addr) = {
        let mut child = Command::new(env!("CARGO_BIN_EXE_keepsight"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--workers",
                "1",
                "--delay",
                "100ms",
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let line = lines.next().unwrap().unwrap();
        std::thread::spawn(move || for _ in lines {});
        let a = line.rsplit(' ').next().unwrap().to_string();
        (Guard(child), a)
    };
    let (mut p, addr, admin, stderr) = proxy(&[
        "--upstream",
        &slow_addr,
        "--keepalive-requests",
        "0",
        "--admin",
        "127.0.0.1:0",
    ]);
    let admin = admin.unwrap();
    let port = addr.rsplit(':').next().unwrap().to_string();
    let load = std::thread::spawn(move || {
        peer(
            &["load", "127.0.0.1", &port, "16", "10"],
            Duration::from_secs(60),
        )
    });
    // Signal only once the load is really running (a loaded machine can take a while to
    // start the Python clients).
    let t0 = Instant::now();
    loop {
        let stats = curl(&[&format!("http://{admin}/stats")]);
        let served = serde_json::from_str::<serde_json::Value>(&stats)
            .ok()
            .and_then(|v| v["requests"].as_u64())
            .unwrap_or(0);
        if served >= 100 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "load never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, took) = p.terminate();
    let r = load.join().unwrap();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(r["error"], 0, "{r}");
    // A new connection reset before any response is one the kernel completed into the listen
    // backlog and the proxy never accepted (closing a listener resets its backlog, as with
    // nginx): never more of them than connections the proxy's final counters did not accept.
    let final_counters = || {
        stderr.lock().unwrap().iter().find_map(|l| {
            l.strip_prefix("keepsight proxy: stopped: ")
                .map(str::to_string)
        })
    };
    // The process has exited; its last lines may still be on their way through the pipe.
    let t0 = Instant::now();
    while final_counters().is_none() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = final_counters().expect("final counters on stderr");
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    let accepted = stats["connections_accepted"].as_u64().unwrap();
    let never_accepted = r["connects"].as_u64().unwrap().saturating_sub(accepted);
    assert!(
        r["reset_fresh"].as_u64().unwrap() <= never_accepted,
        "reset after accept: {r}, proxy counters {stats}"
    );
    assert!(r["ok"].as_u64().unwrap() > 50, "{r}");
    assert!(
        r["ok_close"].as_u64().unwrap() >= 8,
        "in-flight requests: {r}"
    );
}
