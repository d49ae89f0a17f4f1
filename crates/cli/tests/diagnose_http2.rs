//! `diagnose` on HTTP/2 captures: a capture that begins after the connection preface is
//! HTTP/2 only by the user's word (`-d tcp.port==N,http2`, as for tshark), and the findings
//! then come from the frames the capture holds. (The scenarios' facts, checked by the
//! scorecard, cover the whole captures.)

mod common;
use common::repo;
use std::process::Command;

fn keepsight(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .args(args)
        .output()
        .expect("keepsight runs")
}

/// The findings' kinds on the cut capture's first stream (the too_many_pings connection).
fn kinds(args: &[&str]) -> Vec<String> {
    let out = keepsight(args);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("diagnose --json");
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["stream"] == 0)
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_capture_begun_after_the_preface_is_http2_with_decode_as() {
    let cap = repo().join("tests/scenarios/grpc-keepalive/capture.pcapng");
    let cut = std::env::temp_dir().join(format!("ks-h2-cut-{}.pcapng", std::process::id()));
    // Frames 1-13 of the too_many_pings connection hold the preface and both SETTINGS.
    let w = keepsight(&[
        "packets",
        &cap.display().to_string(),
        "-Y",
        "frame.number > 13",
        "-w",
        &cut.display().to_string(),
    ]);
    assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
    let c = cut.display().to_string();
    let plain = kinds(&["diagnose", &c, "--json"]);
    let told = kinds(&["diagnose", &c, "--json", "-d", "tcp.port==17600,http2"]);
    let _ = std::fs::remove_file(&cut);
    // Without the rule, the cut stream starts with a PING: not recognized as HTTP/2.
    assert!(!plain.iter().any(|k| k.starts_with("http2_")), "{plain:?}");
    assert!(told.iter().any(|k| k == "http2_goaway"), "{told:?}");
    assert!(told.iter().any(|k| k == "http2_ping_heartbeat"), "{told:?}");
}

#[test]
fn a_bad_decode_as_rule_is_a_usage_error() {
    let cap = repo().join("tests/scenarios/grpc-keepalive/capture.pcapng");
    let out = keepsight(&[
        "diagnose",
        &cap.display().to_string(),
        "-d",
        "tcp.port==17600,gopher",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot decode gopher") && err.contains("http2"),
        "{err}"
    );
}
