//! `keepsight watch` against real traffic and against `diagnose`:
//! - a heartbeat server and client across a veth pair between two network namespaces, the
//!   watch capturing on the server's veth through libpcap; the client is frozen (SIGSTOP) and
//!   the overdue alert must come within period + tolerance + 1 s of the last beat, while the
//!   stream is silent; the client is then killed (its kernel sends the FIN) and the alert's
//!   evidence file must diagnose to the same kind;
//! - a committed capture on standard input (`-r -`) must alert every finding `diagnose` makes;
//! - without capture rights the watch must not start, name CAP_NET_RAW and exit 3.

mod common;

use common::{repo, scratch, Guard};
use keepsight_testlab::{ns_sh, require_root, require_tool, sh};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

const BIN: &str = env!("CARGO_BIN_EXE_keepsight");

/// Two namespaces joined by a veth pair, deleted on drop (their veth ends go with them).
struct WatchLab {
    server: String,
    client: String,
    server_if: String,
}

impl WatchLab {
    /// `tag`: one letter that keeps the labs of tests running at once apart.
    fn new(tag: char, subnet: &str) -> WatchLab {
        let id = std::process::id() % 100_000;
        let lab = WatchLab {
            server: format!("watch-{id}-{tag}-srv"),
            client: format!("watch-{id}-{tag}-cli"),
            server_if: format!("watch{tag}s{id}"),
        };
        let client_if = format!("watch{tag}c{id}");
        for ns in [&lab.server, &lab.client] {
            // A namespace left by a killed earlier run of this test binary's pid.
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
            sh(&["ip", "netns", "add", ns]);
            ns_sh(ns, &["ip", "link", "set", "lo", "up"]);
        }
        sh(&[
            "ip",
            "link",
            "add",
            &lab.server_if,
            "netns",
            &lab.server,
            "type",
            "veth",
            "peer",
            "name",
            &client_if,
            "netns",
            &lab.client,
        ]);
        for (ns, ifname, host) in [
            (&lab.server, &lab.server_if, 1),
            (&lab.client, &client_if, 2),
        ] {
            ns_sh(
                ns,
                &[
                    "ip",
                    "addr",
                    "add",
                    &format!("{subnet}.{host}/24"),
                    "dev",
                    ifname,
                ],
            );
            ns_sh(ns, &["ip", "link", "set", ifname, "up"]);
        }
        lab
    }
}

impl Drop for WatchLab {
    fn drop(&mut self) {
        for ns in [&self.server, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn in_ns(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, BIN]).args(args);
    c
}

fn signal(pid: u32, sig: &str) {
    sh(&["kill", &format!("-{sig}"), &pid.to_string()]);
}

fn findings_of_diagnose(file: &std::path::Path) -> Vec<Value> {
    let out = Command::new(BIN)
        .args(["diagnose", "--json"])
        .arg(file)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("diagnose {}: {e}", file.display()));
    v["findings"].as_array().unwrap().clone()
}

/// (kind, stream, frames) of a finding, as diagnose and watch both write it.
fn key(f: &Value) -> String {
    format!("{} {} {}", f["kind"], f["stream"], f["frames"])
}

