//! The shipped example (crates/diagnose/incident): the report must say what the recording script
//! did (its truth.json), so the README's main command keeps telling the truth.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

#[test]
fn shipped_incident_example() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../diagnose/incident");
    let truth: Value =
        serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("diagnose")
        .arg(dir.join("capture.pcapng"))
        .arg("--log")
        .arg(dir.join("app.log"))
        .arg("--json")
        .output()
        .expect("run keepsight");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let period = truth["period_s"].as_f64().unwrap();
    let mut resets = 0;
    let mut conns = 0;
    for (name, cs) in truth["clients"].as_object().unwrap() {
        for c in cs.as_array().unwrap() {
            conns += 1;
            let s = r["streams"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["endpoints"]["client"] == c["client"])
                .unwrap_or_else(|| panic!("{name}: no stream for {}", c["client"]));
            assert_eq!(s["endpoints"]["server"], truth["server"]);
            let hb = &s["heartbeat"];
            assert_eq!(hb["sender"], "client");
            assert_eq!(hb["probe_hex"], truth["probe"]);
            assert_eq!(hb["reply_hex"], truth["reply"]);
            assert_eq!(hb["beats"], c["beats"].as_array().unwrap().len());
            assert!((hb["period_s"].as_f64().unwrap() - period).abs() < 0.01);
            assert_eq!(s["close"]["kind"], c["end"]["kind"]);
            assert_eq!(s["close"]["by"], c["end"]["by"]);
            let deadline: Vec<&Value> = r["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| {
                    f["stream"] == s["stream"] && f["kind"] == "reset_after_heartbeat_deadline"
                })
                .collect();
            if c["end"]["kind"] == "rst" {
                resets += 1;
                assert_eq!(deadline.len(), 1, "{name}");
                assert_eq!(deadline[0]["cause"], "late_probe");
                let gap = deadline[0]["gap_s"].as_f64().unwrap();
                assert!(
                    (gap - c["end"]["late_gap_s"].as_f64().unwrap()).abs() < 0.005,
                    "{name}: {gap}"
                );
            } else {
                assert!(deadline.is_empty(), "{name}");
            }
        }
    }
    assert!(resets >= 1);
    assert_eq!(r["streams"].as_array().unwrap().len(), conns);
    // Every error line of the log is matched to capture frames.
    let log = std::fs::read_to_string(dir.join("app.log")).unwrap();
    let errors = log.lines().filter(|l| l.contains(" error ")).count();
    let matched_errors = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["kind"] == "log_match" && f["log_text"].as_str().unwrap_or("").contains(" error ")
        })
        .count();
    assert_eq!(matched_errors, errors);
    assert!(r["summary"][0]
        .as_str()
        .unwrap()
        .contains("network was fine"));
}
