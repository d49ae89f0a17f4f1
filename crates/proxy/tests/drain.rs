//! Drain mode: the share of responses carrying `Connection: close`, the connections that
//! follow from it, and changing it at run time through the admin endpoint.

mod common;
use common::*;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

const T: Duration = Duration::from_secs(90);

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ratio_point_three_over_2000_requests() {
    let mut o = opts();
    o.server.keepalive_requests = 0;
    o.drain_ratio = 0.3;
    let s = serve_fixed(o, "ok", Duration::ZERO);
    let port = s.addr.port().to_string();
    let r = peer(&["drain", "127.0.0.1", &port, "2000"], T);
    let closes = r["closes"].as_u64().unwrap();
    let conns = r["connections"].as_u64().unwrap();
    let share = closes as f64 / 2000.0;
    eprintln!("drain 0.3 over 2000: {r}");
    assert!((share - 0.3).abs() <= 0.05, "share {share}: {r}");
    // Each close made the client open a new connection (the last close needs none).
    assert!(conns == closes || conns == closes + 1, "{r}");
    assert_eq!(
        r["not_eof_after_close"], 0,
        "server kept a connection it said it would close"
    );
    assert_eq!(s.ctl.stats.closed_drain.load(Ordering::Relaxed), closes);
    assert_eq!(
        s.ctl.stats.connections_accepted.load(Ordering::Relaxed),
        conns
    );
    let log = s.log_lines();
    assert_eq!(
        log.iter().filter(|l| l.ends_with(" drain")).count() as u64,
        closes
    );
}

#[test]
fn admin_endpoint_changes_the_ratio_at_run_time() {
    let mut o = opts();
    o.admin = Some("127.0.0.1:0".parse().unwrap());
    o.server.keepalive_requests = 0;
    let s = serve_fixed(o, "ok", Duration::ZERO);
    let port = s.addr.port().to_string();
    let admin = s.admin.unwrap();
    let run = |n: &str| peer(&["drain", "127.0.0.1", &port, n], T);

    let r = run("200");
    assert_eq!(r["closes"], 0, "{r}");
    let set = curl(&["-X", "POST", &format!("http://{admin}/drain?ratio=1")]);
    assert!(set.contains("\"ratio\":1.0000"), "{set}");
    let r = run("50");
    assert_eq!(r["closes"], 50, "{r}");
    assert_eq!(r["connections"], 50);
    curl(&["-X", "POST", &format!("http://{admin}/drain?ratio=0.5")]);
    let r = run("400");
    assert_eq!(r["closes"], 200, "{r}");
    // A ramp from 1.0 to 1.0 is in force at once; from 0 to 0 closes nothing.
    let set = curl(&[
        "-X",
        "POST",
        &format!("http://{admin}/drain?from=0&to=0&over=10m"),
    ]);
    assert!(set.contains("\"ramp\":{\"from\":0"), "{set}");
    assert_eq!(run("100")["closes"], 0);
    // Refusals say why and change nothing.
    let bad = curl(&["-X", "POST", &format!("http://{admin}/drain?ratio=1.5")]);
    assert!(bad.contains("between 0 and 1"), "{bad}");
    let stats = curl(&[&format!("http://{admin}/stats")]);
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["closed_drain"], 250, "{stats}");
    assert_eq!(v["requests"], 750, "{stats}");
}

#[test]
fn ramp_rises_over_time() {
    let mut o = opts();
    o.server.keepalive_requests = 0;
    o.drain_ramp = Some(keepsight_proxy::drain::Ramp {
        from: 0.0,
        to: 1.0,
        over: Duration::from_secs(3),
    });
    let started = std::time::Instant::now();
    let s = serve_fixed(o, "ok", Duration::ZERO);
    assert!(s.ctl.drain.ratio() < 0.2, "{}", s.ctl.drain.ratio());
    let port = s.addr.port().to_string();
    let early = peer(&["drain", "127.0.0.1", &port, "100"], T)["closes"]
        .as_u64()
        .unwrap();
    std::thread::sleep(Duration::from_millis(3200).saturating_sub(started.elapsed()));
    assert_eq!(s.ctl.drain.ratio(), 1.0);
    let late = peer(&["drain", "127.0.0.1", &port, "100"], T)["closes"]
        .as_u64()
        .unwrap();
    assert!(early < 100, "early: {early} of 100 closed");
    assert_eq!(late, 100);
}

/// Drain acts on the client side only: through the proxy, clients reconnect while the
/// upstream keeps its pooled connections.
#[test]
fn drain_through_proxy_keeps_upstream_connections() {
    let nginx = Nginx::start(
        "",
        "keepalive_requests 10000; location / { return 200 \"up\\n\"; }",
    );
    let mut o = opts();
    o.drain_ratio = 0.3;
    o.server.keepalive_requests = 0;
    let p = proxy_to(o, nginx.addr, |_| {});
    let port = p.addr.port().to_string();
    let r = peer(&["drain", "127.0.0.1", &port, "1000"], T);
    let share = r["closes"].as_f64().unwrap() / 1000.0;
    assert!((share - 0.3).abs() <= 0.05, "{r}");
    let up = p
        .extra
        .as_ref()
        .unwrap()
        .upstream_connects
        .load(Ordering::Relaxed);
    assert!(up <= 2, "upstream connections opened: {up}");
    let log = nginx.access_log();
    assert_eq!(log.len(), 1000);
}
