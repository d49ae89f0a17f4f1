//! Golden outputs: every command on every capture in the repository, compared with what the
//! binary printed when the recording was made (`tests/golden/`).
//!
//! This is a regression guard, not an oracle: it says that a refactoring changed nothing a user
//! sees. (Whether the outputs are *right* is what the oracle tests check against tshark, real
//! peers and the scenarios' truth files.) Outputs that are keepsight's own words (diagnose,
//! http, expert, conv, follow, keepalive, probe) are recorded in full, so a deliberate change of
//! behaviour shows up line by line in review; the tshark-shaped listings (`packets` in every
//! output mode) and the HTML report are recorded as SHA-256 and length, because they are large
//! and their content is checked elsewhere (packets_oracle, report_html).
//!
//! When an output changes on purpose, record again and commit the new files with the change:
//!
//! ```sh
//! KEEPSIGHT_GOLDEN=update cargo test --release -p keepsight --test golden
//! git diff tests/golden
//! ```
//!
//! On a mismatch the test writes what this binary printed to `target/golden-actual/` (same file
//! names), so `diff -r tests/golden target/golden-actual` shows every difference; to see the
//! full outputs behind a hash, run the printed command with the old and the new binary.
//! `KEEPSIGHT_GOLDEN_BIN=/path/to/keepsight` records or checks another build of the binary.

mod common;

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How an output is recorded.
#[derive(Clone, Copy, PartialEq)]
enum Keep {
    /// The text itself (keepsight's own words).
    Text,
    /// SHA-256 and length (large, tshark-shaped, or checked by an oracle test elsewhere).
    Digest,
}

/// One command line to run from the repository's root, with how to keep what it prints.
struct Run {
    args: Vec<String>,
    stdout: Keep,
    /// A file the command writes (the HTML report): recorded by digest, and its path in the
    /// messages replaced by `OUT`.
    writes: Option<PathBuf>,
}

impl Run {
    fn new(args: &[&str], stdout: Keep) -> Self {
        Run {
            args: args.iter().map(|s| s.to_string()).collect(),
            stdout,
            writes: None,
        }
    }
}

impl Run {
    /// The command line as the recording shows it: the scratch output file as `OUT`, and the
    /// list of every field as one word (it is `--list-fields`, and would fill a screen).
    fn shown(&self) -> String {
        let mut words = Vec::new();
        let mut fields = 0;
        for (i, a) in self.args.iter().enumerate() {
            if a == "-e" || (i > 0 && self.args[i - 1] == "-e") {
                fields += 1;
                continue;
            }
            match &self.writes {
                Some(out) if *a == out.display().to_string() => words.push("OUT".to_string()),
                _ => words.push(a.clone()),
            }
        }
        if fields > 4 {
            words.push("-e <every field of --list-fields>".into());
        }
        words.join(" ")
    }
}

fn binary() -> PathBuf {
    std::env::var_os("KEEPSIGHT_GOLDEN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_keepsight")))
}

fn updating() -> bool {
    std::env::var("KEEPSIGHT_GOLDEN").is_ok_and(|v| v == "update")
}

fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256 {hex} ({} bytes)", bytes.len())
}

/// Text as recorded: valid UTF-8 as it is (with a note when the last line has no newline),
/// anything else by digest.
fn text_or_digest(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok("") => String::new(),
        Ok(t) if t.ends_with('\n') => t.to_string(),
        Ok(t) => format!("{t}\n[no newline at the end]\n"),
        Err(_) => format!("[not UTF-8] {}\n", digest(bytes)),
    }
}

