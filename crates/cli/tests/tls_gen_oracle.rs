//! keepsight's TLS record layer against tshark 4.0.17 on a capture made at test time by the
//! project's generator (30,000 frames of the estate: HTTPS keep-alive and heartbeats inside TLS
//! 1.2 and 1.3 among the cleartext shapes, records split across segments and coalesced, lost
//! and resent segments, close_notify, refused handshakes with cleartext alerts): the TLS fields
//! frame by frame, the Protocol and Info columns of every frame tshark calls TLS, and the
//! generator's truth about each TLS connection as tshark reads it; and display filters on the
//! TLS fields by the frames they select.

mod common;
use common::{assert_no_differences, tshark_available, tshark_filter_batch};
use keepsight_gen::{generate_file, Config};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const FIELDS: &[&str] = &[
    "tcp.stream",
    "tls.record.content_type",
    "tls.record.opaque_type",
    "tls.record.length",
    "tls.record.version",
    "tls.handshake.type",
    "tls.handshake.version",
    "tls.handshake.extensions_server_name",
    "tls.handshake.extensions_alpn_str",
    "tls.handshake.extensions.supported_version",
    "tls.handshake.ciphersuite",
    "tls.alert_message.level",
    "tls.alert_message.desc",
    "_ws.col.Protocol",
    "_ws.col.Info",
];
/// Index of the first column compared only on TLS frames (keepsight names HTTP frames'
/// columns as TCP ones; the HTTP oracle covers that).
const COLUMNS: usize = 13;

/// Display filters on the TLS fields, each compared by the frames it selects.
const FILTERS: &[&str] = &[
    "tls",
    "tls.handshake.type == 1",
    "tls.handshake.type == 2 && tls.handshake.extensions.supported_version == 0x0304",
    "tls.handshake.type == 11",
    "tls.handshake.extensions_server_name == \"api.example.com\"",
    "tls.handshake.extensions_alpn_str == \"http/1.1\"",
    "tls.handshake.ciphersuite == 0xcca8",
    "tls.record.content_type == 21",
    "tls.alert_message.desc == 112",
    "tls.record.opaque_type == 23 && tls.record.length == 29",
    "tls.record.length > 16000",
    "count(tls.record.length) >= 3",
];

/// The frames each of [`FILTERS`] selects, by tshark and by keepsight; every filter must
/// select some frame.
fn compare_filters(cap: &Path) -> Vec<String> {
    let theirs = tshark_filter_batch(cap, FILTERS, "tls-gen");
    let mut problems = Vec::new();
    for (f, t) in FILTERS.iter().zip(&theirs) {
        let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
            .arg("packets")
            .arg(cap)
            .args(["-Y", f, "-T", "fields", "-e", "frame.number"])
            .output()
            .expect("keepsight runs");
        let ours = String::from_utf8(out.stdout).expect("UTF-8");
        let ours: Vec<&str> = ours.lines().collect();
        let want = t
            .strip_prefix("OK\t")
            .unwrap_or_else(|| panic!("tshark refused {f}: {t}"));
        let want: Vec<&str> = want
            .split(&[' ', ','][..])
            .filter(|s| !s.is_empty())
            .collect();
        assert!(!want.is_empty(), "{f} selects no frame");
        if ours != want {
            problems.push(format!(
                "{f}: tshark {} frames, keepsight {}",
                want.len(),
                ours.len()
            ));
        }
    }
    problems
}

