//! `keepsight diagnose` on a capture made at test time by the project's generator
//! (`crates/gen`), checked stream by stream against the generator's ground truth: endpoints,
//! frames and closes; heartbeats (bytes, period, reply latency, beats, every late beat and the
//! reset after it); kernel keep-alive (prober, idle, interval, probes, dead peers and their
//! reset); the HTTP findings (idle closes, reuse races, the short body); one
//! `connection_reset` per reset connection and one `connection_refused` for the refused attempts
//! — and nothing else.

use keepsight_gen::truth::{CloseCause, Connection, Detail, ShapeKind, Side, Teardown};
use keepsight_gen::{generate_file, Config, Truth};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

fn side(s: Side) -> &'static str {
    match s {
        Side::Client => "client",
        Side::Server => "server",
    }
}

fn diagnose(truth_config: &Config) -> (Truth, Value) {
    let path = std::env::temp_dir().join(format!(
        "keepsight-diagnose-synth-{}.pcap",
        std::process::id()
    ));
    let truth = generate_file(truth_config, &path).expect("generate the capture");
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("diagnose")
        .arg(&path)
        .arg("--json")
        .output()
        .expect("run keepsight");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        truth,
        serde_json::from_slice(&out.stdout).expect("JSON report"),
    )
}

/// What the truth says about a connection's heartbeat, cleartext (1-byte probe and reply) or
/// inside TLS (one application-data record each, told by its header: type, version, length).
struct Beats<'a> {
    probe_hex: String,
    reply_hex: String,
    period_us: u64,
    jitter_us: u64,
    reply_latency_us: [u64; 2],
    late_beats: &'a [keepsight_gen::truth::LateBeat],
    probes: u64,
    replies: u64,
}

impl Beats<'_> {
    fn of(conn: &Connection) -> Option<Beats<'_>> {
        match &conn.detail {
            Detail::Heartbeat(h) => Some(Beats {
                probe_hex: format!("{:02x}", h.probe),
                reply_hex: format!("{:02x}", h.reply),
                period_us: h.period_us,
                jitter_us: h.jitter_us,
                reply_latency_us: h.reply_latency_us,
                late_beats: &h.late_beats,
                probes: conn.counts.heartbeat_probes,
                replies: conn.counts.heartbeat_replies,
            }),
            Detail::TlsHeartbeat(h) => Some(Beats {
                probe_hex: format!("170303{:04x}", h.probe_record_len),
                reply_hex: format!("170303{:04x}", h.reply_record_len),
                period_us: h.period_us,
                jitter_us: h.jitter_us,
                reply_latency_us: h.reply_latency_us,
                late_beats: &h.late_beats,
                probes: conn.counts.tls_heartbeat_probes,
                replies: conn.counts.tls_heartbeat_replies,
            }),
            _ => None,
        }
    }
}

