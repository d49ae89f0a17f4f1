//! `keepsight diagnose` on the real scenario captures of tests/scenarios/. Every expectation comes
//! from the scenario driver's truth.json (what it did and when, from its own clock) or from its
//! documented setup, never from keepsight's output.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios")
}

fn truth(name: &str) -> Value {
    let p = scenarios().join(name).join("truth.json");
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

/// Runs `keepsight diagnose --json` and parses the report.
fn diagnose(capture: &Path, extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("diagnose")
        .arg(capture)
        .arg("--json")
        .args(extra)
        .output()
        .expect("run keepsight");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "keepsight diagnose {}: {stderr}",
        capture.display()
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// RFC 3339 UTC (`2026-11-29T01:41:37.579871Z`) → Unix seconds.
fn epoch(s: &str) -> f64 {
    let b = s.as_bytes();
    let n = |a: usize, l: usize| s[a..a + l].parse::<i64>().unwrap();
    assert!(b.len() >= 20 && b[4] == b'-' && b[10] == b'T', "{s}");
    let (y, m, d) = (n(0, 4), n(5, 2), n(8, 2));
    // Days from civil (March-based year).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let frac: f64 = s[19..s.len() - 1].parse::<f64>().unwrap_or(0.0);
    (days * 86_400 + n(11, 2) * 3600 + n(14, 2) * 60 + n(17, 2)) as f64 + frac
}

fn f64_of(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn stream_of<'a>(r: &'a Value, client: &str) -> &'a Value {
    r["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["endpoints"]["client"] == client)
        .unwrap_or_else(|| panic!("no stream with client {client}"))
}

fn findings<'a>(r: &'a Value, stream: &Value, kind: &str) -> Vec<&'a Value> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["stream"] == *stream && f["kind"] == kind)
        .collect()
}

fn all_findings<'a>(r: &'a Value, kind: &str) -> Vec<&'a Value> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

/// Capture time and driver time share the system clock; frames differ from the driver's
/// timestamps by the socket path only.
const CLOCK_TOL_S: f64 = 0.005;