/// Runs one command and renders its entry of the recording.
fn record(run: &Run, repo: &Path) -> String {
    if let Some(out) = &run.writes {
        let _ = std::fs::remove_file(out);
    }
    let mut cmd = Command::new(binary());
    cmd.args(&run.args)
        .current_dir(repo)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .env("COLUMNS", "100")
        .stdin(Stdio::null());
    let output = cmd.output().expect("the keepsight binary runs");
    let mut entry = format!(
        "### keepsight {}\nexit {}\n",
        run.shown(),
        output
            .status
            .code()
            .map(|c| c.to_string())
            .unwrap_or_else(|| "by signal".into())
    );
    let mut stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if let Some(out) = &run.writes {
        stderr = stderr.replace(&out.display().to_string(), "OUT");
        match std::fs::read(out) {
            Ok(bytes) => entry.push_str(&format!("OUT {}\n", digest(&bytes))),
            Err(_) => entry.push_str("OUT not written\n"),
        }
        let _ = std::fs::remove_file(out);
    }
    match run.stdout {
        Keep::Digest if !output.stdout.is_empty() => {
            entry.push_str(&format!("stdout {}\n", digest(&output.stdout)))
        }
        Keep::Digest => {}
        Keep::Text => {
            let text = text_or_digest(&output.stdout);
            if !text.is_empty() {
                entry.push_str("--- stdout\n");
                entry.push_str(&text);
            }
        }
    }
    if !stderr.is_empty() {
        entry.push_str("--- stderr\n");
        entry.push_str(&text_or_digest(stderr.as_bytes()));
    }
    entry
}

/// Every capture in the repository (and the one non-capture the corpus keeps to be refused),
/// relative to its root, in a stable order.
fn captures(repo: &Path) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng" | "gz" | "cap")
            ) || p.file_name().is_some_and(|n| n == "not-a-capture.txt")
            {
                out.push(p);
            }
        }
    }
    let mut found = Vec::new();
    walk(&repo.join("tests"), &mut found);
    walk(&repo.join("crates/diagnose/incident"), &mut found);
    let mut rel: Vec<String> = found
        .iter()
        .map(|p| p.strip_prefix(repo).unwrap().display().to_string())
        .collect();
    rel.sort();
    rel
}

/// The fields `packets -T fields` can print, as `--list-fields` names them.
fn all_fields(repo: &Path) -> Vec<String> {
    let out = Command::new(binary())
        .args(["packets", "--list-fields"])
        .current_dir(repo)
        .output()
        .expect("keepsight packets --list-fields");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split('\t').next())
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect()
}

/// The command lines run on one capture.
fn runs_for(capture: &str, fields: &[String], scratch: &Path) -> Vec<Run> {
    use Keep::*;
    let c = capture;
    let mut runs = vec![
        Run::new(&["packets", c], Digest),
        Run::new(&["packets", c, "-t", "ud", "-Y", "tcp or udp"], Digest),
        Run::new(&["packets", c, "-T", "json"], Digest),
        Run::new(&["diagnose", c], Text),
        Run::new(&["diagnose", c, "--json"], Text),
        Run::new(&["http", c], Text),
        Run::new(&["http", c, "--all"], Text),
        Run::new(&["http", c, "--json"], Text),
        Run::new(&["expert", c], Text),
        Run::new(&["conv", c], Text),
        Run::new(&["conv", c, "--json"], Text),
        Run::new(&["follow", c, "0"], Text),
        Run::new(&["follow", c, "1", "--format", "hex"], Text),
    ];
    let mut all = vec![
        "packets".to_string(),
        c.to_string(),
        "-T".into(),
        "fields".into(),
    ];
    all.extend(["-E".into(), "header=y".into()]);
    for f in fields {
        all.push("-e".into());
        all.push(f.clone());
    }
    runs.push(Run {
        args: all,
        stdout: Digest,
        writes: None,
    });
    let html = scratch.join(format!("{}.html", c.replace('/', "__")));
    let mut report = Run::new(&["report", c, "-o", &html.display().to_string()], Text);
    report.writes = Some(html.clone());
    runs.push(report);
    // tshark's habits (issue 20): -x, -o, -T ek, -q -z, and -w with its file; tshark-shaped,
    // so by digest (tshark_habits.rs compares them with tshark).
    runs.push(Run::new(&["packets", c, "-x"], Digest));
    runs.push(Run::new(
        &["packets", c, "-o", "tcp.analyze_sequence_numbers:FALSE"],
        Digest,
    ));
    runs.push(Run::new(
        &[
            "packets",
            c,
            "-T",
            "ek",
            "-e",
            "frame.number",
            "-e",
            "tcp.seq",
        ],
        Digest,
    ));
    runs.push(Run::new(
        &[
            "packets",
            c,
            "-q",
            "-z",
            "conv,udp",
            "-z",
            "endpoints,tcp",
            "-z",
            "io,stat,1",
        ],
        Digest,
    ));
    let written = scratch.join(format!("{}.pcapng", c.replace('/', "__")));
    let mut write = Run::new(
        &[
            "packets",
            c,
            "-Y",
            "tcp",
            "-w",
            &written.display().to_string(),
        ],
        Text,
    );
    write.writes = Some(written);
    runs.push(write);
    // A scenario's application log beside its capture.
    let log = Path::new(c).with_file_name("app.log");
    let log = log.display().to_string();
    if Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(&log)
        .exists()
    {
        runs.push(Run::new(&["diagnose", c, "--log", &log], Text));
        runs.push(Run::new(&["diagnose", c, "--log", &log, "--json"], Text));
        let mut report = Run::new(
            &[
                "report",
                c,
                "--log",
                &log,
                "-o",
                &html.display().to_string(),
            ],
            Text,
        );
        report.writes = Some(html);
        runs.push(report);
    }
    runs
}

