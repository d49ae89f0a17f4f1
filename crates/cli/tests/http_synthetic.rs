//! `keepsight http` on a capture made at test time by the project's generator (`crates/gen`),
//! checked connection by connection against the generator's ground truth (which connections
//! are HTTP, requests and responses, how and when each closed, the one short body), and the
//! request/response frames against tshark 4.0.17 `-2` — never against keepsight's own output.

use keepsight_gen::truth::{CloseCause, Connection, Detail, HttpTruth};
use keepsight_gen::{generate_file, Config, Truth};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

fn http_json(capture: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("http")
        .arg(capture)
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

/// A duration field in seconds (`NAME_s`, keepsight's JSON convention).
fn seconds(v: &Value, name: &str) -> f64 {
    match v[format!("{name}_s")].as_f64() {
        Some(s) => s,
        None => panic!("no {name}_s in {v}"),
    }
}

/// tshark's (two-pass) frame numbers of requests and of responses.
fn tshark_messages(capture: &Path) -> (BTreeSet<u64>, BTreeSet<u64>) {
    let out = Command::new("tshark")
        .args(["-2", "-n", "-r"])
        .arg(capture)
        .args(["-Y", "http", "-T", "fields", "-e", "frame.number"])
        .args(["-e", "http.request", "-e", "http.response"])
        .output()
        .expect("tshark runs");
    assert!(out.status.success());
    let (mut requests, mut responses) = (BTreeSet::new(), BTreeSet::new());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let frame = cols[0].parse().unwrap();
        if cols[1] == "1" {
            requests.insert(frame);
        }
        if cols[2] == "1" {
            responses.insert(frame);
        }
    }
    (requests, responses)
}

fn tshark_frames(capture: &Path, filter: &str) -> Vec<u64> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(capture)
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .expect("tshark runs");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn http_truth(c: &Connection) -> Option<&HttpTruth> {
    match &c.detail {
        Detail::Http(h) => Some(h),
        _ => None,
    }
}

/// `draining`: keepsight found the connection's server closing after varying request counts.
fn check_close(conn: &Connection, h: &HttpTruth, close: &Value, draining: bool) {
    let what = format!("stream {}: {close}", conn.stream);
    let kind = close["kind"].as_str().unwrap();
    let Some(truth) = conn.close else {
        assert_eq!(kind, "open", "{what}");
        return;
    };
    let timeout = h.idle_timeout_us as f64 / 1e6;
    match truth.cause {
        CloseCause::HttpIdleTimeout => {
            assert_eq!(kind, "server_idle_timeout", "{what}");
            assert_eq!(close["frame"], truth.frame, "{what}");
            assert!((seconds(close, "idle") - timeout).abs() < 1e-6, "{what}");
        }
        CloseCause::HttpReuseRace => {
            let race = h.reuse_race.expect("a race has its frames");
            assert_eq!(kind, "reuse_race", "{what}");
            assert_eq!(close["fin_frame"], race.fin_frame, "{what}");
            assert_eq!(close["request_frame"], race.request_frame, "{what}");
            assert_eq!(close["rst_frame"], race.rst_frame, "{what}");
            assert!((seconds(close, "idle") - timeout).abs() < 1e-6, "{what}");
            assert!(seconds(close, "sent_after_fin") > 0.0, "{what}");
        }
        CloseCause::HttpConnectionClose => {
            // The generator picks the closing response at random: a server that closed after
            // varying counts is draining; one seen closing once, after one response, "said
            // close", after more a request limit.
            let responses = conn.counts.http_responses;
            let expected = if draining {
                "server_drain"
            } else if responses == 1 {
                "server_said_close"
            } else {
                "server_request_limit"
            };
            assert_eq!(kind, expected, "{what}");
            assert_eq!(close["frame"], truth.frame, "{what}");
            assert_eq!(close["after"], responses, "{what}");
        }
        CloseCause::ClientQuit => {
            assert_eq!(kind, "client_close", "{what}");
            assert_eq!(close["frame"], truth.frame, "{what}");
        }
        CloseCause::HttpShortBody => {
            assert_eq!(kind, "server_closed_mid_exchange", "{what}");
            assert_eq!(close["frame"], truth.frame, "{what}");
        }
        other => panic!("{what}: an HTTP connection closed by {other:?}"),
    }
}

