//! `keepsight diagnose` on a make_capture.py capture generated at test time. The expectations are
//! the generator's documented ground truth (its docstring): heartbeats on port 7443 every 45 s
//! (± 3 ms) answered in 150-450 µs, a late beat (57-59 s) always followed by the client's RST,
//! kernel keep-alive on 15432 (idle 7200 s, interval 75 s; a dead client means 9 unanswered
//! server probes, then the server's RST), HTTP on 80 and bulk on 8873 (no heartbeat), no
//! forged reset and no middlebox state loss.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn generator() -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut candidates = vec![
        repo.join("../shared/bench/make_capture.py"),
        PathBuf::from("/work/shared/bench/make_capture.py"),
    ];
    if let Ok(dir) = std::env::var("KEEPSIGHT_SHARED") {
        candidates.insert(0, Path::new(&dir).join("bench/make_capture.py"));
    }
    candidates.into_iter().find(|p| p.exists())
}

fn port(addr: &str) -> u16 {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(0)
}

#[test]
fn make_capture_ground_truth() {
    let Some(gen) = generator() else {
        eprintln!("SKIP: make_capture.py not found (shared/bench beside the repository)");
        return;
    };
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIP: python3 is missing");
        return;
    }
    let out = std::env::temp_dir().join(format!(
        "keepsight-diagnose-synth-{}.pcap",
        std::process::id()
    ));
    let st = Command::new("python3")
        .arg(&gen)
        .args(["--packets", "400000", "--seed", "11", "--out"])
        .arg(&out)
        .status()
        .expect("run make_capture.py");
    assert!(st.success());
    let res = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("diagnose")
        .arg(&out)
        .arg("--json")
        .output()
        .expect("run keepsight");
    let _ = std::fs::remove_file(&out);
    let stderr = String::from_utf8_lossy(&res.stderr);
    if stderr.contains("unrecognized subcommand") {
        eprintln!(
            "SKIP: `keepsight diagnose` is not registered yet (see crates/diagnose/NEEDS.md)"
        );
        return;
    }
    assert!(res.status.success(), "{stderr}");
    let r: Value = serde_json::from_slice(&res.stdout).unwrap();
    let streams = r["streams"].as_array().unwrap();
    let findings = r["findings"].as_array().unwrap();
    let of = |stream: &Value, kind: &str| -> Vec<&Value> {
        findings
            .iter()
            .filter(|f| f["stream"] == *stream && f["kind"] == kind)
            .collect()
    };

    let mut hb_streams = 0;
    let mut resets = 0;
    for s in streams {
        let server_port = port(s["endpoints"]["server"].as_str().unwrap());
        let hb = &s["heartbeat"];
        match server_port {
            7443 => {
                if hb.is_null() {
                    // Too few beats to tell (a connection cut by the end of the capture, or
                    // reset right after reconnecting): nothing may be claimed about it.
                    assert!(of(&s["stream"], "late_heartbeat").is_empty());
                    continue;
                }
                hb_streams += 1;
                assert_eq!(hb["sender"], "client", "stream {}", s["stream"]);
                assert_eq!(hb["probe_hex"], "01");
                assert_eq!(hb["reply_hex"], "41");
                assert!(
                    (hb["period_s"].as_f64().unwrap() - 45.0).abs() < 0.01,
                    "{hb}"
                );
                let lat = &hb["reply_latency_ms"];
                assert!(
                    (0.15..=0.45).contains(&lat["median"].as_f64().unwrap()),
                    "{lat}"
                );
                assert!(lat["max"].as_f64().unwrap() <= 0.451, "{lat}");
                let deadline = of(&s["stream"], "reset_after_heartbeat_deadline");
                let late = of(&s["stream"], "late_heartbeat");
                let rst_by_client = s["close"]["kind"] == "rst" && s["close"]["by"] == "client";
                if rst_by_client {
                    resets += 1;
                    assert_eq!(deadline.len(), 1, "stream {}", s["stream"]);
                    assert_eq!(deadline[0]["cause"], "late_probe");
                    let gap = deadline[0]["gap_s"].as_f64().unwrap();
                    assert!((57.0..=59.0).contains(&gap), "gap {gap}");
                    assert_eq!(late.len(), 1);
                } else {
                    assert!(
                        deadline.is_empty() && late.is_empty(),
                        "stream {}: {late:?}",
                        s["stream"]
                    );
                }
                for k in [
                    "missed_heartbeat",
                    "unanswered_heartbeat",
                    "slow_heartbeat_reply",
                    "retransmitted_heartbeat",
                ] {
                    let f = of(&s["stream"], k);
                    // The only beats that stop early are the ones cut by the end of the capture.
                    assert!(
                        f.iter().all(|f| f["stopped"] == true) || f.is_empty(),
                        "stream {}: {k}: {f:?}",
                        s["stream"]
                    );
                }
            }
            15432 => {
                assert!(
                    hb.is_null(),
                    "keep-alive connection taken for a heartbeat: {s}"
                );
                for k in s["tcp_keepalive"].as_array().unwrap() {
                    if let Some(idle) = k["idle_s"].as_f64() {
                        assert!((idle - 7200.0).abs() < 1.0, "idle {idle}");
                    }
                    if let Some(iv) = k["interval_s"].as_f64() {
                        assert!((iv - 75.0).abs() < 0.5, "interval {iv}");
                    }
                    if k["unanswered"].as_u64().unwrap() > 0 && s["close"]["kind"] == "rst" {
                        assert_eq!(k["sender"], "server");
                        assert_eq!(k["unanswered"], 9);
                        assert_eq!(k["count"], 9);
                        assert_eq!(s["close"]["by"], "server");
                        assert_eq!(of(&s["stream"], "keepalive_unanswered").len(), 1);
                        // Gone after 2 h of idle: longer than every cloud idle timeout in the
                        // table, and the connection did not survive it.
                        let idle = of(&s["stream"], "idle_beyond_middlebox_timeout");
                        assert_eq!(idle.len(), 1, "stream {}", s["stream"]);
                        assert_eq!(idle[0]["severity"], "warning");
                        assert!((idle[0]["idle_s"].as_f64().unwrap() - 7200.0).abs() < 1.0);
                    }
                }
            }
            80 | 8873 => assert!(hb.is_null(), "{server_port} taken for a heartbeat: {s}"),
            other => panic!("unexpected server port {other}"),
        }
    }
    assert!(hb_streams > 20, "only {hb_streams} heartbeat streams");
    assert!(
        resets > 0,
        "no late beat in this capture: choose another seed"
    );
    for k in ["injected_reset", "middlebox_state_loss"] {
        let n = findings.iter().filter(|f| f["kind"] == k).count();
        assert_eq!(n, 0, "{k}");
    }
}