/// Where the recording of `name` lives.
fn recording(repo: &Path, name: &str) -> PathBuf {
    repo.join("tests/golden").join(format!("{name}.txt"))
}

/// Compares (or, when updating, writes) one recording; returns a description of the first
/// difference when they differ.
fn check(repo: &Path, name: &str, actual: &str) -> Option<String> {
    let path = recording(repo, name);
    if updating() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return None;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected == actual {
        return None;
    }
    let dump = repo
        .join("target/golden-actual")
        .join(format!("{name}.txt"));
    std::fs::create_dir_all(dump.parent().unwrap()).unwrap();
    std::fs::write(&dump, actual).unwrap();
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let first = e
        .iter()
        .zip(&a)
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    // The command the difference belongs to.
    let command = a[..first.min(a.len())]
        .iter()
        .rev()
        .find(|l| l.starts_with("### "))
        .copied()
        .unwrap_or("(start of the file)");
    let context = |lines: &[&str]| -> String {
        let from = first.saturating_sub(2);
        let to = (first + 4).min(lines.len());
        lines[from.min(to)..to]
            .iter()
            .map(|l| format!("    {l}\n"))
            .collect()
    };
    Some(format!(
        "{}: differs at line {} (under {command})\n  recorded:\n{}  now:\n{}",
        path.strip_prefix(repo).unwrap().display(),
        first + 1,
        context(&e),
        context(&a)
    ))
}