fn f64_of(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn diagnose_finds_the_generators_truth() {
    let (truth, report) = diagnose(&Config::new(80_000, 3));
    let streams = report["streams"].as_array().unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(report["capture"]["segments"], truth.counts.frames);
    assert_eq!(streams.len(), truth.connections.len());
    let of = |stream: u32, kind: &str| -> Vec<&Value> {
        findings
            .iter()
            .filter(|f| f["stream"] == stream && f["kind"] == kind)
            .collect()
    };
    let streams_with = |kind: &str| -> BTreeSet<u64> {
        findings
            .iter()
            .filter(|f| f["kind"] == kind)
            .map(|f| f["stream"].as_u64().unwrap())
            .collect()
    };
    let truth_streams = |keep: &dyn Fn(&Connection) -> bool| -> BTreeSet<u64> {
        truth
            .connections
            .iter()
            .filter(|c| keep(c))
            .map(|c| u64::from(c.stream))
            .collect()
    };
    let cause = |c: &Connection| c.close.map(|c| c.cause);

    // Heartbeat streams, late beats, dead keep-alive peers, heartbeat streams inside TLS and
    // their late beats.
    let mut seen = [0usize; 5];
    for (conn, s) in truth.connections.iter().zip(streams) {
        let id = conn.stream;
        let what = format!("stream {id} ({:?})", conn.shape());
        assert_eq!(s["stream"], id, "{what}");
        assert_eq!(s["endpoints"]["client"], conn.client.to_string(), "{what}");
        assert_eq!(s["endpoints"]["server"], conn.server.to_string(), "{what}");
        assert_eq!(s["first_frame"], conn.first_frame, "{what}");
        assert_eq!(s["last_frame"], conn.last_frame, "{what}");
        assert_eq!(s["packets"], conn.counts.frames, "{what}");
        match conn.close {
            None => assert!(s["close"].is_null(), "{what}: {}", s["close"]),
            Some(close) => {
                let c = &s["close"];
                // A reuse race ends with the server's RST, after its FIN.
                // So does a TLS shutdown: the first closer's kernel resets when the peer's
                // close_notify reaches its closed socket.
                let shutdown_reset = conn.tls().and_then(|t| t.shutdown_reset_frame);
                let (kind, frame) = match (&conn.detail, close.how) {
                    (Detail::Http(h), _) if h.reuse_race.is_some() => {
                        ("rst", h.reuse_race.unwrap().rst_frame)
                    }
                    _ if shutdown_reset.is_some() => ("rst", shutdown_reset.unwrap()),
                    (_, Teardown::Fin) => ("fin", close.frame),
                    (_, Teardown::Rst) => ("rst", close.frame),
                };
                assert_eq!(c["kind"], kind, "{what}: {c}");
                assert_eq!(c["by"], side(close.by), "{what}: {c}");
                assert_eq!(c["frame"], frame, "{what}: {c}");
                if let Some(tls) = conn.tls().filter(|t| t.refused_alert.is_none()) {
                    assert_eq!(
                        c["tls"]["version"],
                        tls.version.as_deref().unwrap(),
                        "{what}"
                    );
                    let sides = |v: &Value| -> BTreeSet<String> {
                        v.as_array()
                            .unwrap()
                            .iter()
                            .map(|s| s.to_string())
                            .collect()
                    };
                    let notified: BTreeSet<String> = tls
                        .close_notify
                        .iter()
                        .map(|s| format!("\"{}\"", side(*s)))
                        .collect();
                    let found = sides(&c["tls"]["close_notify_by"]);
                    // The capture may cut the close after its first frame.
                    if shutdown_reset.is_some() {
                        assert_eq!(found, notified, "{what}: {c}");
                    } else {
                        assert!(found.is_subset(&notified), "{what}: {c}");
                    }
                }
            }
        }

        let hb = &s["heartbeat"];
        if let Some(b) = Beats::of(conn) {
            if b.probes >= 4 {
                assert!(!hb.is_null(), "{what}: heartbeat not recognised");
            }
            if !hb.is_null() {
                seen[0] += 1;
                seen[3] += usize::from(conn.tls().is_some());
                assert_eq!(hb["sender"], "client", "{what}");
                assert_eq!(hb["probe_hex"], b.probe_hex, "{what}");
                assert_eq!(hb["reply_hex"], b.reply_hex, "{what}");
                if conn.tls().is_some() {
                    assert_eq!(hb["tls_record"], "application_data", "{what}");
                }
                let period = f64_of(&hb["period_s"]) * 1e6;
                let err = (period - b.period_us as f64).abs();
                assert!(err <= b.jitter_us as f64, "{what}: period {period} µs");
                let lat = &hb["reply_latency_ms"];
                let [min, max] = b.reply_latency_us.map(|us| us as f64 / 1e3);
                assert!(f64_of(&lat["max"]) <= max + 0.001, "{what}: {lat}");
                assert!(f64_of(&lat["median"]) >= min - 0.001, "{what}: {lat}");
                assert_eq!(hb["beats"], b.probes, "{what}");
                assert_eq!(hb["replies"], b.replies, "{what}");
            }
            let late = of(id, "late_heartbeat");
            assert_eq!(late.len(), b.late_beats.len(), "{what}: {late:?}");
            for (f, beat) in late.iter().zip(b.late_beats) {
                seen[1] += 1;
                seen[4] += usize::from(conn.tls().is_some());
                assert_eq!(f["frames"][1], beat.frame, "{what}");
                let gap = f64_of(&f["gap_s"]);
                assert!(
                    (gap * 1e6 - beat.gap_us as f64).abs() < 1.0,
                    "{what}: {gap}"
                );
            }
            let deadline = of(id, "reset_after_heartbeat_deadline");
            if cause(conn) == Some(CloseCause::LateHeartbeat) {
                let beat = b.late_beats.last().expect("the late beat before the reset");
                assert_eq!(deadline.len(), 1, "{what}");
                let f = deadline[0];
                assert_eq!(f["by"], "client");
                assert_eq!(f["cause"], "late_probe");
                assert_eq!(f["frames"][1], beat.frame, "{what}");
                assert_eq!(f["frames"][3], conn.close.unwrap().frame, "{what}");
                let gap = f64_of(&f["gap_s"]);
                assert!(
                    (gap * 1e6 - beat.gap_us as f64).abs() < 1.0,
                    "{what}: {gap}"
                );
            } else {
                assert!(deadline.is_empty(), "{what}: {deadline:?}");
            }
        } else {
            assert!(hb.is_null(), "{what} taken for a heartbeat: {hb}");
        }

        let ka = s["tcp_keepalive"].as_array().unwrap();
        match &conn.detail {
            Detail::Keepalive(k) if conn.counts.keep_alive > 0 => {
                assert_eq!(ka.len(), 1, "{what}: {ka:?}");
                let ka = &ka[0];
                assert_eq!(ka["sender"], side(k.prober), "{what}");
                assert_eq!(ka["probes"], conn.counts.keep_alive, "{what}");
                let unanswered = conn.counts.keep_alive - conn.counts.keep_alive_ack;
                assert_eq!(ka["unanswered"], unanswered, "{what}");
                // Idle is counted from the prober's last received segment; a client prober's
                // own delayed ACK (40 ms) comes after it.
                let idle = f64_of(&ka["idle_s"]) * 1e6;
                let short = k.idle_us as f64 - idle;
                assert!((-1.0..=40_001.0).contains(&short), "{what}: idle {idle} µs");
                if k.peer_dead && conn.counts.keep_alive >= 2 {
                    let interval = f64_of(&ka["interval_s"]) * 1e6;
                    assert!((interval - k.interval_us as f64).abs() < 1.0, "{what}");
                }
                // Every probe the capture shows unanswered is reported, whether or not the
                // prober's reset made it into the capture.
                let f = of(id, "keepalive_unanswered");
                if unanswered == 0 {
                    assert!(f.is_empty(), "{what}: {f:?}");
                } else {
                    assert_eq!(f.len(), 1, "{what}");
                    assert_eq!(f[0]["sender"], side(k.prober), "{what}");
                    assert_eq!(f[0]["unanswered"], unanswered, "{what}");
                }
                if cause(conn) == Some(CloseCause::KeepaliveDeadPeer) {
                    seen[2] += 1;
                    assert_eq!(unanswered, 9, "{what}");
                    assert_eq!(ka["count"], 9, "{what}");
                    let frames = f[0]["frames"].as_array().unwrap();
                    assert_eq!(frames.last().unwrap(), &conn.close.unwrap().frame, "{what}");
                    // Idle beyond every cloud idle timeout in keepsight's table, and dead.
                    let idle = of(id, "idle_beyond_middlebox_timeout");
                    let idle: Vec<_> = idle.iter().filter(|f| f["severity"] == "warning").collect();
                    assert_eq!(idle.len(), 1, "{what}");
                } else {
                    assert!(ka["count"].is_null(), "{what}");
                }
            }
            _ => assert!(ka.is_empty(), "{what}: {ka:?}"),
        }
    }

    // HTTP findings name exactly the streams the truth says (cleartext ones: without a key
    // log, HTTPS requests and responses are records of unknown content).
    let http_cause =
        |c: &Connection, want: CloseCause| c.shape() == ShapeKind::Http && cause(c) == Some(want);
    assert_eq!(
        streams_with("http_idle_close"),
        truth_streams(&|c| http_cause(c, CloseCause::HttpIdleTimeout))
    );
    assert_eq!(
        streams_with("http_reuse_race"),
        truth_streams(&|c| http_cause(c, CloseCause::HttpReuseRace))
    );
    // The generator's servers say `Connection: close` on a randomly chosen response: closes
    // at varying counts are a drain (one http_drain per server, naming those connections),
    // never a request limit.
    assert!(streams_with("http_request_limit_close").is_empty());
    let drained: BTreeSet<u64> = findings
        .iter()
        .filter(|f| f["kind"] == "http_drain")
        .flat_map(|f| f["streams"].as_array().unwrap().iter())
        .map(|s| s.as_u64().unwrap())
        .collect();
    assert_eq!(
        drained,
        truth_streams(&|c| http_cause(c, CloseCause::HttpConnectionClose))
    );
    let idle_warnings: BTreeSet<u64> = findings
        .iter()
        .filter(|f| f["kind"] == "idle_beyond_middlebox_timeout" && f["severity"] == "warning")
        .map(|f| f["stream"].as_u64().unwrap())
        .collect();
    assert_eq!(
        idle_warnings,
        truth_streams(&|c| cause(c) == Some(CloseCause::KeepaliveDeadPeer))
    );
    let short: Vec<(u32, u64)> = truth
        .connections
        .iter()
        .filter_map(|c| match &c.detail {
            Detail::Http(h) => h.short_body.map(|s| (c.stream, s.header_frame)),
            _ => None,
        })
        .collect();
    let found: Vec<(u32, u64)> = findings
        .iter()
        .filter(|f| f["kind"] == "http_body_shorter_than_length")
        .map(|f| {
            (
                f["stream"].as_u64().unwrap() as u32,
                f["frames"][0].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(found, short);

    // The refused attempts: one connection_refused per address of the bulk host (IPv4 and
    // IPv6), counted as the truth counts them, and no connection_reset for them.
    let refused: Vec<&Connection> = truth
        .connections
        .iter()
        .filter(|c| cause(c) == Some(CloseCause::Refused))
        .collect();
    let servers: BTreeSet<std::net::IpAddr> = refused.iter().map(|c| c.server.ip()).collect();
    let refused_findings: Vec<&Value> = findings
        .iter()
        .filter(|f| f["kind"] == "connection_refused")
        .collect();
    assert_eq!(refused_findings.len(), servers.len());
    for server in servers {
        let mine: Vec<&&Connection> = refused.iter().filter(|c| c.server.ip() == server).collect();
        let r = refused_findings
            .iter()
            .find(|f| f["server"] == server.to_string())
            .unwrap_or_else(|| panic!("no connection_refused for {server}"));
        assert_eq!(r["attempts"], mine.len() as u64, "{r}");
        let hosts: BTreeSet<std::net::IpAddr> = mine.iter().map(|c| c.client.ip()).collect();
        // Exact up to 64 sources, a sketch's estimate (±3 %) beyond.
        assert_eq!(r["estimated"], hosts.len() > 64, "{r}");
        let sources = f64_of(&r["sources"]);
        assert!(
            (sources - hosts.len() as f64).abs() <= 0.1 * hosts.len() as f64,
            "{r}"
        );
        if hosts.len() <= 64 {
            assert_eq!(r["sources"], hosts.len() as u64, "{r}");
        }
        assert_eq!(r["ports"][0]["port"], mine[0].server.port(), "{r}");
        assert_eq!(r["ports_count"], 1, "{r}");
        assert_eq!(r["frames"][0], mine[0].first_frame, "{r}");
    }

    // One connection_reset per connection that ended in a reset, by the side that reset.
    let resets: Vec<&Value> = findings
        .iter()
        .filter(|f| f["kind"] == "connection_reset")
        .collect();
    let reset_streams: BTreeSet<u64> = resets
        .iter()
        .map(|f| f["stream"].as_u64().unwrap())
        .collect();
    assert_eq!(resets.len(), reset_streams.len());
    assert_eq!(
        reset_streams,
        truth_streams(&|c| {
            (c.close.is_some_and(|c| c.how == Teardown::Rst)
                || cause(c) == Some(CloseCause::HttpReuseRace)
                || c.tls().is_some_and(|t| t.shutdown_reset_frame.is_some()))
                && cause(c) != Some(CloseCause::Refused)
        })
    );
    for f in &resets {
        let conn = &truth.connections[f["stream"].as_u64().unwrap() as usize];
        let close = conn.close.unwrap();
        let by = if close.cause == CloseCause::HttpReuseRace {
            Side::Server
        } else {
            close.by
        };
        assert_eq!(f["by"], side(by), "{f}");
        assert_eq!(
            f["close_race"],
            close.cause == CloseCause::HttpReuseRace,
            "{f}"
        );
        let tls_shutdown = conn.tls().is_some_and(|t| t.shutdown_reset_frame.is_some());
        assert_eq!(
            f["tls_shutdown"].as_bool().unwrap_or(false),
            tls_shutdown,
            "{f}"
        );
    }

    let expected_kinds = [
        "reset_after_heartbeat_deadline",
        "late_heartbeat",
        "keepalive_unanswered",
        "idle_beyond_middlebox_timeout",
        "connection_reset",
        "connection_refused",
        "http_idle_close",
        "http_reuse_race",
        "http_drain",
        "http_body_shorter_than_length",
    ];
    for f in findings {
        let kind = f["kind"].as_str().unwrap();
        assert!(expected_kinds.contains(&kind), "unexpected finding: {f}");
    }
    assert!(seen[0] > 10, "only {} heartbeat streams", seen[0]);
    assert!(
        seen[3] > 0 && seen[4] > 0,
        "TLS heartbeat streams {}, their late beats {}",
        seen[3],
        seen[4]
    );
    assert!(
        seen[1] > 0 && seen[2] > 0,
        "late beats {}, dead peers {}",
        seen[1],
        seen[2]
    );
}
