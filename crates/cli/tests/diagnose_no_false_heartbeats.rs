//! Issue 24's proof that heartbeat discovery (exact bytes, templates whose bytes change, and
//! protocols that name their own probes) calls nothing a heartbeat that is not one: on
//! generated captures of several seeds, made at test time by the project's generator
//! (`crates/gen`), the streams `keepsight diagnose` gives a `heartbeat` are exactly the
//! generator's heartbeat connections (those with enough beats to show a period), and no
//! heartbeat finding lands on its HTTP, bulk, keep-alive, refused, scan or reconnecting
//! connections. Both the estate mix and the short-HTTP shape (request/response traffic that
//! repeats on a steady pace) are checked.

use keepsight_gen::shapes::{scenario, ESTATE};
use keepsight_gen::truth::{Connection, Detail};
use keepsight_gen::{generate_file, Config, Truth};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

/// Kinds that only a heartbeat stream may carry.
const HEARTBEAT_KINDS: [&str; 6] = [
    "late_heartbeat",
    "missed_heartbeat",
    "unanswered_heartbeat",
    "slow_heartbeat_reply",
    "heartbeat_gave_up",
    "reset_after_heartbeat_deadline",
];

fn diagnose(config: &Config) -> (Truth, Value) {
    let path = std::env::temp_dir().join(format!(
        "keepsight-no-false-hb-{}-{}-{}.pcap",
        std::process::id(),
        config.shape,
        config.seed
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
        out.status.success() || out.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = serde_json::from_slice(&out.stdout).expect("JSON report");
    (truth, report)
}

fn beats(c: &Connection) -> bool {
    matches!(
        c.detail,
        Detail::Heartbeat(_) | Detail::TroubledHeartbeat(_) | Detail::TlsHeartbeat(_)
    )
}

/// The heartbeat streams found and the truth's, and the findings of heartbeat kinds on
/// streams that carry none; panics with the difference.
fn check(config: &Config) -> usize {
    let (truth, report) = diagnose(config);
    let what = format!("{} seed {}", config.shape, config.seed);
    let found: BTreeSet<u64> = report["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !s["heartbeat"].is_null())
        .map(|s| s["stream"].as_u64().unwrap())
        .collect();
    let beating: BTreeSet<u64> = truth
        .connections
        .iter()
        .filter(|c| beats(c))
        .map(|c| u64::from(c.stream))
        .collect();
    // Enough beats to show a period on their own: every one of those must be found.
    let must: BTreeSet<u64> = truth
        .connections
        .iter()
        .filter(|c| matches!(c.detail, Detail::Heartbeat(_)) && c.counts.heartbeat_probes >= 4)
        .map(|c| u64::from(c.stream))
        .collect();
    let false_heartbeats: Vec<String> = found
        .difference(&beating)
        .map(|&s| {
            let conn = &truth.connections[s as usize];
            format!("stream {s} ({:?})", conn.shape())
        })
        .collect();
    assert!(
        false_heartbeats.is_empty(),
        "{what}: taken for heartbeats: {false_heartbeats:?}"
    );
    let missed: Vec<&u64> = must.difference(&found).collect();
    assert!(
        missed.is_empty(),
        "{what}: heartbeats not found: {missed:?}"
    );
    let stray: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| HEARTBEAT_KINDS.contains(&f["kind"].as_str().unwrap_or("")))
        .filter(|f| f["stream"].as_u64().is_some_and(|s| !beating.contains(&s)))
        .map(|f| format!("{} on stream {}", f["kind"], f["stream"]))
        .collect();
    assert!(stray.is_empty(), "{what}: {stray:?}");
    found.len()
}

#[test]
fn estate_captures_of_several_seeds_have_no_false_heartbeats() {
    let mut found = 0;
    for seed in [1, 2, 5, 7, 11] {
        found += check(&Config::new(30_000, seed));
    }
    assert!(
        found > 20,
        "only {found} heartbeat streams: the check checked little"
    );
}

#[test]
fn repeating_http_exchanges_are_no_heartbeats() {
    let short_http = scenario("short-http").expect("the short-http shape");
    assert_ne!(short_http.name, ESTATE.name);
    for seed in [1, 3] {
        assert_eq!(
            check(&Config::scenario(short_http, 30_000, seed)),
            0,
            "short-http has no heartbeat"
        );
    }
}
