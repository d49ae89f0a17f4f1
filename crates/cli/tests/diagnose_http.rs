//! `keepsight diagnose` reports the HTTP/1.x keep-alive and framing faults of the
//! `http-keepalive` scenario, checked against what the scenario's script did (its truth.json):
//! which server response was short or long, which reuse was answered by a reset, which
//! connection nginx closed at its request limit, and no fault where the server framed correctly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

#[test]
fn http_findings_follow_the_scenario_truth() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios/http-keepalive");
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .args(["diagnose", "--json"])
        .arg(dir.join("capture.pcapng"))
        .output()
        .unwrap();
    assert!(out.status.code().is_some());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");

    // stream -> client port, from the report's own endpoint list.
    let mut port_of = BTreeMap::new();
    for s in report["streams"].as_array().unwrap() {
        let client = s["endpoints"]["client"].as_str().unwrap();
        let port: u64 = client.rsplit(':').next().unwrap().parse().unwrap();
        port_of.insert(s["stream"].as_u64().unwrap(), port);
    }
    let mut found: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for f in report["findings"].as_array().unwrap() {
        let kind = f["kind"].as_str().unwrap().to_string();
        if let Some(stream) = f["stream"].as_u64() {
            found.entry(kind).or_default().insert(port_of[&stream]);
        }
    }
    let ports = |kind: &str| found.get(kind).cloned().unwrap_or_default();

    // What the scripted server was told to send.
    let writes = truth["scripted_server"]["writes"].as_array().unwrap();
    let port_of_write = |needle: &str| -> u64 {
        writes
            .iter()
            .find(|w| w["what"].as_str().unwrap().starts_with(needle))
            .unwrap()["peer_port"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        ports("http_body_shorter_than_length"),
        BTreeSet::from([port_of_write("/short:")])
    );
    assert_eq!(
        ports("http_body_longer_than_length"),
        BTreeSet::from([port_of_write("/long:")])
    );

    // nginx: the connection it closed after keepalive_requests, and the reuses it answered with
    // a reset (the request arrived after its idle-timeout FIN), from the driver's notes.
    let conns = truth["connections"].as_array().unwrap();
    let limit_port = conns
        .iter()
        .find(|c| {
            c["end"]
                .as_str()
                .is_some_and(|e| e.contains("keepalive_requests"))
        })
        .unwrap()["client_port"]
        .as_u64()
        .unwrap();
    assert_eq!(
        ports("http_request_limit_close"),
        BTreeSet::from([limit_port])
    );
    let raced: BTreeSet<u64> = conns
        .iter()
        .filter(|c| {
            c["end"].as_str().is_some_and(|e| e.contains("RST"))
                || c["outcome"].as_str() == Some("eof-before-headers")
        })
        .map(|c| c["client_port"].as_u64().unwrap())
        .collect();
    assert_eq!(raced.len(), 2, "the scenario has two losing reuses");
    assert_eq!(ports("http_reuse_race"), raced);

    // Correctly framed exchanges (chunked, HTTP/1.0 keep-alive, close-delimited) raise nothing.
    for kind in [
        "http_unterminated_chunked",
        "http_invalid_chunk",
        "http_te_and_length",
        "http_duplicate_content_length",
    ] {
        assert!(ports(kind).is_empty(), "{kind}: {:?}", ports(kind));
    }
}