#[test]
fn late_heartbeat_incident() {
    let t = truth("late-heartbeat");
    let dir = scenarios().join("late-heartbeat");
    let log = dir.join("app.log");
    let r = diagnose(
        &dir.join("capture.pcapng"),
        &["--log", log.to_str().unwrap()],
    );
    let period = f64_of(&t["period_s"]);
    let server = t["server"].as_str().unwrap();
    let incidents = t["incidents"].as_array().unwrap();
    assert!(!incidents.is_empty());

    for inc in incidents {
        let client = format!(
            "{}:{}",
            inc["client_addr"].as_str().unwrap(),
            inc["client_port"]
        );
        let s = stream_of(&r, &client);
        assert_eq!(s["endpoints"]["server"], server);
        let hb = &s["heartbeat"];
        assert_eq!(hb["sender"], "client");
        assert_eq!(hb["probe_hex"], t["heartbeat_request"]);
        assert_eq!(hb["reply_hex"], t["heartbeat_reply"]);
        assert!(
            (f64_of(&hb["period_s"]) - period).abs() < 0.01,
            "{client}: period {}",
            hb["period_s"]
        );
        assert_eq!(s["close"]["kind"], "rst");
        assert_eq!(s["close"]["by"], inc["rst_by"]);
        assert!(
            (epoch(s["close"]["time"].as_str().unwrap()) - f64_of(&inc["rst_t"])).abs()
                < CLOCK_TOL_S
        );

        let d = findings(&r, &s["stream"], "reset_after_heartbeat_deadline");
        assert_eq!(d.len(), 1, "{client}: {d:?}");
        assert_eq!(d[0]["severity"], "critical");
        assert_eq!(d[0]["cause"], "late_probe");
        assert_eq!(d[0]["by"], "client");
        assert!(
            (f64_of(&d[0]["gap_s"]) - f64_of(&inc["gap_s"])).abs() < CLOCK_TOL_S,
            "{client}: gap {}",
            d[0]["gap_s"]
        );
        let msg = d[0]["message"].as_str().unwrap();
        assert!(
            msg.contains("scheduler") && msg.contains("not the network"),
            "{msg}"
        );
        // The reply came back before the reset: the reply latency is below the reset delay.
        let reply_ms = f64_of(&d[0]["reply_latency_ms"]);
        let late_reply_ms = (f64_of(&inc["late_reply_t"]) - f64_of(&inc["late_beat_sent_t"])) * 1e3;
        assert!(
            reply_ms <= late_reply_ms + 1.0,
            "{reply_ms} vs driver's {late_reply_ms}"
        );

        let late = findings(&r, &s["stream"], "late_heartbeat");
        assert_eq!(late.len(), 1);
        assert!(
            (epoch(late[0]["time"].as_str().unwrap()) - f64_of(&inc["late_beat_sent_t"])).abs()
                < CLOCK_TOL_S
        );
        assert!((f64_of(&late[0]["late_by_s"]) - (f64_of(&inc["gap_s"]) - period)).abs() < 0.01);
    }
    assert_eq!(
        all_findings(&r, "reset_after_heartbeat_deadline").len(),
        incidents.len()
    );
    assert_eq!(all_findings(&r, "late_heartbeat").len(), incidents.len());

    // Every connection of every client: its beats, and nothing wrong on the on-time ones.
    let mut conns = 0;
    for c in t["clients"].as_array().unwrap() {
        for conn in c["connections"].as_array().unwrap() {
            conns += 1;
            let client = format!("{}:{}", c["addr"].as_str().unwrap(), conn["client_port"]);
            let s = stream_of(&r, &client);
            let beats = conn["beats"].as_array().unwrap();
            assert_eq!(s["heartbeat"]["beats"], beats.len(), "{client}");
            assert_eq!(s["close"]["kind"], conn["end"]["kind"], "{client}");
            assert!(
                (epoch(s["close"]["time"].as_str().unwrap()) - f64_of(&conn["end"]["t"])).abs()
                    < 0.05,
                "{client}"
            );
            if conn["end"]["kind"] == "fin" {
                for k in [
                    "late_heartbeat",
                    "missed_heartbeat",
                    "reset_after_heartbeat_deadline",
                    "unanswered_heartbeat",
                ] {
                    assert!(findings(&r, &s["stream"], k).is_empty(), "{client}: {k}");
                }
            }
        }
    }
    assert_eq!(r["streams"].as_array().unwrap().len(), conns);

    // The summary says it in words.
    let summary = r["summary"][0].as_str().unwrap();
    assert!(summary.contains("network was fine"), "{summary}");

    // Each "error" line of the app log is matched to its client's reset.
    let text = std::fs::read_to_string(&log).unwrap();
    let matches = all_findings(&r, "log_match");
    for inc in incidents {
        let client = format!(
            "{}:{}",
            inc["client_addr"].as_str().unwrap(),
            inc["client_port"]
        );
        let name = inc["client"].as_str().unwrap();
        let line_no = text
            .lines()
            .position(|l| l.contains(name) && l.contains(" error "))
            .map(|i| i + 1)
            .expect("error line in app.log");
        let stream = &stream_of(&r, &client)["stream"];
        let m = matches
            .iter()
            .find(|m| m["line"] == line_no)
            .unwrap_or_else(|| panic!("log line {line_no} not matched"));
        assert!(m["streams"].as_array().unwrap().contains(stream), "{m}");
    }
    assert_eq!(r["log"]["clock_offset_s"], 0.0);
}

#[test]
fn keepalive_dead_peer() {
    let t = truth("keepalive-dead-peer");
    let ka = &t["keepalive"];
    for cap in ["capture-client.pcapng", "capture-server.pcapng"] {
        let r = diagnose(&scenarios().join("keepalive-dead-peer").join(cap), &[]);
        let s = stream_of(&r, t["client"].as_str().unwrap());
        assert_eq!(s["endpoints"]["server"], t["server"]);
        let k = s["tcp_keepalive"].as_array().unwrap();
        assert_eq!(k.len(), 1, "{cap}");
        let k = &k[0];
        assert_eq!(k["sender"], ka["side"]);
        assert!(
            (f64_of(&k["idle_s"]) - f64_of(&ka["idle_s"])).abs() < 0.1,
            "{cap}: idle {}",
            k["idle_s"]
        );
        assert!(
            (f64_of(&k["interval_s"]) - f64_of(&ka["interval_s"])).abs() < 0.1,
            "{cap}: interval {}",
            k["interval_s"]
        );
        assert_eq!(k["count"], ka["count"], "{cap}");
        assert_eq!(k["unanswered"], t["expected"]["unanswered_probes"], "{cap}");
        let f = findings(&r, &s["stream"], "keepalive_unanswered");
        assert_eq!(f.len(), 1, "{cap}");
        assert_eq!(f[0]["unanswered"], t["expected"]["unanswered_probes"]);
        // The kernel's RST ends it, when the client's recv() failed.
        assert_eq!(s["close"]["kind"], "rst");
        assert_eq!(s["close"]["by"], "client");
        assert!(
            (epoch(s["close"]["time"].as_str().unwrap()) - f64_of(&t["client_error_t"])).abs()
                < 0.05,
            "{cap}"
        );
        // The probes started being unanswered once the peer was cut off.
        let first_unanswered = epoch(f[0]["time"].as_str().unwrap());
        assert!(first_unanswered > f64_of(&t["peer_cut_t"]), "{cap}");
        assert!(s["heartbeat"].is_null());
    }
}

