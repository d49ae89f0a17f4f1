//! `keepsight diagnose --log` on tests/scenarios/local-time-log: an application logging local
//! time with no zone in the lines, from a skewed clock, with labelled connections and an error
//! written at its own heartbeat deadline. `east` (the directory itself): the client beats and
//! logs UTC+05:30, 3.2 s behind the capture, milliseconds; `west/`: the server beats and logs
//! UTC-03:00, 4.5 s ahead, whole seconds. Every expectation comes from the driver's truth.json
//! (what it did, its zone and skew, which line it wrote when), never from keepsight's output.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn scenario(variant: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/scenarios/local-time-log")
        .join(variant)
}

fn truth(variant: &str) -> Value {
    serde_json::from_slice(&std::fs::read(scenario(variant).join("truth.json")).unwrap()).unwrap()
}

fn diagnose(variant: &str, extra: &[&str]) -> Value {
    let dir = scenario(variant);
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("diagnose")
        .arg(dir.join("capture.pcapng"))
        .arg("--json")
        .arg("--log")
        .arg(dir.join("app.log"))
        .args(extra)
        .output()
        .expect("run keepsight");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// The stream whose client port is `port`.
fn stream_of(r: &Value, port: u64) -> u64 {
    r["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["endpoints"]["client"]
                .as_str()
                .unwrap()
                .ends_with(&format!(":{port}"))
        })
        .unwrap_or_else(|| panic!("no stream from port {port}"))["stream"]
        .as_u64()
        .unwrap()
}

fn log_match(r: &Value, line: u64) -> Option<&Value> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "log_match" && f["line"] == line)
}

/// The lines' granularity and the lag an event may precede its line by bound the skew found:
/// (below, above) the driver's.
fn skew_tolerance(t: &Value) -> (f64, f64) {
    if t["log"]["format"].as_str().unwrap().contains(",mmm") {
        (0.7, 1.0)
    } else {
        (1.5, 1.5)
    }
}

fn zone_skew_deadline_lines_and_labels(variant: &str) {
    let t = truth(variant);
    let r = diagnose(variant, &[]);
    let log = &r["log"];
    assert_eq!(log["zone"], t["log"]["zone"], "{log}");
    assert_eq!(log["zone_from"], "search");
    let skew = t["log"]["clock_offset_s"].as_f64().unwrap();
    let (below, above) = skew_tolerance(&t);
    let found = log["clock_offset_s"]
        .as_f64()
        .expect("clock offset claimed");
    assert!(
        (skew - below..=skew + above).contains(&found),
        "{found} vs {skew}"
    );

    let conns = &t["connections"];
    let label = |n: u32| {
        conns
            .as_object()
            .unwrap()
            .keys()
            .find(|k| k.ends_with(&format!(" {n}")))
            .unwrap()
            .clone()
    };
    let first_port = |n: u32| conns[label(n)][0]["client_port"].as_u64().unwrap();
    let (s2, s3) = (stream_of(&r, first_port(2)), stream_of(&r, first_port(3)));
    let lines = &t["lines"];
    for (name, stream) in [
        ("deadline_error_2", s2),
        ("restart_2", s2),
        ("deadline_error_3", s3),
        ("late_error_3", s3),
    ] {
        let n = lines[name].as_u64().unwrap();
        let m = log_match(&r, n).unwrap_or_else(|| panic!("{name}: line {n} not matched"));
        assert_eq!(m["streams"], serde_json::json!([stream]), "{name}: {m}");
        let kinds = m["matched_kinds"].as_array().unwrap();
        assert!(
            kinds.iter().any(|k| k == "late_heartbeat"),
            "{name}: {kinds:?}"
        );
        // The watchdog's lines were written before the late beat went out.
        assert_eq!(
            m["at_deadline"] == true,
            name.starts_with("deadline_error"),
            "{name}: {m}"
        );
    }
    // Label 1's own error, written as label 2 reset, is about label 1: nothing of its happened.
    let n = lines["metrics_error_1"].as_u64().unwrap();
    assert!(log_match(&r, n).is_none(), "{:?}", log_match(&r, n));
    let unmatched = log["unmatched"].as_array().unwrap();
    assert!(unmatched.iter().any(|u| u["line"] == n));
}

#[test]
fn east_client_log_in_utc_plus_0530_behind_the_capture() {
    zone_skew_deadline_lines_and_labels("");
}

#[test]
fn west_server_log_in_utc_minus_0300_ahead_of_the_capture() {
    zone_skew_deadline_lines_and_labels("west");
}

#[test]
fn log_tz_overrides_the_search_and_a_wrong_zone_matches_nothing() {
    let r = diagnose("", &["--log-tz", "+05:30"]);
    assert_eq!(r["log"]["zone"], "+05:30");
    assert_eq!(r["log"]["zone_from"], "option");
    // The four lines the driver wrote about conn 2's and conn 3's incidents.
    assert_eq!(r["log"]["matched"], 4);
    // A zone west of UTC is a value, not a flag.
    let r = diagnose("west", &["--log-tz", "-03:00"]);
    assert_eq!(r["log"]["zone"], "-03:00");
    assert_eq!(r["log"]["zone_from"], "option");
    assert_eq!(r["log"]["matched"], 4);
    // Read as UTC, the lines are 5.5 h away from every event.
    let r = diagnose("", &["--log-tz", "UTC"]);
    assert_eq!(r["log"]["zone"], "+00:00");
    assert_eq!(r["log"]["zone_from"], "option");
    assert_eq!(r["log"]["matched"], 0);
}

#[test]
fn the_text_report_says_how_the_logs_clock_reads() {
    let dir = scenario("");
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("diagnose")
        .arg(dir.join("capture.pcapng"))
        .arg("--log")
        .arg(dir.join("app.log"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let said = "the log's clock reads like UTC+05:30, ";
    let at = text.find(said).unwrap_or_else(|| panic!("{text}")) + said.len();
    let (secs, rest) = text[at..].split_once(' ').unwrap();
    assert!(rest.starts_with("s behind the capture"), "{}", &text[at..]);
    let t = truth("");
    let skew = t["log"]["clock_offset_s"].as_f64().unwrap();
    let (below, above) = skew_tolerance(&t);
    let secs: f64 = secs.parse().unwrap();
    assert!(
        (skew - below..=skew + above).contains(&secs),
        "{secs} vs {skew}"
    );
}