fn report_mismatches(mismatches: Vec<String>) {
    if mismatches.is_empty() {
        return;
    }
    panic!(
        "{} recording(s) differ from what the binary prints now:\n\n{}\n\
         What it printed is in target/golden-actual/ (`diff -r tests/golden target/golden-actual`). \
         If the change is deliberate, record again: \
         KEEPSIGHT_GOLDEN=update cargo test --release -p keepsight --test golden",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn every_command_on_every_capture() {
    let repo = common::repo();
    let scratch = common::scratch("golden");
    let fields = all_fields(&repo);
    assert!(fields.len() > 100, "--list-fields listed {}", fields.len());
    let captures = captures(&repo);
    assert!(captures.len() > 80, "found {} captures", captures.len());
    let next = AtomicUsize::new(0);
    let mismatches = Mutex::new(Vec::new());
    let seen = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..std::thread::available_parallelism().map_or(2, |n| n.get()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(capture) = captures.get(i) else {
                    break;
                };
                let mut text = String::new();
                for run in runs_for(capture, &fields, &scratch) {
                    text.push_str(&record(&run, &repo));
                }
                let name = format!("captures/{}", capture.replace('/', "__"));
                seen.lock().unwrap().insert(name.clone(), ());
                if let Some(m) = check(&repo, &name, &text) {
                    mismatches.lock().unwrap().push(m);
                }
            });
        }
    });
    // A recording whose capture is gone is a capture someone deleted without recording again.
    let mut stale = Vec::new();
    if let Ok(entries) = std::fs::read_dir(repo.join("tests/golden/captures")) {
        for e in entries.flatten() {
            let name = format!(
                "captures/{}",
                e.path().file_stem().unwrap().to_string_lossy()
            );
            if !seen.lock().unwrap().contains_key(&name) {
                if updating() {
                    let _ = std::fs::remove_file(e.path());
                } else {
                    stale.push(format!("{name}: recorded, but its capture is gone"));
                }
            }
        }
    }
    let mut all = mismatches.into_inner().unwrap();
    all.sort();
    all.extend(stale);
    let _ = std::fs::remove_dir_all(&scratch);
    report_mismatches(all);
}

/// `keepsight keepalive` has no capture: a set of configurations, text and JSON.
#[test]
fn keepalive_explanations() {
    let repo = common::repo();
    let configs: [&[&str]; 8] = [
        &["--idle", "7200", "--interval", "75", "--probes", "9"],
        &[
            "--idle",
            "7200",
            "--interval",
            "75",
            "--probes",
            "9",
            "--middlebox",
            "350s",
        ],
        &["--nginx", "30m::10", "--middlebox", "1h"],
        &["--nginx", "5m::"],
        &["--nginx", "on"],
        &[
            "--idle",
            "60",
            "--interval",
            "10",
            "--probes",
            "3",
            "--user-timeout",
            "45s",
        ],
        &[
            "--idle",
            "1h30m",
            "--interval",
            "1.5s",
            "--probes",
            "127",
            "--middlebox",
            "900s",
        ],
        &["--idle", "0", "--interval", "10", "--probes", "3"],
    ];
    let mut text = String::new();
    for config in configs {
        for json in [false, true] {
            let mut args = vec!["keepalive"];
            args.extend_from_slice(config);
            if json {
                args.push("--json");
            }
            text.push_str(&record(&Run::new(&args, Keep::Text), &repo));
        }
    }
    report_mismatches(check(&repo, "keepalive", &text).into_iter().collect());
}

/// `keepsight probe http` against a local `keepsight serve` with a 1 s idle timeout and 4
/// requests per connection. Measured times vary from run to run, so every run of digits is recorded
/// as one `#`: what is compared is which measurements are made, their verdicts and wording.
#[test]
fn probe_against_a_local_server() {
    let repo = common::repo();
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let server = Command::new(binary())
        .args([
            "serve",
            "--listen",
            &addr,
            "--keepalive-timeout",
            "1s",
            "--keepalive-requests",
            "4",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("keepsight serve starts");
    let _server = common::Guard(server);
    common::wait_listening(addr.parse().unwrap(), "keepsight serve");
    let url = format!("http://{addr}/");
    let mut text = String::new();
    for json in [false, true] {
        let mut args = vec![
            "probe",
            "http",
            url.as_str(),
            "--max-idle",
            "3s",
            "--precision",
            "200ms",
        ];
        if json {
            args.push("--json");
        }
        let entry = record(&Run::new(&args, Keep::Text), &repo).replace(&addr, "ADDR");
        let mut masked = String::with_capacity(entry.len());
        for c in entry.chars() {
            if !c.is_ascii_digit() {
                masked.push(c);
            } else if !masked.ends_with('#') {
                masked.push('#');
            }
        }
        text.push_str(&masked);
        std::thread::sleep(Duration::from_millis(100));
    }
    report_mismatches(check(&repo, "probe", &text).into_iter().collect());
}