#[test]
fn middlebox_forged_reset() {
    let t = truth("middlebox-rst");
    let inj = &t["injected_rst"];
    let first = format!(
        "{}:{}",
        t["client_addr"].as_str().unwrap(),
        t["connections"][0]["client_port"]
    );
    let second = format!(
        "{}:{}",
        t["client_addr"].as_str().unwrap(),
        t["connections"][1]["client_port"]
    );

    let r = diagnose(
        &scenarios().join("middlebox-rst/capture-client.pcapng"),
        &[],
    );
    let s = stream_of(&r, &first);
    let f = findings(&r, &s["stream"], "injected_reset");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["ttl"], inj["ip_ttl"]);
    assert_eq!(
        f[0]["usual_ttl_min"],
        t["genuine_server_packets_at_client"]["ip_ttl"]
    );
    assert_eq!(f[0]["by"], "server");
    assert!((epoch(f[0]["time"].as_str().unwrap()) - f64_of(&inj["t"])).abs() < CLOCK_TOL_S);
    assert_eq!(s["close"]["kind"], "rst");
    assert!(findings(&r, &stream_of(&r, &second)["stream"], "injected_reset").is_empty());
    assert_eq!(all_findings(&r, "injected_reset").len(), 1);
    let hb = &s["heartbeat"];
    assert!((f64_of(&hb["period_s"]) - f64_of(&t["heartbeat_period_s"])).abs() < 0.01);
    assert_eq!(
        hb["beats"],
        t["connections"][0]["beats"].as_array().unwrap().len()
    );

    // The server never saw the forged reset: its side ends only when it closes the stale socket
    // and the client's kernel, which no longer has the connection, answers with RST.
    let r = diagnose(
        &scenarios().join("middlebox-rst/capture-server.pcapng"),
        &[],
    );
    assert!(all_findings(&r, "injected_reset").is_empty());
    let s = stream_of(&r, &first);
    assert_eq!(s["close"]["kind"], "rst");
    assert_eq!(s["close"]["by"], "client");
    assert!(
        (epoch(s["close"]["time"].as_str().unwrap()) - f64_of(&t["server_closes_old_sockets_t"]))
            .abs()
            < 0.05
    );
    let reset = findings(&r, &s["stream"], "connection_reset");
    assert_eq!(reset.len(), 1);
    assert_eq!(reset[0]["half_open"], true);
    // The client's beats stopped at its last beat before the forgery.
    let stopped = findings(&r, &s["stream"], "missed_heartbeat");
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0]["stopped"], true);
    let last_beat = t["connections"][0]["beats"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["sent_t"]
        .clone();
    assert!((epoch(stopped[0]["time"].as_str().unwrap()) - f64_of(&last_beat)).abs() < CLOCK_TOL_S);
}

