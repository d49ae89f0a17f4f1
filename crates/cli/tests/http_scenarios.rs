//! `keepsight http` on real captures. Expectations come from what each scenario's servers were
//! told to send (tests/scenarios/http-keepalive/truth.json, its nginx settings) and, for
//! request/response pairing, from tshark 4.0.17 `-2` where its framing agrees — never from
//! keepsight's own output.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios/http-keepalive")
}

fn truth() -> Value {
    let p = scenario().join("truth.json");
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

fn http_json(capture: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("http")
        .arg(capture)
        .arg("--json")
        .output()
        .expect("run keepsight");
    assert!(
        out.status.success(),
        "keepsight http {}: {}",
        capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn port(addr: &str) -> u64 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// Connection by client port.
fn by_client_port(r: &Value) -> BTreeMap<u64, &Value> {
    r["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (port(c["client"].as_str().unwrap()), c))
        .collect()
}

/// A duration field (float seconds, `_s`).
fn secs(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not seconds: {v}"))
}

/// The response answering the request whose line is `request` ("GET /a HTTP/1.1").
fn response_to<'a>(c: &'a Value, request: &str) -> &'a Value {
    let msgs = c["messages"].as_array().unwrap();
    let mut parts = request.split(' ');
    let (method, uri) = (parts.next().unwrap(), parts.next().unwrap());
    let req = msgs
        .iter()
        .find(|m| m["kind"] == "request" && m["method"] == method && m["uri"] == uri)
        .unwrap_or_else(|| panic!("request {request} not found in {c}"));
    msgs.iter()
        .find(|m| m["kind"] == "response" && m["number"] == req["number"])
        .unwrap_or_else(|| panic!("no response to {request}"))
}

fn verdicts(m: &Value) -> Vec<&str> {
    m["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["verdict"].as_str().unwrap())
        .collect()
}

#[test]
fn scenario_exchanges_match_what_the_servers_sent() {
    let t = truth();
    let r = http_json(&scenario().join("capture.pcapng"));
    let conns = by_client_port(&r);
    let mut checked = 0;
    for e in t["exchanges"].as_array().unwrap() {
        let resp = &e["response"];
        let Some(status) = resp["status_line"].as_str() else {
            continue; // never answered: checked with the connection's end below
        };
        let c = conns[&e["client_port"].as_u64().unwrap()];
        let m = response_to(c, e["request"].as_str().unwrap());
        let code: u64 = status.split(' ').nth(1).unwrap().parse().unwrap();
        assert_eq!(m["code"].as_u64(), Some(code), "{}", e["id"]);
        let hdr = &resp["headers"];
        let cl = hdr["content-length"]
            .as_str()
            .map(|v| v.parse::<u64>().unwrap());
        let body_len = resp["body_len"].as_u64().unwrap();
        let extra = resp["extra_after_body"].as_str().unwrap_or("").len() as u64;
        let ended = resp["ended"].as_str().unwrap();
        let v = verdicts(m);
        match (cl, ended) {
            // Declared more than the server sent: the client timed out in the body.
            (Some(n), "timeout-in-body") if body_len < n => {
                assert_eq!(v, ["body_shorter_than_length"], "{}", e["id"]);
                let vd = &m["verdicts"][0];
                assert_eq!(vd["declared"].as_u64(), Some(n));
                assert_eq!(vd["received"].as_u64(), Some(body_len));
            }
            // The server sent bytes beyond Content-Length.
            (Some(n), "complete") if extra > 0 => {
                assert_eq!(v, ["body_longer_than_length"], "{}", e["id"]);
                let vd = &m["verdicts"][0];
                assert_eq!(vd["declared"].as_u64(), Some(n));
                assert_eq!(vd["excess"].as_u64(), Some(extra));
                assert!(
                    vd["next_frame"].as_u64().is_some(),
                    "the next response follows"
                );
            }
            (Some(n), "complete") => {
                assert!(v.is_empty(), "{}: {v:?}", e["id"]);
                assert_eq!(m["body_bytes"].as_u64(), Some(n));
            }
            (None, "complete") => {
                // Chunked: the body truth records is the encoded body.
                assert_eq!(hdr["transfer-encoding"], "chunked");
                assert!(v.is_empty(), "{}: {v:?}", e["id"]);
                assert_eq!(m["framing"]["type"], "chunked");
                assert_eq!(m["body_bytes"].as_u64(), Some(body_len));
            }
            (None, "complete-at-eof") => {
                assert!(v.is_empty(), "{}: {v:?}", e["id"]);
                assert_eq!(m["framing"]["type"], "until_close");
                assert_eq!(m["body_bytes"].as_u64(), Some(body_len));
                assert_eq!(c["close"]["kind"], "server_end_of_body");
            }
            other => panic!("{}: unexpected truth case {other:?}", e["id"]),
        }
        let ver = if status.starts_with("HTTP/1.0") { 0 } else { 1 };
        assert_eq!(m["version"].as_u64(), Some(ver), "{}", e["id"]);
        if let Some(h) = hdr["connection"].as_str() {
            assert_eq!(m["connection"].as_str(), Some(h), "{}", e["id"]);
        }
        checked += 1;
    }
    let answered = t["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["response"]["status_line"].is_string())
        .count();
    assert!(
        checked == answered && checked > 10,
        "{checked} of {answered}"
    );
    // Every fault of the report is one the truth describes: exactly r1 (short) and r2 (long).
    assert_eq!(r["faulty_messages"].as_u64(), Some(2));
    let kinds: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    for k in [
        "http_body_shorter_than_length",
        "http_body_longer_than_length",
        "http_request_limit_close",
        "http_reuse_race",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
}

#[test]
fn scenario_connections_end_as_nginx_was_configured() {
    let t = truth();
    let r = http_json(&scenario().join("capture.pcapng"));
    let conns = by_client_port(&r);
    let timeout = t["nginx"]["keepalive_timeout_s"].as_f64().unwrap();
    let limit = t["nginx"]["keepalive_requests"].as_u64().unwrap();
    let sent: BTreeMap<&str, f64> = t["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap(),
                e["request_sent_t"].as_f64().unwrap(),
            )
        })
        .collect();
    for tc in t["connections"].as_array().unwrap() {
        let cport = tc["client_port"].as_u64().unwrap();
        let c = conns[&cport];
        let ids = tc["ids"].as_array().unwrap();
        assert_eq!(c["requests"].as_u64(), Some(ids.len() as u64), "{cport}");
        let end = tc["end"].as_str().unwrap_or("");
        let outcome = tc["outcome"].as_str().unwrap_or("");
        let close = &c["close"];
        if end.contains("keepalive_requests") {
            assert_eq!(close["kind"], "server_request_limit", "{cport}");
            assert_eq!(close["after"].as_u64(), Some(limit));
        } else if end.contains("keepalive_timeout") || outcome == "eof-before-headers" {
            // The reused request met a connection nginx had closed: the reuse race.
            assert_eq!(close["kind"], "reuse_race", "{cport}: {close}");
            let idle = secs(&close["idle_s"]);
            assert!(
                idle >= timeout && idle < timeout + 0.1,
                "{cport}: idle {idle}"
            );
            let last = ids.last().unwrap().as_str().unwrap();
            // The request frame is the unanswered one the client sent at `request_sent_t`.
            let unanswered = c["messages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["first_frame"] == close["request_frame"])
                .expect("request message");
            let first = unanswered["first_time"].as_str().unwrap();
            let sent_t = keepsight_time::rfc3339::parse(first).unwrap() as f64 / 1e9;
            assert!(
                (sent_t - sent[last]).abs() < 0.005,
                "{cport}: {sent_t} vs {}",
                sent[last]
            );
            assert!(close["rst_frame"].as_u64().is_some());
            assert_eq!(c["responses"].as_u64(), Some(ids.len() as u64 - 1));
        } else if outcome == "complete" {
            // Reused just before the timeout: served; the idle gap is the reuse offset.
            assert_eq!(c["responses"].as_u64(), Some(2));
            let gap = secs(&c["idle_gaps_s"][0]);
            let want = tc["actual_reuse_offset_s"].as_f64().unwrap();
            assert!((gap - want).abs() < 0.002, "{cport}: gap {gap} vs {want}");
            assert_ne!(close["kind"], "reuse_race");
        }
    }
    // nginx's settings, estimated back from how it closed.
    let s = r["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| port(s["server"].as_str().unwrap()) == 80)
        .expect("nginx estimate");
    assert_eq!(s["request_limit"].as_u64(), Some(limit));
    let lo = secs(&s["idle_timeout_min_s"]);
    let hi = secs(&s["idle_timeout_max_s"]);
    assert!(lo >= timeout && hi < timeout + 0.1, "{lo}..{hi}");
    // A reuse 1.99/2.00 s after the response was served: the timeout is not below that.
    assert!(secs(&s["longest_survived_idle_s"]) <= timeout + 0.01);
}

/// tshark -2 fields per frame: (method, code, request_in, response_in).
fn tshark_http(capture: &Path) -> BTreeMap<u64, (String, String, String, String)> {
    let out = Command::new("tshark")
        .args(["-2", "-n", "-r"])
        .arg(capture)
        .args([
            "-Y",
            "http",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "http.request.method",
            "-e",
            "http.response.code",
            "-e",
            "http.request_in",
            "-e",
            "http.response_in",
        ])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut m = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 5 {
            continue;
        }
        m.insert(
            f[0].parse().unwrap(),
            (f[1].into(), f[2].into(), f[3].into(), f[4].into()),
        );
    }
    m
}

/// Our messages by end frame: (method, code, request_in, response_in), pipelined ones joined
/// with commas as tshark does.
fn ours_by_frame(r: &Value) -> BTreeMap<u64, (String, String, String, String)> {
    let mut m: BTreeMap<u64, (String, String, String, String)> = BTreeMap::new();
    for c in r["connections"].as_array().unwrap() {
        for msg in c["messages"].as_array().unwrap() {
            let Some(f) = msg["frame"].as_u64().filter(|&f| f != 0) else {
                continue;
            };
            let e = m.entry(f).or_default();
            let s = |v: &Value| match v {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            let join = |a: &mut String, b: String| {
                if !b.is_empty() {
                    if !a.is_empty() {
                        a.push(',');
                    }
                    a.push_str(&b);
                }
            };
            join(&mut e.0, s(&msg["method"]));
            join(&mut e.1, s(&msg["code"]));
            join(&mut e.2, s(&msg["request_in"]));
            join(&mut e.3, s(&msg["response_in"]));
        }
    }
    m
}

#[test]
fn pairing_agrees_with_tshark_where_its_framing_agrees() {
    let cap = scenario().join("capture.pcapng");
    if !keepsight_testlab::require_tool("tshark") {
        return;
    }
    let ts = tshark_http(&cap);
    let r = http_json(&cap);
    let ours = ours_by_frame(&r);
    let t = truth();
    // Documented differences, from truth: tshark 4.0.17 keeps the stray byte after a too-long
    // body as a pending PDU, so the next response on that connection ("r2b") is not dissected
    // (its frame shows bare "http", its request no response_in); it never completes a short-body
    // response ("r1"): no response frame, no response_in — same as ours, which reports it
    // unfinished.
    let r2b = t["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "r2b")
        .unwrap();
    let conns = by_client_port(&r);
    let r2b_resp = response_to(
        conns[&r2b["client_port"].as_u64().unwrap()],
        r2b["request"].as_str().unwrap(),
    );
    let r2b_frame = r2b_resp["frame"].as_u64().unwrap();
    let r2b_req_frame = r2b_resp["request_in"].as_u64().unwrap();
    let mut compared = 0;
    for (f, theirs) in &ts {
        if *f == r2b_frame {
            assert_eq!(
                theirs.1, "",
                "tshark does not dissect the response after the stray byte"
            );
            continue;
        }
        let mine = ours
            .get(f)
            .unwrap_or_else(|| panic!("frame {f}: tshark has {theirs:?}, we have nothing"));
        if *f == r2b_req_frame {
            assert_eq!((&mine.0, &mine.2), (&theirs.0, &theirs.2), "frame {f}");
            assert_eq!(theirs.3, "");
            continue;
        }
        assert_eq!(mine, theirs, "frame {f}");
        compared += 1;
    }
    // And nothing of ours that tshark lacks.
    for f in ours.keys() {
        assert!(ts.contains_key(f), "frame {f}: ours only");
    }
    assert!(compared >= 30, "{compared}");
}