#[test]
fn http_finds_the_generators_truth() {
    let cap = std::env::temp_dir().join(format!("ks-http-synth-{}.pcap", std::process::id()));
    let truth: Truth = generate_file(&Config::new(50_000, 1), &cap).expect("generate");
    let r = http_json(&cap);

    // HTTP connections: the generator's, as far as a request made it into the capture.
    let expected: BTreeMap<u32, &Connection> = truth
        .connections
        .iter()
        .filter(|c| http_truth(c).is_some() && c.counts.http_requests > 0)
        .map(|c| (c.stream, c))
        .collect();
    let conns = r["connections"].as_array().unwrap();
    let streams: Vec<u32> = conns
        .iter()
        .map(|c| c["stream"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(streams, expected.keys().copied().collect::<Vec<_>>());
    assert!(conns.len() > 100, "{}", conns.len());

    let mut short = None;
    for c in conns {
        let conn = expected[&(c["stream"].as_u64().unwrap() as u32)];
        let h = http_truth(conn).unwrap();
        let what = format!("stream {}", conn.stream);
        assert_eq!(c["client"], conn.client.to_string(), "{what}");
        assert_eq!(c["server"], conn.server.to_string(), "{what}");
        assert_eq!(c["requests"], conn.counts.http_requests, "{what}");
        assert_eq!(c["saw_syn"], true, "{what}");
        // keepsight also counts the response the short body never completes, and one the
        // end of the capture cuts (the truth counts complete responses only).
        let short_here = u64::from(h.short_body.is_some());
        let cut_here = conn.close.is_none()
            && conn.last_frame == truth.packets
            && conn.counts.http_requests > conn.counts.http_responses;
        assert_eq!(
            c["responses"],
            conn.counts.http_responses + short_here + u64::from(cut_here),
            "{what}"
        );
        let draining = r["servers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["server"] == c["server"] && !s["drain"].is_null());
        check_close(conn, h, &c["close"], draining);
        let cut_by_end = |m: &&Value| m["verdicts"][0]["verdict"] == "cut_by_capture_end";
        let (cut, faulty): (Vec<&Value>, Vec<&Value>) = c["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| !m["verdicts"].as_array().unwrap().is_empty())
            .partition(cut_by_end);
        assert_eq!(cut.len(), usize::from(cut_here), "{what}: {cut:?}");
        match h.short_body {
            None => assert!(faulty.is_empty(), "{what}: {faulty:?}"),
            Some(s) => {
                assert_eq!(faulty.len(), 1, "{what}");
                let m = faulty[0];
                assert_eq!(m["kind"], "response");
                assert_eq!(m["number"], s.response);
                assert_eq!(m["header_frame"], s.header_frame);
                let v = &m["verdicts"][0];
                assert_eq!(v["verdict"], "body_shorter_than_length");
                assert_eq!(v["declared"], s.declared);
                assert_eq!(v["received"], s.received);
                assert_eq!(v["ended"]["by"], "fin");
                assert_eq!(v["ended"]["frame"], conn.close.unwrap().frame);
                short = Some(s.header_frame);
            }
        }
    }
    let truth_short = truth
        .connections
        .iter()
        .filter_map(|c| http_truth(c).and_then(|h| h.short_body))
        .count();
    assert_eq!(truth_short, 1, "this capture has the short body");
    assert_eq!(r["faulty_messages"].as_u64(), Some(1));

    for s in r["servers"].as_array().unwrap() {
        let timeout = 75.0;
        if s["idle_closes"].as_u64().unwrap() > 0 {
            assert!(
                (seconds(s, "idle_timeout_min") - timeout).abs() < 1e-6,
                "{s}"
            );
            assert!(
                (seconds(s, "idle_timeout_max") - timeout).abs() < 1e-6,
                "{s}"
            );
        }
        // `Connection: close` on a randomly chosen last response is no request limit.
        assert!(s["request_limit"].is_null(), "{s}");
    }
    // ... but a drain, wherever a server closed after different counts.
    assert!(
        r["servers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| !s["drain"].is_null()),
        "{}",
        r["servers"]
    );

    // tshark: the same request frames and the same completed response frames (it never
    // completes the short response; neither is it given an end frame here).
    if keepsight_testlab::require_tool("tshark") {
        let (treq, tresp) = tshark_messages(&cap);
        let t4096 = tshark_frames(&cap, "tcp.payload contains \"Content-Length: 4096\"");
        let (mut req, mut resp) = (BTreeSet::new(), BTreeSet::new());
        for c in conns {
            for m in c["messages"].as_array().unwrap() {
                let f = m["frame"].as_u64().unwrap();
                if f == 0 {
                    continue;
                }
                if m["kind"] == "request" {
                    req.insert(f);
                } else {
                    resp.insert(f);
                }
            }
        }
        assert_eq!(req, treq, "request frames");
        assert_eq!(resp, tresp, "response frames");
        assert_eq!(req.len() as u64, truth.counts.http_requests);
        assert_eq!(resp.len() as u64, truth.counts.http_responses);
        assert_eq!(t4096, vec![short.unwrap()]);
    }
    let _ = std::fs::remove_file(&cap);
}
