//! `keepsight diagnose --evidence DIR` on every capture of the committed corpus: each finding
//! names the pcapng of its stream(s); `keepsight diagnose` on that file alone reports a finding
//! of the same kind (for stream 0, the only TCP stream there), and tshark 4.0.17 reads the file
//! with the same frames (`frame.len`, `frame.cap_len`, times and bytes) as it shows for that
//! stream in the original (`-Y tcp.stream eq N`).
//!
//! A finding that needs more than its stream's packets is not expected to come back from them
//! alone; the test names such kinds and checks only that the file still holds the stream's
//! frames: `log_match` (needs the `--log`), and the findings drawn from several streams together
//! (`port_reuse`-style kinds are listed in `NEEDS_OTHER_STREAMS` as the corpus meets them).

mod common;
use common::{assert_no_differences, corpus, repo, run_parallel, scratch, tshark_available};
use std::path::Path;
use std::process::Command;

/// Finding kinds that need other streams (or a log) than the one saved.
const NEEDS_OTHER_STREAMS: [&str; 1] = ["log_match"];

fn output(program: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(program)
        .env("TZ", "UTC")
        .args(args)
        .output()
        .expect("command runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn diagnose_json(file: &Path, evidence: Option<&Path>) -> serde_json::Value {
    let mut args: Vec<&std::ffi::OsStr> = vec!["diagnose".as_ref(), "--json".as_ref()];
    args.push(file.as_os_str());
    if let Some(dir) = evidence {
        args.push("--evidence".as_ref());
        args.push(dir.as_os_str());
    }
    let text = output(env!("CARGO_BIN_EXE_keepsight"), &args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", file.display()))
}

/// What tshark shows of a file's frames (with `filter`): lengths, time and bytes per frame.
fn tshark_frames(file: &Path, filter: Option<&str>) -> String {
    let mut args: Vec<&std::ffi::OsStr> = vec!["-r".as_ref(), file.as_os_str()];
    if let Some(f) = filter {
        args.push("-Y".as_ref());
        args.push(f.as_ref());
    }
    let fields = [
        "-T",
        "fields",
        "-e",
        "frame.len",
        "-e",
        "frame.cap_len",
        "-e",
        "frame.time_epoch",
    ];
    let mut with_fields = args.clone();
    with_fields.extend(fields.iter().map(std::ffi::OsStr::new));
    let mut hex = args.clone();
    hex.push("-x".as_ref());
    format!(
        "{}\n{}",
        output("tshark", &with_fields),
        output("tshark", &hex)
    )
}

/// Findings checked, so the test cannot pass on a corpus that yields none.
static CHECKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn check(file: &Path, dir: &Path) -> Vec<String> {
    let name = file
        .strip_prefix(repo())
        .unwrap_or(file)
        .display()
        .to_string();
    let out = dir.join(name.replace('/', "__"));
    let report = diagnose_json(file, Some(&out));
    let mut problems = Vec::new();
    let mut checked_files = std::collections::HashSet::new();
    for f in report["findings"].as_array().into_iter().flatten() {
        let kind = f["kind"].as_str().unwrap_or("");
        let Some(stream) = f["stream"].as_u64() else {
            continue;
        };
        let evidence: Vec<&str> = f["evidence"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str())
            .collect();
        let own = out.join(format!("stream-{stream}.pcapng"));
        if !evidence.contains(&own.to_str().unwrap_or("")) {
            problems.push(format!(
                "{name}: {kind} on stream {stream} does not name {}: {evidence:?}",
                own.display()
            ));
            continue;
        }
        CHECKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !NEEDS_OTHER_STREAMS.contains(&kind) {
            let again = diagnose_json(&own, None);
            let found = again["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|g| g["kind"] == kind && g["stream"] == 0);
            if !found {
                problems.push(format!(
                    "{name}: {kind} on stream {stream}: not found again in {}",
                    own.display()
                ));
            }
        }
        if checked_files.insert(own.clone()) {
            let theirs = tshark_frames(file, Some(&format!("tcp.stream eq {stream}")));
            let saved = tshark_frames(&own, None);
            if theirs != saved {
                problems.push(format!(
                    "{name}: stream {stream}: tshark shows other frames in {}",
                    own.display()
                ));
            }
        }
    }
    problems
}

#[test]
fn each_finding_s_evidence_holds_its_stream_and_the_finding() {
    if !tshark_available() {
        return;
    }
    let dir = scratch("evidence");
    let problems = run_parallel(&corpus(), |f| check(f, &dir));
    let _ = std::fs::remove_dir_all(&dir);
    assert_no_differences(&problems);
    // The corpus has about a hundred findings on streams (late and retransmitted heartbeats,
    // resets, unanswered keep-alives, idle gaps, HTTP closes).
    let checked = CHECKED.load(std::sync::atomic::Ordering::Relaxed);
    assert!(checked >= 50, "only {checked} findings checked");
}

#[test]
fn evidence_from_standard_input_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .args(["diagnose", "-", "--evidence"])
        .arg(scratch("evidence-stdin"))
        .stdin(std::fs::File::open(repo().join("tests/corpus/heartbeat.pcap")).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{:?}", out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--evidence reads the capture a second time")
    );
}
