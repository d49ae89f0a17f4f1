//! Differential tests of HTTP/2 decoding against tshark 4.0.17 with `-d tcp.port==N,http2`,
//! on real captures made by the scenarios' drivers: tests/scenarios/grpc-keepalive (grpcio
//! client and server: SETTINGS, PINGs, GOAWAY ENHANCE_YOUR_CALM `too_many_pings` and
//! NO_ERROR `max_age`, gRPC calls with trailers, RST_STREAM) and tests/scenarios/h2-ping-goaway
//! (Python `h2` on both ends: frames split across segments and several to a segment,
//! CONTINUATION, padding, an unanswered PING, idle close). Every `http2.*` field keepsight
//! registers, `frame.protocols`, the Protocol and Info columns, the one-line listing and
//! display filters; and without `-d` the listing stays tshark's plain TCP one.

mod common;
use common::{assert_no_differences, output_of, packets_output, repo, tshark_available};
use std::path::PathBuf;

/// Each capture and the `-d` rules that make tshark decode its HTTP/2.
fn captures() -> Vec<(PathBuf, Vec<String>)> {
    let s = repo().join("tests/scenarios");
    let d = |ports: &[u16]| {
        ports
            .iter()
            .flat_map(|p| ["-d".to_string(), format!("tcp.port=={p},http2")])
            .collect::<Vec<_>>()
    };
    vec![
        (s.join("grpc-keepalive/capture.pcapng"), d(&[17600, 17601])),
        (s.join("h2-ping-goaway/capture.pcapng"), d(&[17610])),
    ]
}

fn tshark(args: &[String]) -> String {
    output_of("tshark", args)
}

/// Both tools' output for the same arguments, line by line: the lines that differ.
fn differences(args: &[String]) -> Vec<String> {
    let (theirs, ours) = (tshark(args), packets_output(args));
    let mut problems: Vec<String> = theirs
        .lines()
        .zip(ours.lines())
        .filter(|(t, o)| t != o)
        .map(|(t, o)| {
            // The columns that differ, each cut short (header values can be 40 kB).
            let cut = |s: &str| s.chars().take(120).collect::<String>();
            let cols: Vec<String> = t
                .split('\t')
                .zip(o.split('\t'))
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(i, (a, b))| {
                    format!("column {i}: tshark {:?}, keepsight {:?}", cut(a), cut(b))
                })
                .collect();
            format!(
                "{}: {}",
                cut(t.split('\t').next().unwrap_or("")),
                cols.join("; ")
            )
        })
        .collect();
    if theirs.lines().count() != ours.lines().count() {
        problems.push(format!(
            "tshark lists {} lines, keepsight {}",
            theirs.lines().count(),
            ours.lines().count()
        ));
    }
    problems
}

/// Every registered `http2.*` field (and `http2` itself), with the columns.
fn fields() -> Vec<String> {
    let list = packets_output(&["--list-fields".to_string()]);
    let mut f: Vec<String> = list
        .lines()
        .filter_map(|l| l.split('\t').next())
        .filter(|n| *n == "http2" || n.starts_with("http2."))
        .map(str::to_string)
        .collect();
    assert!(f.len() > 40, "http2 fields are registered: {f:?}");
    f.extend(["frame.protocols", "_ws.col.Protocol", "_ws.col.Info"].map(String::from));
    f
}

#[test]
fn every_http2_field_and_column_matches_tshark() {
    if !tshark_available() {
        return;
    }
    let fields = fields();
    let mut problems = Vec::new();
    for (cap, d) in captures() {
        let mut args = vec!["-r".to_string(), cap.display().to_string()];
        args.extend(d);
        let listing = tshark(&args);
        assert!(
            listing.matches("HTTP2").count() >= 20,
            "{}: tshark decodes HTTP/2 in it",
            cap.display()
        );
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
        problems.extend(differences(&args));
    }
    assert_no_differences(&problems);
}

#[test]
fn the_one_line_listing_matches_tsharks_with_and_without_decode_as() {
    if !tshark_available() {
        return;
    }
    let mut problems = Vec::new();
    for (cap, d) in captures() {
        let plain = vec!["-r".to_string(), cap.display().to_string()];
        problems.extend(differences(&plain));
        let mut decoded = plain.clone();
        decoded.extend(d);
        problems.extend(differences(&decoded));
    }
    assert_no_differences(&problems);
}

/// Display filters on the HTTP/2 fields, each compared by the frames it selects.
const FILTERS: &[&str] = &[
    "http2",
    "http2.magic",
    "http2.type == 6",
    "http2.type == 6 && http2.flags.ack.ping == 0",
    "http2.flags.ack.ping == 1",
    "http2.pong",
    "http2.type == 7",
    "http2.goaway.error == 11",
    "http2.goaway.error == 0 && http2.goaway.last_stream_id > 1",
    "http2.goaway.addata == 74:6f:6f:5f:6d:61:6e:79:5f:70:69:6e:67:73",
    "http2.settings.initial_window_size > 65535",
    "http2.settings.id == 3",
    "http2.window_update.window_size_increment > 1000",
    "http2.rst_stream.error == 0",
    "http2.headers.path == \"/keepsight.Echo/Say\"",
    "http2.header.name == \"grpc-status\"",
    "http2.header.value == \"max connection age\"",
    "http2.headers.status == 200",
    "http2.streamid == 3",
    "http2.flags.end_stream == 1",
    "http2.type == 9",
    "http2.flags.padded == 1",
    "count(http2.type) >= 3",
    "!http2 && tcp.len > 0",
];

#[test]
fn http2_display_filters_select_the_frames_tshark_selects() {
    if !tshark_available() {
        return;
    }
    let mut selected = vec![0usize; FILTERS.len()];
    let mut problems = Vec::new();
    for (cap, d) in captures() {
        for (i, f) in FILTERS.iter().enumerate() {
            let mut args = vec!["-r".to_string(), cap.display().to_string()];
            args.extend(d.iter().cloned());
            args.extend(["-Y", f, "-T", "fields", "-e", "frame.number"].map(String::from));
            let (theirs, ours) = (tshark(&args), packets_output(&args));
            if theirs != ours {
                problems.push(format!(
                    "{}: {f}: tshark {theirs:?}, keepsight {ours:?}",
                    cap.display()
                ));
            }
            selected[i] += theirs.lines().count();
        }
    }
    assert_no_differences(&problems);
    for (f, n) in FILTERS.iter().zip(&selected) {
        assert!(
            *n > 0 || f.starts_with('!'),
            "{f} selects no frame of any capture"
        );
    }
}
