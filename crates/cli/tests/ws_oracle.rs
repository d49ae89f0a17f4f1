//! Differential tests of WebSocket decoding against tshark 4.0.17, on the real captures of
//! tests/scenarios/ws-proxy-timeout (Python `websockets` through nginx and direct, a
//! hand-written silent peer): frames after an HTTP/1.1 upgrade on three ports (tshark follows
//! the upgrade by itself), frames split across segments and two in one segment, a
//! 70,000-byte frame over 49 segments, ping/pong, close frames with codes and reasons, and a
//! capture begun after the handshake read with `-d tcp.port==9002,websocket`. Every
//! `websocket.*` field keepsight registers, `data.data`, `frame.protocols`, the Protocol and
//! Info columns, the one-line listing and display filters.
//!
//! The handshake frames themselves (the GET and the 101) are tshark's HTTP, which keepsight's
//! listing does not dissect on cleartext streams (README, "Agreement with tshark"): those
//! lines are left out of the comparison, and counted so that nothing else can be.

mod common;
use common::{assert_no_differences, output_of, packets_output, repo, tshark_available};

/// Each capture's arguments for both tools, and how many of its frames are the HTTP
/// handshakes tshark dissects as HTTP.
fn cases() -> Vec<(Vec<String>, usize)> {
    let s = repo().join("tests/scenarios/ws-proxy-timeout");
    let cap = |name: &str| vec!["-r".to_string(), s.join(name).display().to_string()];
    let with = |mut a: Vec<String>, rule: &str| {
        a.extend(["-d".to_string(), rule.to_string()]);
        a
    };
    vec![
        (cap("capture.pcapng"), 8),
        (
            with(cap("capture-midstream.pcapng"), "tcp.port==9002,websocket"),
            0,
        ),
        // A rule on a port whose capture holds the handshake reads the HTTP bytes as frames,
        // as tshark does (reserved opcodes, fragments, a "close" inside the 101's headers).
        (with(cap("capture.pcapng"), "tcp.port==9001,websocket"), 6),
    ]
}

/// The lines that differ, leaving out those `http` (tshark's HTTP handshake lines) picks;
/// asserts that exactly `http_lines` were left out.
fn differences(args: &[String], http_lines: usize, is_http: impl Fn(&str) -> bool) -> Vec<String> {
    let (theirs, ours) = (output_of("tshark", args), packets_output(args));
    let mut problems = Vec::new();
    if theirs.lines().count() != ours.lines().count() {
        problems.push(format!(
            "{args:?}: tshark lists {} lines, keepsight {}",
            theirs.lines().count(),
            ours.lines().count()
        ));
    }
    let mut skipped = 0;
    for (t, o) in theirs.lines().zip(ours.lines()) {
        if is_http(t) {
            skipped += 1;
            continue;
        }
        if t != o {
            let cut = |s: &str| s.chars().take(160).collect::<String>();
            problems.push(format!(
                "{args:?}:\n  tshark    {}\n  keepsight {}",
                cut(t),
                cut(o)
            ));
        }
    }
    if skipped != http_lines {
        problems.push(format!(
            "{args:?}: {skipped} HTTP handshake lines left out, expected {http_lines}"
        ));
    }
    problems
}

/// Every registered `websocket.*` field (and `websocket` itself), with what its messages go
/// to and the columns.
fn fields() -> Vec<String> {
    let list = packets_output(&["--list-fields".to_string()]);
    let mut f: Vec<String> = list
        .lines()
        .filter_map(|l| l.split('\t').next())
        .filter(|n| *n == "websocket" || n.starts_with("websocket."))
        .map(str::to_string)
        .collect();
    assert!(f.len() >= 20, "websocket fields are registered: {f:?}");
    f.extend(
        [
            "data.data",
            "frame.protocols",
            "_ws.col.Protocol",
            "_ws.col.Info",
        ]
        .map(String::from),
    );
    f
}

#[test]
fn every_websocket_field_and_column_matches_tshark() {
    if !tshark_available() {
        return;
    }
    let fields = fields();
    let mut problems = Vec::new();
    let mut websocket_frames = 0;
    for (mut args, http) in cases() {
        args.extend(
            [
                "-T",
                "fields",
                "-E",
                "occurrence=a",
                "-E",
                "aggregator=|",
                "-e",
                "frame.number",
            ]
            .map(String::from),
        );
        for f in &fields {
            args.extend(["-e".to_string(), f.clone()]);
        }
        websocket_frames += output_of("tshark", &args).matches("\tWebSocket\t").count();
        problems.extend(differences(&args, http, |line| {
            line.contains(":http\tHTTP\t")
        }));
    }
    assert_no_differences(&problems);
    assert!(
        websocket_frames >= 50,
        "{websocket_frames} WebSocket frames compared"
    );
}

#[test]
fn the_one_line_listing_matches_tsharks() {
    if !tshark_available() {
        return;
    }
    let mut problems = Vec::new();
    for (args, http) in cases() {
        problems.extend(differences(&args, http, |line| line.contains(" HTTP ")));
    }
    assert_no_differences(&problems);
}

/// Display filters on the WebSocket fields, each compared by the frames it selects.
const FILTERS: &[&str] = &[
    "websocket",
    "websocket.opcode == 9",
    "websocket.opcode == 10 && websocket.mask == 0",
    "websocket.payload.ping",
    "websocket.payload.pong",
    "websocket.payload.close",
    "websocket.payload.close.status_code == 1000",
    "websocket.payload.close.status_code == 1011",
    "websocket.payload.close.reason == \"bye\"",
    "websocket.payload.close.reason contains \"ping timeout\"",
    "websocket.payload.text == \"hello\"",
    "websocket.mask && websocket.fin",
    "websocket.masking_key",
    "websocket.payload_length == 126",
    "websocket.payload_length_ext_16 == 300",
    "websocket.payload_length_ext_64 > 65535",
    "websocket.rsv == 0",
    "count(websocket.opcode) == 2",
    "websocket.payload.unknown",
    "websocket.fin == 0",
    "!websocket && tcp.len > 0",
];

#[test]
fn websocket_display_filters_select_the_frames_tshark_selects() {
    if !tshark_available() {
        return;
    }
    let mut selected = vec![0usize; FILTERS.len()];
    let mut problems = Vec::new();
    for (args, _) in cases() {
        for (i, f) in FILTERS.iter().enumerate() {
            let mut a = args.clone();
            a.extend(["-Y", f, "-T", "fields", "-e", "frame.number"].map(String::from));
            let (theirs, ours) = (output_of("tshark", &a), packets_output(&a));
            if theirs != ours {
                problems.push(format!("{a:?}: tshark {theirs:?}, keepsight {ours:?}"));
            }
            selected[i] += theirs.lines().count();
        }
    }
    assert_no_differences(&problems);
    for (f, n) in FILTERS.iter().zip(&selected) {
        assert!(*n > 0, "{f} selects no frame of any capture");
    }
}