fn fields(tool: &str, cap: &Path) -> Vec<Vec<String>> {
    let mut c = if tool == "tshark" {
        let mut c = Command::new("tshark");
        c.arg("-r").arg(cap);
        c
    } else {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keepsight"));
        c.arg("packets").arg(cap);
        c
    };
    c.args(["-T", "fields", "-e", "frame.number"]);
    for f in FIELDS {
        c.args(["-e", f]);
    }
    let out = c.env("TZ", "UTC").output().expect("runs");
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
fn tls_fields_of_a_generated_estate_match_tshark() {
    if !tshark_available() {
        return;
    }
    let cap = std::env::temp_dir().join(format!("keepsight-tls-gen-{}.pcap", std::process::id()));
    let truth = generate_file(&Config::new(30_000, 7), &cap).expect("generate");
    let (theirs, ours) = (fields("tshark", &cap), fields("keepsight", &cap));
    let filtered = compare_filters(&cap);
    let _ = std::fs::remove_file(&cap);
    assert_no_differences(&filtered);
    assert_eq!(theirs.len(), ours.len(), "frames listed");

    let mut problems = Vec::new();
    let mut tls_frames = 0;
    for (t, o) in theirs.iter().zip(&ours) {
        let tls = t[1 + COLUMNS].starts_with("TLS") || t[1 + COLUMNS].starts_with("SSL");
        tls_frames += usize::from(!t[4].is_empty());
        let compared = if tls { t.len() } else { 1 + COLUMNS };
        for i in 0..compared {
            let (a, b) = (t[i].as_str(), o.get(i).map_or("", String::as_str));
            if a != b {
                let name = if i == 0 {
                    "frame.number"
                } else {
                    FIELDS[i - 1]
                };
                problems.push(format!(
                    "frame {}: {name}: tshark {a:?}, keepsight {b:?}",
                    t[0]
                ));
            }
        }
    }
    assert_no_differences(&problems);

    // A realistic share of the estate is TLS, and tshark reads the truth's TLS facts from it.
    let on_tls: u64 = truth
        .connections
        .iter()
        .filter(|c| c.tls().is_some())
        .map(|c| c.counts.frames)
        .sum();
    let share = on_tls as f64 / theirs.len() as f64;
    assert!(
        (0.15..0.25).contains(&share),
        "TLS connections carry {share:.3} of the frames"
    );
    assert!(
        tls_frames * 20 > theirs.len(),
        "only {tls_frames} frames end a TLS record"
    );
    let mut by_stream: BTreeMap<u32, Vec<&Vec<String>>> = BTreeMap::new();
    for row in &theirs {
        by_stream
            .entry(row[1].parse().unwrap())
            .or_default()
            .push(row);
    }
    let (mut versions, mut refused) = (BTreeMap::new(), 0);
    for conn in &truth.connections {
        let Some(tls) = conn.tls() else { continue };
        let rows = &by_stream[&conn.stream];
        let hello = rows
            .iter()
            .find(|r| r[6].split(',').any(|t| t == "1"))
            .unwrap_or_else(|| panic!("stream {}: no ClientHello", conn.stream));
        assert_eq!(hello[8], tls.server_name, "stream {}", conn.stream);
        match rows.iter().find(|r| r[6].split(',').any(|t| t == "2")) {
            Some(sh) => {
                let suite = format!("{:#06x}", tls.cipher_suite.expect("negotiated"));
                assert_eq!(sh[11], suite, "stream {}", conn.stream);
                let v13 = sh[10] == "0x0304";
                // TLS 1.3 hides the server's ALPN in EncryptedExtensions.
                let alpn = if v13 { None } else { tls.alpn.clone() };
                assert_eq!(sh[9], alpn.unwrap_or_default(), "stream {}", conn.stream);
                let want = tls.version.as_deref().expect("negotiated");
                assert_eq!(want == "TLSv1.3", v13, "stream {}", conn.stream);
                *versions.entry(want.to_string()).or_insert(0) += 1;
            }
            None => {
                let alert = rows.iter().find(|r| !r[13].is_empty());
                if let (Some(a), Some(desc)) = (alert, tls.refused_alert) {
                    assert_eq!(a[13], desc.to_string(), "stream {}", conn.stream);
                    refused += 1;
                }
            }
        }
    }
    assert!(
        versions.len() == 2 && refused > 0,
        "{versions:?}, refused {refused}"
    );
}
