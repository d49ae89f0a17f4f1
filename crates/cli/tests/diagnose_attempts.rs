//! `keepsight diagnose` on the generator's stream-heavy scenarios (`syn-flood`, `scan`,
//! `reconnect-storm`), each finding about connection attempts checked number by number against
//! the generator's ground truth, and nothing claimed that the truth does not hold.

use keepsight_gen::shapes::{reconnect_storm, scan};
use keepsight_gen::truth::{Detail, ProbeOutcome, ReconnectRole, Truth};
use keepsight_gen::{generate_file, Config};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::Command;

fn diagnose(config: &Config, name: &str) -> (Truth, Value) {
    let path = std::env::temp_dir().join(format!(
        "keepsight-attempts-{name}-{}.pcap",
        std::process::id()
    ));
    let truth = generate_file(config, &path).expect("generate the capture");
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("diagnose")
        .arg(&path)
        .arg("--json")
        .output()
        .expect("run keepsight");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        truth,
        serde_json::from_slice(&out.stdout).expect("JSON report"),
    )
}

fn of<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

fn f64_of(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn scenario(name: &str) -> &'static keepsight_gen::shapes::Scenario {
    keepsight_gen::shapes::scenario(name).expect("a scenario")
}

#[test]
fn a_syn_flood_is_one_syn_unanswered_finding_that_says_flood() {
    let (truth, r) = diagnose(&Config::scenario(scenario("syn-flood"), 5_000, 7), "flood");
    let f = of(&r, "syn_unanswered");
    assert_eq!(f.len(), 1, "{:#}", r["findings"]);
    let f = f[0];
    assert_eq!(f["verdict"], "flood");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["attempts"], truth.connections.len() as u64);
    assert_eq!(f["syns"], truth.counts.syn);
    let server = truth.connections[0].server;
    assert_eq!(f["server"], server.ip().to_string());
    assert_eq!(f["ports_count"], 1);
    assert_eq!(f["ports"][0]["port"], server.port());
    assert_eq!(f["ports"][0]["attempts"], truth.connections.len() as u64);
    let sources: BTreeSet<IpAddr> = truth.connections.iter().map(|c| c.client.ip()).collect();
    let n = sources.len() as f64;
    assert_eq!(f["estimated"], true);
    // The sketch's standard error is 3.3 %: three of them.
    assert!(
        (f64_of(&f["sources"]) - n).abs() <= 0.1 * n,
        "{} vs {n}",
        f["sources"]
    );
    let span_s = (truth.last_time_us - truth.first_time_us) as f64 / 1e6;
    assert!((f64_of(&f["duration_s"]) - span_s).abs() < 1e-6);
    let rate = truth.counts.syn as f64 / span_s;
    assert!((f64_of(&f["rate_per_s"]) - rate).abs() < 0.01 * rate);
    assert_eq!(f["frames"][0], truth.connections[0].first_frame);
    for quiet in [
        "connection_refused",
        "scan",
        "reconnect_storm",
        "connection_reset",
    ] {
        assert!(of(&r, quiet).is_empty(), "{quiet}: {:#}", r["findings"]);
    }
    assert!(r["causes"].as_array().unwrap().is_empty());
}

