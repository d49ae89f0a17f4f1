//! `keepsight diagnose` on the real captures of tests/corpus whose README states what their
//! scripts did (frame numbers as tshark 4.0.17 numbers them). Expectations come from that
//! README, not from keepsight's output.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn diagnose(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/corpus")
        .join(name);
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("diagnose")
        .arg(&p)
        .arg("--json")
        .output()
        .expect("run keepsight");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name}: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn kind<'a>(r: &'a Value, k: &str) -> Vec<&'a Value> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == k)
        .collect()
}

fn no_keepalive(r: &Value) -> bool {
    r["streams"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["tcp_keepalive"].as_array().unwrap().is_empty())
}

/// heartbeat.pcap: 0x01 every 1 s answered 0x41; beat 4 (f20) dropped once and retransmitted
/// (f21, which tshark calls [TCP Keep-Alive]); client RST f33; stream 1: 3 beats, client FIN f47.
#[test]
fn retransmitted_heartbeat_is_not_keepalive() {
    let r = diagnose("heartbeat.pcap");
    let rt = kind(&r, "retransmitted_heartbeat");
    assert_eq!(rt.len(), 1);
    assert_eq!(rt[0]["frames"], serde_json::json!([20, 21]));
    assert_eq!(rt[0]["tshark_keep_alive"], true);
    assert!(no_keepalive(&r));
    assert!(kind(&r, "keepalive_unanswered").is_empty());
    let s = &r["streams"];
    assert_eq!(s[0]["heartbeat"]["probe_hex"], "01");
    assert_eq!(s[0]["heartbeat"]["reply_hex"], "41");
    assert!((s[0]["heartbeat"]["period_s"].as_f64().unwrap() - 1.0).abs() < 0.01);
    assert_eq!(s[0]["close"]["kind"], "rst");
    assert_eq!(s[0]["close"]["frame"], 33);
    assert_eq!(s[0]["close"]["by"], "client");
    assert_eq!(s[1]["heartbeat"]["beats"], 3);
    assert_eq!(s[1]["close"]["kind"], "fin");
    assert_eq!(s[1]["close"]["frame"], 47);
    assert_eq!(s[1]["close"]["by"], "client");
}

/// keepalive.pcapng: SO_KEEPALIVE idle 1 s, intvl 1 s, cnt 3; answered probes f14-20, server cut
/// off, unanswered f22-24, the kernel's RST f25.
#[test]
fn kernel_keepalive_settings() {
    let r = diagnose("keepalive.pcapng");
    let k = &r["streams"][0]["tcp_keepalive"][0];
    assert_eq!(k["sender"], "client");
    assert_eq!(k["probes"], 7);
    assert_eq!(k["unanswered"], 3);
    assert_eq!(k["count"], 3);
    assert!((k["idle_s"].as_f64().unwrap() - 1.0).abs() < 0.1);
    assert!((k["interval_s"].as_f64().unwrap() - 1.0).abs() < 0.1);
    let f = kind(&r, "keepalive_unanswered");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["frames"], serde_json::json!([22, 23, 24, 25]));
    assert_eq!(r["streams"][0]["close"]["frame"], 25);
}

/// ipv6-mixed.pcapng: heartbeat over IPv6 every 0.5 s, 3rd beat dropped once → f17
/// [TCP Keep-Alive]; FIN close from f26.
#[test]
fn ipv6_heartbeat_retransmission() {
    let r = diagnose("ipv6-mixed.pcapng");
    let rt = kind(&r, "retransmitted_heartbeat");
    assert_eq!(rt.len(), 1);
    assert_eq!(rt[0]["frames"][1], 17);
    let s = &r["streams"][0];
    assert!(s["endpoints"]["server"]
        .as_str()
        .unwrap()
        .starts_with("[fd77:7::2]:47007"));
    assert!((s["heartbeat"]["period_s"].as_f64().unwrap() - 0.5).abs() < 0.01);
    assert_eq!(s["close"]["kind"], "fin");
    assert_eq!(s["close"]["frame"], 26);
    assert!(no_keepalive(&r));
}

/// zerowindow.pcapng: Linux zero-window probes (f30, f34, f35) look like keep-alives to tshark,
/// but the receiver's window is closed: they are not TCP keep-alive.
#[test]
fn zero_window_probes_are_not_keepalive() {
    let r = diagnose("zerowindow.pcapng");
    assert!(no_keepalive(&r), "{}", r["streams"]);
    assert!(kind(&r, "keepalive_unanswered").is_empty());
}
