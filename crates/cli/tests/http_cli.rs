//! `keepsight http` text output and exit codes. The numbers the text must contain come from
//! the scenario's truth.json (what the servers sent) and from tshark's frame list committed next
//! to the capture (capture.tshark.tsv), not from keepsight.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios/http-keepalive")
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("http")
        .args(args)
        .output()
        .expect("run keepsight");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// First frame (from tshark's list) sent by `src_port` with a payload at or after `t`.
fn tshark_frame(src_port: u64, after_t: f64) -> u64 {
    let tsv = std::fs::read_to_string(scenario().join("capture.tshark.tsv")).unwrap();
    let mut lines = tsv.lines();
    let head: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    let (fnum, t, sp, len) = (
        col("frame.number"),
        col("frame.time_epoch"),
        col("tcp.srcport"),
        col("tcp.len"),
    );
    for l in lines {
        let f: Vec<&str> = l.split('\t').collect();
        if f[sp] == src_port.to_string()
            && f[len].parse::<u64>().unwrap_or(0) > 0
            && f[t].parse::<f64>().unwrap() >= after_t - 0.001
        {
            return f[fnum].parse().unwrap();
        }
    }
    panic!("no frame from port {src_port} after {after_t}");
}

#[test]
fn text_names_the_race_and_the_faults_with_frames() {
    let cap = scenario().join("capture.pcapng");
    let (code, out, err) = run(&[cap.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let truth: Value =
        serde_json::from_slice(&std::fs::read(scenario().join("truth.json")).unwrap()).unwrap();
    let ex = |id: &str| {
        truth["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .unwrap()
            .clone()
    };
    // The reuse race of n5: named, with the frame of the request the client sent.
    let n5 = ex("n5");
    let req = tshark_frame(
        n5["client_port"].as_u64().unwrap(),
        n5["request_sent_t"].as_f64().unwrap(),
    );
    assert!(
        out.contains("REUSE RACE") && out.contains(&format!("request (frame {req})")),
        "{out}"
    );
    // r1: 10 of 12 bytes, in words.
    let r1 = &ex("r1")["response"];
    let want = format!(
        "declared {}, only {} bytes",
        r1["headers"]["content-length"].as_str().unwrap(),
        r1["body_len"]
    );
    assert!(out.contains(&want), "{want} not in\n{out}");
    // r2: one stray byte.
    let extra = ex("r2")["response"]["extra_after_body"]
        .as_str()
        .unwrap()
        .len();
    assert!(out.contains(&format!("{extra} stray byte(s)")), "{out}");
    // nginx's limit.
    let limit = truth["nginx"]["keepalive_requests"].as_u64().unwrap();
    assert!(
        out.contains(&format!("request limit ≈ {limit} per connection")),
        "{out}"
    );
}

#[test]
fn exit_codes() {
    assert_eq!(run(&["/nonexistent/capture.pcap"]).0, 3);
    let dir = std::env::temp_dir().join(format!("ks-http-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture file at all").unwrap();
    assert_eq!(run(&[junk.to_str().unwrap()]).0, 1);
    // A capture without HTTP: success, and says so.
    let synth =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/synth/synth-1200.pcap");
    let (code, out, _) = run(&[synth.to_str().unwrap(), "--stream", "999999"]);
    assert_eq!(code, 0);
    assert!(out.contains("No HTTP/1.x traffic found."), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn display_filter_selects_whole_connections() {
    let cap = scenario().join("capture.pcapng");
    let truth: Value =
        serde_json::from_slice(&std::fs::read(scenario().join("truth.json")).unwrap()).unwrap();
    let port = truth["scripted_server"]["port"].as_u64().unwrap();
    let want: Vec<u64> = truth["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["server_port"].as_u64() == Some(port))
        .map(|c| c["client_port"].as_u64().unwrap())
        .collect();
    let filter = format!("tcp.port == {port}");
    let (code, out, err) = run(&[cap.to_str().unwrap(), "-Y", &filter, "--json"]);
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let mut got: Vec<u64> = r["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["client"]
                .as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    got.sort();
    let mut want = want;
    want.sort();
    assert_eq!(got, want);
    // Whole connections: every request the truth lists on them is there.
    let reqs: u64 = r["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["requests"].as_u64().unwrap())
        .sum();
    let truth_reqs = truth["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["server_port"].as_u64() == Some(port))
        .count() as u64;
    assert_eq!(reqs, truth_reqs);
    assert_eq!(run(&[cap.to_str().unwrap(), "-Y", "tcp.port =="]).0, 2);
}

/// Every key of a JSON value, recursively.
fn keys(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                out.push(k.clone());
                keys(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

/// `http --json` follows keepsight's JSON convention (schema 2): times are RFC 3339 UTC, equal
/// to tshark's frame times, and no field is in nanoseconds any more.
#[test]
fn json_times_are_rfc3339_and_durations_seconds() {
    let cap = scenario().join("capture.pcapng");
    let (code, out, err) = run(&[cap.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["schema"], 2);
    let mut all = Vec::new();
    keys(&r, &mut all);
    assert!(all.iter().all(|k| !k.ends_with("_ns")), "{all:?}");
    // tshark's epoch time of every frame.
    let tsv = std::fs::read_to_string(scenario().join("capture.tshark.tsv")).unwrap();
    let mut lines = tsv.lines();
    let head: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    let (fnum, t) = (col("frame.number"), col("frame.time_epoch"));
    let epoch: std::collections::HashMap<u64, f64> = lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[fnum].parse().unwrap(), f[t].parse().unwrap())
        })
        .collect();
    let time = |v: &Value| {
        let text = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
        assert!(text.ends_with('Z'), "{text}");
        keepsight_time::rfc3339::parse(text).unwrap() as f64 / 1e9
    };
    let mut checked = 0;
    for c in r["connections"].as_array().unwrap() {
        let first = epoch[&c["first_frame"].as_u64().unwrap()];
        assert!((time(&c["first_time"]) - first).abs() < 2e-6, "{c}");
        for m in c["messages"].as_array().unwrap() {
            let frame = m["frame"].as_u64().unwrap();
            if frame != 0 {
                assert!((time(&m["time"]) - epoch[&frame]).abs() < 2e-6, "{m}");
                checked += 1;
            }
        }
        assert!(c["max_idle_s"].as_f64().unwrap() >= 0.0);
    }
    assert!(checked > 10, "only {checked} messages checked");
}
