//! `keepsight diagnose` on the real scenarios of issue 15's heartbeat classes
//! (tests/scenarios/slow-heartbeat-reply and heartbeat-give-up): who probes when replies take
//! most of the period, slow replies without `--timeout`, clients giving up after unanswered
//! beats, and the causes they add up to. Every expectation comes from the driver's truth.json
//! (what it did, from its own clock), never from keepsight's output.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/scenarios")
        .join(name)
}

fn truth(name: &str) -> Value {
    let p = scenario(name).join("truth.json");
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

fn diagnose(name: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("diagnose")
        .arg(scenario(name).join("capture.pcapng"))
        .arg("--json")
        .output()
        .expect("run keepsight");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn f64_of(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The stream of the client socket bound to `port`.
fn stream_of(r: &Value, port: &Value) -> Value {
    let port = port.as_u64().expect("a port");
    r["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["endpoints"]["client"]
                .as_str()
                .is_some_and(|c| c.ends_with(&format!(":{port}")))
        })
        .unwrap_or_else(|| panic!("no stream for client port {port}"))
        .clone()
}

fn findings<'a>(r: &'a Value, stream: &Value, kind: &str) -> Vec<&'a Value> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["stream"] == stream["stream"] && f["kind"] == kind)
        .collect()
}

#[test]
fn slow_replies_keep_the_client_as_prober_and_are_measured_against_a_baseline() {
    let t = truth("slow-heartbeat-reply");
    let r = diagnose("slow-heartbeat-reply");
    let period = f64_of(&t["period_s"]);
    for c in t["clients"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let s = stream_of(&r, &c["client_port"]);
        let hb = &s["heartbeat"];
        assert_eq!(hb["sender"], "client", "{name}");
        assert_eq!(hb["probe_hex"], t["heartbeat_request"], "{name}");
        assert_eq!(hb["reply_hex"], t["heartbeat_reply"], "{name}");
        assert!(
            (f64_of(&hb["period_s"]) - period).abs() < 0.05,
            "{name}: {hb}"
        );
        assert_eq!(hb["beats"], c["beats"].as_array().unwrap().len(), "{name}");
        // The client kept its schedule: nothing late, nothing missed, nothing reset.
        for kind in ["late_heartbeat", "missed_heartbeat", "connection_reset"] {
            assert!(findings(&r, &s, kind).is_empty(), "{name}: {kind}");
        }
        assert_eq!(s["close"]["kind"], c["end"]["kind"], "{name}");
        assert_eq!(s["close"]["by"], "client", "{name}");

        // The replies the client measured as slow (over a second, 70-76 % of the period) are
        // the slow_heartbeat_reply findings, one each, at the latency the client measured.
        let beats = c["beats"].as_array().unwrap();
        let slow_beats: Vec<f64> = beats
            .iter()
            .map(|b| f64_of(&b["latency_ms"]))
            .filter(|&l| l > 1000.0)
            .collect();
        let fast: Vec<f64> = beats
            .iter()
            .map(|b| f64_of(&b["latency_ms"]))
            .filter(|&l| l <= 1000.0)
            .collect();
        let slow = findings(&r, &s, "slow_heartbeat_reply");
        assert_eq!(slow.len(), slow_beats.len(), "{name}: {slow:#?}");
        for (f, lat) in slow.iter().zip(&slow_beats) {
            assert!((f64_of(&f["latency_ms"]) - lat).abs() < 10.0, "{name}: {f}");
            // The baseline: the connection's own replies before the jump, or (slow from the
            // first beat) the other clients' replies to the same server: loopback, < 50 ms.
            let base = f64_of(&f["baseline_ms"]);
            assert!(base > 0.0 && base < 50.0, "{name}: {f}");
            let factor = f64_of(&f["latency_ms"]) / base;
            assert!((f64_of(&f["factor"]) - factor).abs() <= 0.05, "{name}: {f}");
            if !fast.is_empty() {
                let own_max = fast.iter().cloned().fold(0.0, f64::max);
                assert!(
                    base <= own_max + 1.0,
                    "{name}: own baseline {base} vs {fast:?}"
                );
            }
        }
    }
    // Nobody died of anything.
    assert_eq!(r["causes"], serde_json::json!([]));
}

#[test]
fn clients_that_give_up_after_unanswered_beats() {
    let t = truth("heartbeat-give-up");
    let r = diagnose("heartbeat-give-up");
    let mut gave_up_streams = Vec::new();
    for c in t["clients"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let s = stream_of(&r, &c["client_port"]);
        let hb = &s["heartbeat"];
        assert_eq!(hb["sender"], "client", "{name}");
        assert_eq!(hb["probe_hex"], t["heartbeat_request"], "{name}");
        assert_eq!(hb["reply_hex"], t["heartbeat_reply"], "{name}");
        let end = &c["end"];
        assert_eq!(s["close"]["kind"], end["kind"], "{name}");
        assert_eq!(s["close"]["by"], "client", "{name}");
        let g = findings(&r, &s, "heartbeat_gave_up");
        if end["cause"] != "gave up" {
            assert!(g.is_empty(), "{name}: {g:#?}");
            continue;
        }
        gave_up_streams.push(s["stream"].as_u64().unwrap());
        assert_eq!(g.len(), 1, "{name}");
        let g = g[0];
        assert_eq!(g["by"], "client", "{name}");
        assert_eq!(g["close"], end["kind"], "{name}");
        assert_eq!(g["unanswered"], end["unanswered"], "{name}");
        // The unanswered probes the driver sent, then the close, at the driver's times.
        let unanswered: Vec<&Value> = c["beats"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["answered"] == false)
            .collect();
        let frames = g["frames"].as_array().unwrap();
        assert_eq!(frames.len(), unanswered.len() + 1, "{name}: {g}");
        assert_eq!(frames.last(), Some(&s["close"]["frame"]), "{name}");
        let u = findings(&r, &s, "unanswered_heartbeat");
        assert_eq!(u.len(), unanswered.len(), "{name}");
        for (f, b) in u.iter().zip(&unanswered) {
            assert_eq!(
                f["acked"], true,
                "{name}: the server's TCP still acknowledged"
            );
            assert_eq!(
                f["frames"][0],
                frames[u.iter().position(|x| x == f).unwrap()]
            );
            let sent = f64_of(&b["sent_t"]);
            let at = f["time"].as_str().unwrap();
            // RFC 3339 seconds within the minute agree with the driver's clock to 5 ms.
            let secs: f64 = at[17..at.len() - 1].parse().unwrap();
            assert!(
                ((sent % 60.0) - secs).abs() < 0.005,
                "{name}: {at} vs {sent}"
            );
        }
        let last = u.last().unwrap();
        assert!(
            last["message"].as_str().unwrap().contains(&format!(
                "until the connection closed (frame {})",
                s["close"]["frame"]
            )),
            "{name}: {last}"
        );
        // One story per close: no deadline reset besides the give-up.
        assert!(findings(&r, &s, "reset_after_heartbeat_deadline").is_empty());
    }
    let causes = r["causes"].as_array().unwrap();
    assert_eq!(causes.len(), 1, "{causes:#?}");
    let c = &causes[0];
    assert_eq!(c["cause"], "heartbeat_gave_up");
    assert_eq!(c["by"], "client");
    assert_eq!(c["connections"], gave_up_streams.len());
    gave_up_streams.sort_unstable();
    assert_eq!(c["streams"], serde_json::json!(gave_up_streams));
    let sentence = r["summary"][c["summary"].as_u64().unwrap() as usize]
        .as_str()
        .unwrap();
    assert!(sentence.contains("closed by the client"), "{sentence}");
}
