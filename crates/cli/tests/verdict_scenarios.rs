//! keepsight on the issue-15 scenarios for drains, request limits and resets forged after idle
//! (tests/scenarios/http-drain, tests/scenarios/middlebox-idle-rst). Expectations come from
//! what each driver did and counted itself (truth.json: the responses its client read and the
//! Connection headers in them, the RST its box forged and the idle time it waited), never from
//! keepsight's output.

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
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

fn keepsight(command: &str, capture: &Path, extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg(command)
        .arg(capture)
        .arg("--json")
        .args(extra)
        .output()
        .expect("run keepsight");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "keepsight {command} {}: {}",
        capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn f64_of(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn port_of(addr: &str) -> u64 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// The 95 % Wilson interval, computed here from its definition (Wilson 1927).
fn wilson(k: f64, n: f64) -> (f64, f64) {
    let z = 1.959_963_984_540_054_f64;
    let p = k / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    (centre - half, centre + half)
}

#[test]
fn haproxy_drain_and_nginx_request_limit_are_told_apart() {
    let t = truth("http-drain");
    let cap = scenario("http-drain").join("capture.pcapng");
    let r = keepsight("http", &cap, &[]);
    let server = |addr: &str| -> &Value {
        r["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["server"] == addr)
            .unwrap_or_else(|| panic!("no estimate for {addr}: {}", r["servers"]))
    };

    // HAProxy: the ratio the client counted, inside its interval; no request limit.
    let ha = &t["haproxy"];
    let (k, n) = (f64_of(&ha["close_responses"]), f64_of(&ha["responses"]));
    let s = server(ha["server"].as_str().unwrap());
    assert!(s["request_limit"].is_null(), "{s}");
    let d = &s["drain"];
    assert!((f64_of(&d["close_ratio"]) - k / n).abs() < 1e-4, "{d}");
    let (lo, hi) = wilson(k, n);
    assert!(
        (f64_of(&d["close_ratio_low"]) - lo).abs() < 1e-4,
        "{d} vs {lo}"
    );
    assert!(
        (f64_of(&d["close_ratio_high"]) - hi).abs() < 1e-4,
        "{d} vs {hi}"
    );
    // The rule was a constant 30 %: no ramp, and the interval holds it.
    assert!(d["ramp"].is_null(), "{d}");
    assert!(lo < 0.30 && 0.30 < hi, "{lo}-{hi}");

    // nginx: the limit it was configured with, no drain.
    let ng = &t["nginx"];
    let s = server(ng["server"].as_str().unwrap());
    assert_eq!(s["request_limit"], ng["keepalive_requests"], "{s}");
    assert!(s["drain"].is_null(), "{s}");

    // Each connection: closed where the driver's client saw the close.
    for (name, kind) in [
        ("haproxy", "server_drain"),
        ("nginx", "server_request_limit"),
    ] {
        for c in t[name]["connections"].as_array().unwrap() {
            let port = c["client_port"].as_u64().unwrap();
            let conn = r["connections"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| port_of(x["client"].as_str().unwrap()) == port)
                .unwrap_or_else(|| panic!("{name} connection from {port} missing"));
            assert_eq!(conn["responses"], c["responses"], "{conn}");
            let close = &conn["close"];
            if c["said_close_at"].is_null() {
                assert_eq!(close["kind"], "client_close", "{close}");
            } else {
                assert_eq!(close["kind"], kind, "{close}");
                assert_eq!(close["after"], c["said_close_at"], "{close}");
            }
        }
    }

    // diagnose: one http_drain for HAProxy naming all its drained connections; nginx's closes
    // stay request-limit closes.
    let dg = keepsight("diagnose", &cap, &[]);
    let findings = dg["findings"].as_array().unwrap();
    let drains: Vec<&Value> = findings
        .iter()
        .filter(|f| f["kind"] == "http_drain")
        .collect();
    assert_eq!(drains.len(), 1, "{drains:?}");
    assert_eq!(drains[0]["server"], ha["server"]);
    assert_eq!(drains[0]["severity"], "warning");
    let drained = ha["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["said_close_at"].is_null())
        .count();
    assert_eq!(drains[0]["streams"].as_array().unwrap().len(), drained);
    let limits = findings
        .iter()
        .filter(|f| f["kind"] == "http_request_limit_close")
        .count();
    let nginx_limited = ng["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["said_close_at"].is_null())
        .count();
    assert_eq!(limits, nginx_limited);
    assert!(dg["summary"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s.as_str().unwrap().contains("draining")));
}

#[test]
fn reset_forged_after_idle_is_one_middlebox_story() {
    let t = truth("middlebox-idle-rst");
    let cap = scenario("middlebox-idle-rst").join("capture.pcapng");
    let first = &t["connections"][0];
    let port = first["client_port"].as_u64().unwrap();
    let second_port = t["connections"][1]["client_port"].as_u64().unwrap();
    let inj = &t["injected_rst"];
    for extra in [&[][..], &["--middlebox", "lab-nat=3"][..]] {
        let r = keepsight("diagnose", &cap, extra);
        let stream_of = |p: u64| -> u64 {
            r["streams"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| port_of(s["endpoints"]["client"].as_str().unwrap()) == p)
                .unwrap_or_else(|| panic!("no stream from port {p}"))["stream"]
                .as_u64()
                .unwrap()
        };
        let (s0, s1) = (stream_of(port), stream_of(second_port));
        let on = |s: u64, kind: &str| -> Vec<&Value> {
            r["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["stream"] == s && f["kind"] == kind)
                .collect()
        };
        let f = on(s0, "middlebox_idle_reset");
        assert_eq!(f.len(), 1, "{}", r["findings"]);
        let f = f[0];
        assert_eq!(f["by"], "server");
        assert_eq!(f["ttl"], inj["ip_ttl"]);
        assert_eq!(
            f["usual_ttl_min"],
            t["genuine_server_packets_at_client"]["ip_ttl"]
        );
        assert_eq!(
            f["usual_ttl_max"],
            t["genuine_server_packets_at_client"]["ip_ttl"]
        );
        let idle = f64_of(&first["idle_s"]);
        let got = f64_of(&f["idle_s"]);
        // The driver measured from its read of the last reply; on the wire the gap may end
        // a delayed ACK later.
        assert!(got <= idle + 0.01 && got > idle - 0.2, "{got} vs {idle}");
        let boxes: Vec<&str> = f["middleboxes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_str().unwrap())
            .collect();
        if extra.is_empty() {
            assert!(boxes.is_empty(), "{boxes:?}");
        } else {
            assert_eq!(boxes, ["lab-nat"]);
        }
        // One story: no separate forged-reset finding, no half-open connection.
        assert!(on(s0, "injected_reset").is_empty());
        let resets = on(s0, "connection_reset");
        assert_eq!(resets.len(), 1);
        assert_eq!(resets[0]["half_open"], false);
        assert_eq!(resets[0]["severity"], "info");
        assert!(on(s1, "middlebox_idle_reset").is_empty());
        assert!(on(s1, "connection_reset").is_empty());
    }
}