#[test]
fn nat_idle_drop_strict() {
    let t = truth("nat-idle-drop");
    assert_eq!(t["variant"], "strict");
    assert_eq!(t["after_idle"]["outcome"], "error");
    let log = scenarios().join("nat-idle-drop/app.log");
    let r = diagnose(
        &scenarios().join("nat-idle-drop/capture-client.pcapng"),
        &["--log", log.to_str().unwrap()],
    );
    let s = stream_of(&r, t["client"].as_str().unwrap());
    let f = findings(&r, &s["stream"], "middlebox_state_loss");
    assert_eq!(f.len(), 1, "{:?}", r["findings"]);
    assert_eq!(f[0]["sender"], "client");
    assert!(
        (f64_of(&f[0]["idle_s"]) - f64_of(&t["idle_s"])).abs() < 0.5,
        "idle {}",
        f[0]["idle_s"]
    );
    assert_eq!(
        f[0]["retransmissions"],
        t["after_idle"]["tcp_info_at_error"]["total_retrans"]
    );
    // The client gave up without sending anything (TCP_USER_TIMEOUT): silence, no reset.
    assert!(f[0]["ended_by"].is_null());
    // The app's error (when its TCP gave up, after the retransmissions) is this connection.
    let text = std::fs::read_to_string(&log).unwrap();
    let line_no = text.lines().position(|l| l.contains(" error ")).unwrap() + 1;
    let m = all_findings(&r, "log_match");
    let m = m
        .iter()
        .find(|m| m["line"] == line_no)
        .expect("error line matched");
    assert_eq!(m["streams"][0], s["stream"]);
    assert!(m["matched_kinds"]
        .as_array()
        .unwrap()
        .contains(&Value::from("middlebox_state_loss")));
    // The reconnect works: no finding on it.
    let again = format!(
        "{}:{}",
        t["client"].as_str().unwrap().rsplit_once(':').unwrap().0,
        t["reconnect"]["client_port"]
    );
    let s2 = stream_of(&r, &again);
    assert!(findings(&r, &s2["stream"], "middlebox_state_loss").is_empty());

    // Server side: the server's late FIN reaches the NAT box, whose own kernel answers RST with
    // its own TTL, not the client's. The box had forgotten the connection during the idle gap
    // (the driver saw its conntrack entry vanish), and the RST answers the first packet after
    // that gap: one story, the middlebox's idle reset (no plain injected reset besides).
    let r = diagnose(
        &scenarios().join("nat-idle-drop/capture-server.pcapng"),
        &[],
    );
    let nat = t["nat_public_addr"].as_str().unwrap();
    let port = t["client"].as_str().unwrap().rsplit_once(':').unwrap().1;
    let s = stream_of(&r, &format!("{nat}:{port}"));
    let idle = findings(&r, &s["stream"], "middlebox_idle_reset");
    assert_eq!(idle.len(), 1);
    assert_eq!(idle[0]["by"], "client");
    let gone_after =
        f64_of(&t["conntrack_entry_gone_observed_t"]) - f64_of(&t["last_packet_exchange_t"]);
    assert!(f64_of(&idle[0]["idle_s"]) > gone_after, "{}", idle[0]);
    assert!(findings(&r, &s["stream"], "injected_reset").is_empty());
    assert_eq!(s["close"]["kind"], "rst");
}

#[test]
fn nat_idle_drop_loose_is_harmless() {
    let dir = scenarios().join("nat-idle-drop/loose");
    let t: Value = serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap();
    assert_ne!(t["after_idle"]["outcome"], "error");
    for cap in ["capture-client.pcapng", "capture-server.pcapng"] {
        let r = diagnose(&dir.join(cap), &[]);
        for k in [
            "middlebox_state_loss",
            "injected_reset",
            "keepalive_unanswered",
            "reset_after_heartbeat_deadline",
        ] {
            assert!(
                all_findings(&r, k).is_empty(),
                "{cap}: {k}: {:?}",
                r["findings"]
            );
        }
    }
}

#[test]
fn http_keepalive_close_races() {
    let t = truth("http-keepalive");
    let r = diagnose(&scenarios().join("http-keepalive/capture.pcapng"), &[]);
    let client = t["client_addr"].as_str().unwrap();
    let mut races = 0;
    for c in t["connections"].as_array().unwrap() {
        let s = stream_of(&r, &format!("{client}:{}", c["client_port"]));
        let reset = findings(&r, &s["stream"], "connection_reset");
        // The driver's record of the connection: a reused socket answered by RST after the
        // server's keep-alive FIN (n4/n5 explicitly, the lost 2.010 s race by its outcome).
        let lost_race = c["end"]
            .as_str()
            .is_some_and(|e| e.contains("answered by RST"))
            || c["outcome"] == "eof-before-headers";
        if lost_race {
            races += 1;
            assert_eq!(reset.len(), 1, "{}", c["client_port"]);
            assert_eq!(reset[0]["by"], "server");
            assert_eq!(reset[0]["close_race"], true);
            assert_eq!(s["close"]["kind"], "rst");
        } else {
            assert!(reset.is_empty(), "{}: {reset:?}", c["client_port"]);
        }
        assert!(
            s["heartbeat"].is_null(),
            "{}: HTTP taken for a heartbeat",
            c["client_port"]
        );
    }
    assert_eq!(races, 2);
    assert!(all_findings(&r, "injected_reset").is_empty());
}