#[test]
fn watch_alerts_an_overdue_heartbeat_when_its_deadline_passes_on_a_live_veth() {
    if !require_root("watch_alerts_an_overdue_heartbeat_when_its_deadline_passes_on_a_live_veth")
        || !require_tool("ip")
        || !require_tool("curl")
    {
        return;
    }
    let lab = WatchLab::new('a', "10.219.77");
    let evidence = scratch("watch-evidence");
    let _server = Guard(
        in_ns(
            &lab.server,
            &[
                "heartbeat",
                "serve",
                "--listen",
                "10.219.77.1:7000",
                "--quiet",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let mut watch = Guard(
        in_ns(
            &lab.server,
            &[
                "watch",
                "-i",
                &lab.server_if,
                "-f",
                "tcp port 7000",
                "--json",
                "--metrics",
                "127.0.0.1:9187",
                "--evidence",
            ],
        )
        .arg(&evidence)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    // Each alert line with the moment it arrived.
    let (tx, rx) = mpsc::channel::<(SystemTime, Value)>();
    let stdout = watch.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if tx.send((SystemTime::now(), v)).is_err() {
                break;
            }
        }
    });
    // libpcap is open once the watch runs; give it a moment before the first packet.
    std::thread::sleep(Duration::from_millis(700));
    let mut client = Guard(
        Command::new("ip")
            .args(["netns", "exec", &lab.client, BIN, "heartbeat", "client"])
            .args([
                "--connect",
                "10.219.77.1:7000",
                "--every",
                "1s",
                "--misses",
                "100",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Six beats: enough for the diagnosis to learn the period and its tolerance.
    std::thread::sleep(Duration::from_millis(6_300));
    // A loaded machine may make a beat late before the freeze (and that alerts too, as
    // diagnose would call it late): the alert wanted is the one for the last beat.
    while rx.try_recv().is_ok() {}
    signal(client.0.id(), "STOP");
    let stopped = SystemTime::now();
    let mut deadline_alerts = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(4) {
        if let Ok((at, v)) = rx.recv_timeout(Duration::from_millis(100)) {
            if v["kind"] == "missed_heartbeat" && v["trigger"] == "deadline" {
                deadline_alerts.push((at, v));
            }
        }
    }
    let ns = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let beat_ns = |v: &Value| keepsight_time::rfc3339::parse(v["time"].as_str().unwrap()).unwrap();
    let (arrived, alert) = deadline_alerts
        .into_iter()
        .max_by_key(|(_, v)| beat_ns(v))
        .expect("no overdue alert within 4 s of freezing the client");
    let last_beat_ns = beat_ns(&alert);
    let period = alert["expected_period_s"].as_f64().unwrap();
    assert!((0.9..1.1).contains(&period), "period learned: {period}");
    // The beat it names is the last one before the freeze.
    assert!(
        last_beat_ns > ns(stopped) - 1_500_000_000,
        "alert names a beat {} s before the freeze: {alert}",
        (ns(stopped) - last_beat_ns) as f64 / 1e9
    );
    let after_beat = (ns(arrived) - last_beat_ns) as f64 / 1e9;
    // The deadline is the last beat + period + tolerance; the alert comes after it, and at
    // most 1 s later.
    let tolerance = alert["tolerance_s"].as_f64().unwrap();
    assert!(
        after_beat > period + tolerance && after_beat <= period + tolerance + 1.0,
        "alert {after_beat:.3} s after the last beat (period {period} s, tolerance {tolerance} s): {alert}"
    );
    assert!(
        arrived > stopped,
        "the alert came before the client was frozen"
    );
    let evidence_file = alert["evidence"][0].as_str().unwrap().to_string();
    assert!(evidence_file.starts_with(evidence.to_str().unwrap()));
    // Frozen for well over two periods, then killed: its kernel closes the connection (FIN),
    // which the evidence must show after the silence.
    std::thread::sleep(Duration::from_millis(2_500));
    signal(client.0.id(), "KILL");
    let _ = client.0.wait();
    let t0 = Instant::now();
    while !std::path::Path::new(&evidence_file).exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "evidence {evidence_file} not written after the stream closed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The counts over HTTP, scraped from inside the namespace (its own loopback).
    std::thread::sleep(Duration::from_millis(1_200));
    let curl = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.server,
            "curl",
            "-sS",
            "--max-time",
            "5",
        ])
        .arg("http://127.0.0.1:9187/metrics")
        .output()
        .unwrap();
    assert!(
        curl.status.success(),
        "scrape failed: {}",
        String::from_utf8_lossy(&curl.stderr)
    );
    let scraped = String::from_utf8(curl.stdout).unwrap();
    assert!(
        scraped.contains("keepsight_watch_alerts_total{kind=\"missed_heartbeat\"}"),
        "{scraped}"
    );
    let packets: u64 = scraped
        .lines()
        .find_map(|l| l.strip_prefix("keepsight_watch_packets_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{scraped}"));
    assert!(packets >= 12, "{scraped}");
    assert!(
        scraped.contains("keepsight_watch_pcap_received_total "),
        "{scraped}"
    );
    // SIGINT: a summary, exit 0.
    signal(watch.0.id(), "INT");
    let status = watch.0.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut watch.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let summary: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert!(
        summary["summary"]["packets"].as_u64().unwrap() >= 12,
        "{stderr}"
    );
    assert!(
        summary["summary"]["alerts"]["missed_heartbeat"]
            .as_u64()
            .unwrap()
            >= 1
    );
    let kinds: Vec<Value> = findings_of_diagnose(std::path::Path::new(&evidence_file))
        .iter()
        .map(|f| f["kind"].clone())
        .collect();
    assert!(
        kinds.contains(&Value::from("missed_heartbeat")),
        "{evidence_file} diagnoses to {kinds:?}"
    );
    let _ = std::fs::remove_dir_all(&evidence);
}

/// A committed capture on standard input: every finding of `diagnose` is alerted, with the
/// same stream and frames; the only others are deadline alerts.
#[test]
fn watch_on_standard_input_alerts_what_diagnose_finds() {
    for rel in [
        "tests/corpus/heartbeat.pcap",
        "tests/scenarios/late-heartbeat/capture.pcapng",
        "tests/scenarios/gave-up-rst/capture.pcapng",
    ] {
        let path = repo().join(rel);
        let out = Command::new(BIN)
            .args(["watch", "-r", "-", "--json"])
            .stdin(std::fs::File::open(&path).unwrap())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{rel}");
        let alerts: Vec<Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let mut watched: Vec<String> = alerts
            .iter()
            .filter(|a| a["trigger"] == "analysis")
            .map(key)
            .collect();
        let mut diagnosed: Vec<String> = findings_of_diagnose(&path).iter().map(key).collect();
        watched.sort();
        diagnosed.sort();
        assert_eq!(watched, diagnosed, "{rel}");
        assert!(alerts
            .iter()
            .all(|a| a["trigger"] == "analysis" || a["kind"] == "missed_heartbeat"));
    }
}

#[test]
fn watch_without_capture_rights_names_cap_net_raw_and_exits_3() {
    if !require_root("watch_without_capture_rights_names_cap_net_raw_and_exits_3")
        || !require_tool("setpriv")
    {
        return;
    }
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            BIN,
            "watch",
            "-i",
            "lo",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("CAP_NET_RAW"), "{stderr}");
}

/// `packets -i` lists a live veth as tshark lists tcpdump's capture of the same packets.
#[test]
fn watch_lab_packets_listed_live_match_tshark_on_tcpdumps_capture() {
    if !require_root("watch_lab_packets_listed_live_match_tshark_on_tcpdumps_capture")
        || !require_tool("ip")
        || !require_tool("tcpdump")
        || !require_tool("tshark")
    {
        return;
    }
    let lab = WatchLab::new('b', "10.219.78");
    let dir = scratch("watch-packets-live");
    let pcap = dir.join("tcpdump.pcap");
    let fields = [
        "-T",
        "fields",
        "-e",
        "ip.src",
        "-e",
        "tcp.srcport",
        "-e",
        "tcp.flags.str",
        "-e",
        "tcp.len",
        "-e",
        "tcp.stream",
        "-e",
        "tcp.analysis.flags",
    ];
    let _server = Guard(
        in_ns(
            &lab.server,
            &[
                "heartbeat",
                "serve",
                "--listen",
                "10.219.78.1:7000",
                "--quiet",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let mut listing = Guard(
        in_ns(
            &lab.server,
            &["packets", "-i", &lab.server_if, "-f", "tcp port 7000"],
        )
        .args(fields)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let mut tcpdump = Guard(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab.server,
                "tcpdump",
                "--immediate-mode",
                "-i",
                &lab.server_if,
                "-U",
                "-w",
            ])
            .arg(&pcap)
            .args(["tcp", "port", "7000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(1_000));
    let mut client = Command::new("ip")
        .args(["netns", "exec", &lab.client, BIN, "heartbeat", "client"])
        .args([
            "--connect",
            "10.219.78.1:7000",
            "--every",
            "200ms",
            "--duration",
            "2s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _ = client.wait();
    std::thread::sleep(Duration::from_millis(1_500));
    signal(tcpdump.0.id(), "INT");
    let _ = tcpdump.0.wait();
    signal(listing.0.id(), "INT");
    let _ = listing.0.wait();
    let mut live = String::new();
    std::io::Read::read_to_string(&mut listing.0.stdout.take().unwrap(), &mut live).unwrap();
    let tshark = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(fields)
        .output()
        .unwrap();
    let expected = String::from_utf8(tshark.stdout).unwrap();
    // A handshake, ten beats and replies, the close: at least 25 frames.
    assert!(expected.lines().count() >= 25, "{expected}");
    assert_eq!(live, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `tcpdump -w - | keepsight watch -r -`: the stream's clock runs between packets too, so a
/// frozen client's overdue beat is alerted while nothing else comes; the end of the stream
/// (tcpdump stopped) ends the watch with exit 0.
#[test]
fn watch_lab_reads_tcpdump_on_standard_input_and_alerts_while_it_is_silent() {
    if !require_root("watch_lab_reads_tcpdump_on_standard_input_and_alerts_while_it_is_silent")
        || !require_tool("ip")
        || !require_tool("tcpdump")
    {
        return;
    }
    let lab = WatchLab::new('c', "10.219.79");
    let _server = Guard(
        in_ns(
            &lab.server,
            &[
                "heartbeat",
                "serve",
                "--listen",
                "10.219.79.1:7000",
                "--quiet",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let mut tcpdump = Guard(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab.server,
                "tcpdump",
                "--immediate-mode",
                "-U",
            ])
            .args(["-i", &lab.server_if, "-w", "-", "tcp", "port", "7000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut watch = Guard(
        Command::new(BIN)
            .args(["watch", "-r", "-", "--json"])
            .stdin(Stdio::from(tcpdump.0.stdout.take().unwrap()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel::<Value>();
    let stdout = watch.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx
                .send(serde_json::from_str(&line).unwrap_or(Value::Null))
                .is_err()
            {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(1_000));
    let mut client = Guard(
        Command::new("ip")
            .args(["netns", "exec", &lab.client, BIN, "heartbeat", "client"])
            .args([
                "--connect",
                "10.219.79.1:7000",
                "--every",
                "500ms",
                "--misses",
                "100",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(3_200));
    while rx.try_recv().is_ok() {}
    signal(client.0.id(), "STOP");
    let t0 = Instant::now();
    let alert = loop {
        let v = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("no overdue alert while the frozen client's stream was silent");
        if v["trigger"] == "deadline" {
            break v;
        }
    };
    // Period 0.5 s: the deadline is well under 2 s after the freeze.
    assert!(t0.elapsed() < Duration::from_secs(3), "{alert}");
    assert_eq!(alert["kind"], "missed_heartbeat");
    signal(client.0.id(), "KILL");
    let _ = client.0.wait();
    std::thread::sleep(Duration::from_millis(500));
    signal(tcpdump.0.id(), "INT");
    let _ = tcpdump.0.wait();
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = watch.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "watch did not end with its stream"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}
