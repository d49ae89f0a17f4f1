//! `keepsight packets -T psml` against tshark 4.0.17's own `-T psml` on every capture of the
//! committed corpus (`tests/corpus/MANIFEST.tsv`), with and without `-Y` and `-c`.
//!
//! The header (the column structure) must be byte for byte tshark's, and keepsight must print a
//! `<packet>` for every packet tshark prints. Each packet tshark's Protocol column names TCP is
//! compared whole; the others carry a protocol keepsight does not dissect (ARP, ICMP, ICMPv6,
//! HTTP, TLS without keys...), whose Protocol and Info columns keepsight leaves to tshark. Three
//! documented differences are allowed, each only in the section it concerns:
//! - segments tshark marks `[TCP segment of a reassembled PDU]` of HTTP/1 messages on its HTTP
//!   ports (synth captures), which keepsight's listing does not reassemble (TLS and HTTP/2
//!   segments keepsight marks itself, and those are compared);
//! - `[Packet size limited during capture]`, which tshark's heuristic sub-dissectors append to
//!   the Info of a snap-length-cut payload (the same rule as the summary-line oracle);
//! - the Time column of the 2^-20 s interface of `fmt/multi-if-tsresol.pcapng`, where
//!   keepsight's summary prints 7 decimals and tshark 6: the text summary line has the same
//!   difference (its oracle does not run on that file), so it is the Time column's, not PSML's.

mod common;
use common::{assert_no_differences, repo, run_parallel, tshark_available};
use std::path::{Path, PathBuf};
use std::process::Command;

const SNAP_SUFFIX: &str = "[Packet size limited during capture]";

fn corpus() -> Vec<PathBuf> {
    let dir = repo().join("tests/corpus");
    let manifest =
        std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("tests/corpus/MANIFEST.tsv");
    manifest
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|f| !f.is_empty())
        .map(|f| dir.join(f))
        .collect()
}

fn output(program: &str, args: &[&str], file: &Path) -> String {
    let mut c = Command::new(program);
    c.env("TZ", "UTC").args(args).arg("-r").arg(file);
    let out = c.output().expect("command runs");
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The sections of one `<packet>` element.
fn sections(packet: &str) -> Vec<&str> {
    packet
        .split("<section>")
        .skip(1)
        .map(|s| s.split("</section>").next().unwrap_or(""))
        .collect()
}

/// The element without its sections' text: the markup around them must be the same.
fn skeleton(packet: &str) -> String {
    packet
        .split("<section>")
        .map(|s| s.split_once("</section>").map_or(s, |(_, rest)| rest))
        .collect::<Vec<_>>()
        .join("<section></section>")
}

/// Where keepsight's PSML differs from tshark's on `file` with `opts`.
fn psml_differences(file: &Path, opts: &[&str]) -> Vec<String> {
    let keepsight = env!("CARGO_BIN_EXE_keepsight");
    let mut ks_args = vec!["packets", "-T", "psml"];
    ks_args.extend_from_slice(opts);
    let mut ts_args = vec!["-T", "psml"];
    ts_args.extend_from_slice(opts);
    let theirs = output("tshark", &ts_args, file);
    let ours = output(keepsight, &ks_args, file);
    let name = file.strip_prefix(repo()).unwrap_or(file).display();
    let (t, o): (Vec<&str>, Vec<&str>) = (
        theirs.split("<packet>").collect(),
        ours.split("<packet>").collect(),
    );
    if t[0] != o[0] {
        return vec![format!("{name} {opts:?}: header\n{}\n{}", t[0], o[0])];
    }
    if t.len() != o.len() {
        return vec![format!(
            "{name} {opts:?}: tshark prints {} packets, keepsight {}",
            t.len() - 1,
            o.len() - 1
        )];
    }
    if theirs.ends_with("</psml>\n") != ours.ends_with("</psml>\n") {
        return vec![format!("{name} {opts:?}: trailer")];
    }
    let odd_time = file.ends_with("fmt/multi-if-tsresol.pcapng");
    let mut problems = Vec::new();
    for (tp, op) in t.iter().zip(&o).skip(1) {
        let (ts, os) = (sections(tp), sections(op));
        if ts.get(4) != Some(&"TCP") {
            continue;
        }
        let pdu = "[TCP segment of a reassembled PDU]";
        if ts.get(6).is_some_and(|i| i.ends_with(pdu)) && !os.get(6).is_some_and(|i| i.ends_with(pdu)) {
            // A segment of an HTTP/1 message tshark reassembles on its HTTP ports: keepsight's
            // listing does not reassemble HTTP, as the summary-line oracle documents.
            continue;
        }
        if ts.len() != os.len() {
            problems.push(format!("{name} {opts:?}:\n{tp}\n{op}"));
            continue;
        }
        let differs = ts.iter().zip(&os).enumerate().any(|(i, (a, b))| match i {
            1 if odd_time => false,
            6 => a.strip_suffix(SNAP_SUFFIX).unwrap_or(a) != *b,
            _ => a != b,
        });
        if differs || skeleton(tp) != skeleton(op) {
            problems.push(format!("{name} {opts:?}:\n{tp}\n{op}"));
        }
    }
    problems
}

#[test]
fn psml_matches_tshark_on_every_capture() {
    if !tshark_available() {
        return;
    }
    let files = corpus();
    let problems = run_parallel(&files, |f| psml_differences(f, &[]));
    assert_no_differences(&problems);
}

#[test]
fn psml_with_a_filter_and_a_count_matches_tshark() {
    if !tshark_available() {
        return;
    }
    let dir = repo().join("tests/corpus");
    let mut problems = Vec::new();
    problems.extend(psml_differences(
        &dir.join("heartbeat.pcap"),
        &["-Y", "tcp.len eq 1", "-t", "dd"],
    ));
    problems.extend(psml_differences(
        &dir.join("bulk-loss-tx.pcapng"),
        &["-Y", "tcp.analysis.flags", "-c", "400", "-t", "ud"],
    ));
    problems.extend(psml_differences(
        &dir.join("keepalive.pcapng"),
        &["-c", "7"],
    ));
    assert_no_differences(&problems);
}
