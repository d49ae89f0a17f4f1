//! `keepsight diagnose --log` on tests/scenarios/log-formats (issue 23): the same resets logged
//! by Python logging, a JSON formatter, util-linux logger, java.util.logging and Go's log. The
//! scorecard checks the JSON facts of truth.json; here, what the command line adds: several
//! `--log` at once in the text report, `--log-format` forcing a reading, and bad uses of the
//! per-log flags refused with exit status 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios/log-formats")
}

fn keepsight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .current_dir(dir())
        .arg("diagnose")
        .arg("capture.pcapng")
        .args(args)
        .output()
        .expect("run keepsight")
}

fn text(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn each_log_says_its_format_and_zone() {
    let out = text(&keepsight(&[
        "--log",
        "python.log",
        "--log",
        "java.log",
        "--log",
        "go.log",
    ]));
    // The zones the programs ran in (run.py: Asia/Kolkata, America/Sao_Paulo, Asia/Tokyo).
    for want in [
        "Application log python.log: 6 lines (python, zone UTC+05:30 found by search), 2 name an error or restart, 2 matched",
        "Application log java.log: 18 lines (logback, zone UTC-03:00 found by search), 1 name an error or restart, 1 matched",
        "Application log go.log: 4 lines (go-log, zone UTC+09:00 found by search), 1 name an error or restart, 1 matched",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
}

#[test]
fn a_zone_per_log_is_obeyed_in_order() {
    // Given wrongly for the second log only: it alone lines up nothing.
    let out = text(&keepsight(&[
        "--log",
        "python.log",
        "--log",
        "java.log",
        "--log-tz",
        "+05:30",
        "--log-tz",
        "+00:00",
    ]));
    assert!(out.contains("python.log: 6 lines (python, zone UTC+05:30 from --log-tz), 2 name an error or restart, 2 matched"), "{out}");
    assert!(out.contains("java.log: 18 lines (logback, zone UTC+00:00 from --log-tz), 1 name an error or restart, 0 matched"), "{out}");
}

#[test]
fn a_forced_format_reads_only_its_lines() {
    // json.log read as syslog: no line is syslog, nothing is read.
    let out = text(&keepsight(&[
        "--log",
        "json.log",
        "--log-format",
        "rfc3164",
    ]));
    assert!(
        out.contains("Application log: 6 lines (none, no zone found), 0 name"),
        "{out}"
    );
    let out = text(&keepsight(&[
        "--log",
        "syslog-3164.log",
        "--log-format",
        "syslog",
    ]));
    assert!(
        out.contains(
            "(rfc3164, zone UTC+05:30 found by search), 2 name an error or restart, 2 matched"
        ),
        "{out}"
    );
}

#[test]
fn per_log_flags_must_be_once_or_once_per_log() {
    for args in [
        &["--log", "json.log", "--log-format", "klingon"][..],
        &[
            "--log", "a.log", "--log", "b.log", "--log", "c.log", "--log-tz", "UTC", "--log-tz",
            "UTC",
        ],
    ] {
        let out = keepsight(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--log-"), "{err}");
    }
}

#[test]
fn the_html_report_names_each_log_and_its_reading() {
    let page = std::env::temp_dir().join(format!("ks-log-formats-{}.html", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .current_dir(dir())
        .args([
            "report",
            "capture.pcapng",
            "--log",
            "json.log",
            "--log",
            "go.log",
            "-o",
        ])
        .arg(&page)
        .output()
        .expect("run keepsight");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    std::fs::remove_file(&page).unwrap();
    for want in [
        "<code>json.log</code>: 6 lines (json, zone UTC+05:30 from the lines&#39; stamps), 2 name an error or restart, 2 matched",
        "<code>go.log</code>: 4 lines (go-log, zone UTC+09:00 found by search), 1 name an error or restart, 1 matched",
    ] {
        assert!(html.contains(want), "missing {want:?}");
    }
}