#[test]
fn a_port_scan_and_a_host_scan_are_two_scan_findings() {
    let (truth, r) = diagnose(&Config::scenario(scenario("scan"), 2_175, 3), "scan");
    let scans = of(&r, "scan");
    assert_eq!(scans.len(), 2, "{:#}", r["findings"]);
    for (scanner, kind) in [(scan::PORT_SCANNER, "ports"), (scan::HOST_SCANNER, "hosts")] {
        let ip = IpAddr::from(scanner);
        let probes: Vec<ProbeOutcome> = truth
            .connections
            .iter()
            .filter(|c| c.client.ip() == ip)
            .map(|c| match c.detail {
                Detail::ScanProbe(p) => p.outcome,
                _ => panic!("not a probe: {c:?}"),
            })
            .collect();
        let count = |o: ProbeOutcome| probes.iter().filter(|&&p| p == o).count() as u64;
        let ports: BTreeSet<u16> = truth
            .connections
            .iter()
            .filter(|c| c.client.ip() == ip)
            .map(|c| c.server.port())
            .collect();
        let hosts: BTreeSet<IpAddr> = truth
            .connections
            .iter()
            .filter(|c| c.client.ip() == ip)
            .map(|c| c.server.ip())
            .collect();
        let f = scans
            .iter()
            .find(|f| f["source"] == ip.to_string())
            .unwrap_or_else(|| panic!("no scan by {ip}"));
        assert_eq!(f["swept"], kind, "{f}");
        assert_eq!(f["attempts"], probes.len() as u64, "{f}");
        assert_eq!(f["ports"], ports.len() as u64, "{f}");
        assert_eq!(f["hosts"], hosts.len() as u64, "{f}");
        assert_eq!(f["estimated"], false, "{f}");
        assert_eq!(f["answered"], count(ProbeOutcome::Open), "{f}");
        assert_eq!(f["refused"], count(ProbeOutcome::Closed), "{f}");
        assert_eq!(f["unanswered"], count(ProbeOutcome::Filtered), "{f}");
    }
    // The port-scanned host's filtered ports: silence while it answered the others (a firewall).
    let target = IpAddr::from([192, 0, 2, 16]);
    let silent = of(&r, "syn_unanswered");
    let f = silent
        .iter()
        .find(|f| f["server"] == target.to_string())
        .expect("the scanned host's filtered ports");
    let filtered: BTreeSet<u64> = f["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    let truth_filtered: BTreeSet<u64> =
        scan::FILTERED_PORTS.iter().map(|&p| u64::from(p)).collect();
    assert_eq!(filtered, truth_filtered, "{f}");
    // Every unanswered or refused probe is the scanners': told by the scan findings.
    for f in silent.iter().chain(of(&r, "connection_refused").iter()) {
        if f["server"] != target.to_string() {
            assert_eq!(f["severity"], "info", "{f}");
        }
    }
    // Hosts that do not exist were probed once each, by the host scanner; a probe sent less
    // than 1 s before the capture ends may just have been cut from its answer: not claimed.
    let absent: BTreeSet<String> = truth
        .connections
        .iter()
        .filter(|c| c.server.ip() != target)
        .filter(|c| {
            matches!(c.detail, Detail::ScanProbe(p)
                if p.outcome == ProbeOutcome::Filtered && p.syn_us + 1_000_000 <= truth.last_time_us)
        })
        .map(|c| c.server.ip().to_string())
        .collect();
    let claimed: BTreeSet<String> = silent
        .iter()
        .filter(|f| f["server"] != target.to_string())
        .map(|f| {
            assert_eq!(f["verdict"], "scan", "{f}");
            assert_eq!(f["attempts"], 1, "{f}");
            f["server"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(claimed, absent);
    assert!(of(&r, "reconnect_storm").is_empty(), "{:#}", r["findings"]);
    assert!(of(&r, "connection_reset").is_empty(), "{:#}", r["findings"]);
}

#[test]
fn each_client_of_a_reconnect_storm_is_one_finding_tied_to_its_dead_connection() {
    let (truth, r) = diagnose(
        &Config::scenario(scenario("reconnect-storm"), 209, 1),
        "storm",
    );
    let storms = of(&r, "reconnect_storm");
    assert_eq!(
        storms.len(),
        reconnect_storm::POLICIES.len(),
        "{:#}",
        r["findings"]
    );
    let backoffs = ["exponential", "none", "increasing"];
    let mut refused_total = 0;
    for client in 0..reconnect_storm::POLICIES.len() as u32 {
        let mine: Vec<(u32, ReconnectRole, u64)> = truth
            .connections
            .iter()
            .filter_map(|c| match c.detail {
                Detail::Reconnect(t) if t.client == client => Some((c.stream, t.role, t.syn_us)),
                _ => None,
            })
            .collect();
        let died = mine.iter().find(|m| m.1 == ReconnectRole::Died).unwrap();
        let through = mine
            .iter()
            .find(|m| m.1 == ReconnectRole::GotThrough)
            .unwrap();
        let refused: Vec<&(u32, ReconnectRole, u64)> = mine
            .iter()
            .filter(|m| m.1 == ReconnectRole::Refused)
            .collect();
        refused_total += refused.len();
        let f = storms
            .iter()
            .find(|f| f["got_through"] == through.0)
            .unwrap_or_else(|| panic!("no storm ends with stream {}", through.0));
        assert_eq!(f["stream"], through.0, "{f}");
        assert_eq!(f["attempts"], refused.len() as u64, "{f}");
        assert_eq!(f["refused"], refused.len() as u64, "{f}");
        assert_eq!(f["unanswered"], 0, "{f}");
        let streams: Vec<u64> = refused.iter().map(|m| u64::from(m.0)).collect();
        assert_eq!(f["streams"], serde_json::json!(streams), "{f}");
        let mut syns: Vec<u64> = refused.iter().map(|m| m.2).collect();
        syns.push(through.2);
        let gaps: Vec<f64> = f["gaps_s"].as_array().unwrap().iter().map(f64_of).collect();
        let want: Vec<f64> = syns
            .windows(2)
            .map(|w| (w[1] - w[0]) as f64 / 1e6)
            .collect();
        assert_eq!(gaps.len(), want.len(), "{f}");
        for (g, w) in gaps.iter().zip(&want) {
            assert!((g - w).abs() < 1e-6, "{f}: gap {g} vs {w}");
        }
        assert_eq!(f["backoff"], backoffs[client as usize], "{f}");
        let after = (through.2 - refused[0].2) as f64 / 1e6;
        assert!(
            (f64_of(&f["got_through_after_s"]) - after).abs() < 1e-6,
            "{f}"
        );
        let earlier = &f["after"];
        assert_eq!(earlier["stream"], died.0, "{f}");
        assert_eq!(earlier["close"], "rst", "{f}");
        assert_eq!(earlier["by"], "server", "{f}");
        assert_eq!(earlier["cause"], "connection_reset", "{f}");
        let message = f["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("stream {} died by a reset; ", died.0)),
            "{message}"
        );
    }
    let refused = of(&r, "connection_refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["attempts"], refused_total as u64);
    assert_eq!(
        refused[0]["sources"],
        reconnect_storm::POLICIES.len() as u64
    );
    assert_eq!(refused[0]["ports"][0]["port"], reconnect_storm::SERVER_PORT);
    // The resets of the crash are the connection resets; the refusals are not.
    let resets: BTreeSet<u64> = of(&r, "connection_reset")
        .iter()
        .map(|f| f["stream"].as_u64().unwrap())
        .collect();
    let died: BTreeSet<u64> = truth
        .connections
        .iter()
        .filter(|c| matches!(c.detail, Detail::Reconnect(t) if t.role == ReconnectRole::Died))
        .map(|c| u64::from(c.stream))
        .collect();
    assert_eq!(resets, died);
    assert!(of(&r, "syn_unanswered").is_empty());
    assert!(of(&r, "scan").is_empty());
}
