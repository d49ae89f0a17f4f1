//! Exit status of every command, as the README promises: 0 success; 1 the command ran and
//! found a problem (damaged capture, failed check); 2 usage error (bad option, filter, field,
//! duration); 3 the command could not run (unreadable file, cannot bind). And every example
//! of every `--help` text is a valid command line (never a usage error).

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn keepsight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .args(args)
        .current_dir(common::repo())
        .stdin(Stdio::null())
        .output()
        .expect("the keepsight binary runs")
}

/// Runs each command line and checks its exit status; all mismatches are reported at once.
fn expect(cases: &[(Vec<&str>, i32)]) {
    let mut wrong = Vec::new();
    for (args, want) in cases {
        let out = keepsight(args);
        if out.status.code() != Some(*want) {
            wrong.push(format!(
                "keepsight {}: exit {:?}, expected {want}\n  stderr: {}",
                args.join(" "),
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

const CAPTURE: &str = "tests/corpus/heartbeat.pcap";
const LOG: &str = "crates/diagnose/incident/app.log";

/// A copy of a repository capture cut in the middle of its last record: damaged.
fn damaged_capture(dir: &Path) -> String {
    let bytes = std::fs::read(common::repo().join(CAPTURE)).unwrap();
    let path = dir.join("truncated.pcap");
    std::fs::write(&path, &bytes[..bytes.len() - 7]).unwrap();
    path.display().to_string()
}

/// A path in the scratch directory that does not exist: a file that cannot be read.
fn missing(dir: &Path) -> String {
    dir.join("no-such-capture.pcap").display().to_string()
}

#[test]
fn capture_commands() {
    let dir = common::scratch("exit-codes-captures");
    let bad = damaged_capture(&dir);
    let gone = missing(&dir);
    let html = dir.join("out.html").display().to_string();
    let bad_filter = "tcp.port ===";
    let mut cases: Vec<(Vec<&str>, i32)> = Vec::new();
    // Commands that read one capture and take -Y.
    for cmd in ["packets", "http", "expert", "conv"] {
        cases.push((vec![cmd, CAPTURE], 0));
        cases.push((vec![cmd, CAPTURE, "--no-such-option"], 2));
        cases.push((vec![cmd, CAPTURE, "-Y", bad_filter], 2));
        cases.push((vec![cmd, &bad], 1));
        cases.push((vec![cmd, &gone], 3));
    }
    cases.extend([
        (
            vec!["packets", CAPTURE, "-T", "fields", "-e", "tcp.lenn"],
            2,
        ),
        (
            vec![
                "packets",
                CAPTURE,
                "-T",
                "fields",
                "-e",
                "tcp.len",
                "-E",
                "occurrence=x",
            ],
            2,
        ),
        (vec!["packets", CAPTURE, "-T", "fields"], 2),
        (vec!["packets", CAPTURE, "-t", "zz"], 2),
        (vec!["http", CAPTURE, "--stream", "x"], 2),
        (vec!["follow", CAPTURE, "0"], 0),
        (vec!["follow", CAPTURE, "0", "--no-such-option"], 2),
        (vec!["follow", CAPTURE, "not-a-stream"], 2),
        (vec!["follow", CAPTURE, "0", "--range", "4-2"], 2),
        (vec!["follow", &bad, "0"], 1),
        (vec!["follow", &gone, "0"], 3),
        (vec!["diagnose", CAPTURE], 0),
        (vec!["diagnose", CAPTURE, "--no-such-option"], 2),
        (vec!["diagnose", CAPTURE, "--period", "1.5x"], 2),
        (vec!["diagnose", CAPTURE, "--probe", "zz"], 2),
        (vec!["diagnose", CAPTURE, "--middlebox", "nat"], 2),
        (
            vec!["diagnose", CAPTURE, "--log", LOG, "--log-tz", "+25:00"],
            2,
        ),
        // A bad option is a usage error even when the log named is missing too.
        (
            vec!["diagnose", CAPTURE, "--period", "soon", "--log", &gone],
            2,
        ),
        (vec!["diagnose", CAPTURE, "--log", &gone], 3),
        (vec!["diagnose", &bad], 1),
        (vec!["diagnose", &gone], 3),
        (vec!["report", CAPTURE, "-o", &html], 0),
        (vec!["report", CAPTURE], 2),
        (vec!["report", CAPTURE, "-o", &html, "--timeout=-1s"], 2),
        (vec!["report", &bad, "-o", &html], 1),
        (vec!["report", &gone, "-o", &html], 3),
        (vec!["report", CAPTURE, "-o", "/proc/keepsight/out.html"], 3),
    ]);
    expect(&cases);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keepalive_explanations() {
    expect(&[
        (
            vec![
                "keepalive",
                "--idle",
                "60",
                "--interval",
                "10",
                "--probes",
                "3",
            ],
            0,
        ),
        (vec!["keepalive", "--interval", "1.5s"], 2),
        (vec!["keepalive", "--idle", "1h30"], 0),
        (vec!["keepalive", "--no-such-option"], 2),
        (vec!["keepalive", "--idle=-5"], 2),
        (vec!["keepalive", "--idle", "40000"], 2),
        (vec!["keepalive", "--nginx", "30m::200"], 2),
        (
            vec!["keepalive", "--idle", "7200", "--middlebox", "350s"],
            1,
        ),
        (vec!["keepalive", "--idle", "60", "--middlebox", "350s"], 0),
    ]);
}

/// A port something listens on (held by the returned listener): binding it again fails.
fn busy_port() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (l, addr)
}

#[test]
fn runtime_commands() {
    let (_held, busy) = busy_port();
    let closed = format!("127.0.0.1:{}", common::free_port());
    let url = format!("http://{closed}/");
    expect(&[
        (vec!["heartbeat", "serve", "--no-such-option"], 2),
        (
            vec![
                "heartbeat",
                "serve",
                "--listen",
                &busy,
                "--idle-timeout",
                "1x",
            ],
            2,
        ),
        (
            vec![
                "heartbeat",
                "serve",
                "--listen",
                &busy,
                "--stats-every",
                "0s",
            ],
            2,
        ),
        (vec!["heartbeat", "serve", "--listen", &busy], 3),
        (vec!["heartbeat", "client", "--no-such-option"], 2),
        (
            vec![
                "heartbeat",
                "client",
                "--connect",
                &closed,
                "--every",
                "1.5q",
            ],
            2,
        ),
        (
            vec![
                "heartbeat",
                "client",
                "--connect",
                &closed,
                "--connections",
                "0",
            ],
            2,
        ),
        (
            vec![
                "heartbeat",
                "client",
                "--connect",
                &closed,
                "--every",
                "1.5s",
                "--no-reconnect",
            ],
            3,
        ),
        (vec!["serve", "--no-such-option"], 2),
        (
            vec!["serve", "--listen", &busy, "--keepalive-time", "1x"],
            2,
        ),
        (
            vec!["serve", "--listen", &busy, "--keepalive-timeout", "75s,-1"],
            2,
        ),
        (vec!["serve", "--listen", &busy], 3),
        (vec!["proxy", "--no-such-option"], 2),
        (vec!["proxy", "--listen", &busy], 2),
        (
            vec![
                "proxy",
                "--listen",
                &busy,
                "--upstream",
                &closed,
                "--upstream-read-timeout",
                "1x",
            ],
            2,
        ),
        (vec!["proxy", "--listen", &busy, "--upstream", &closed], 3),
        (vec!["probe", "http", &url, "--no-such-option"], 2),
        (vec!["probe", "http", &url, "--max-idle", "1.5x"], 2),
        (vec!["probe", "http", &url, "--parallel", "0"], 2),
        (vec!["probe", "http", &url, "--connect-timeout", "1s"], 3),
        (vec!["probe", "http", "ftp://nowhere/"], 3),
        (
            vec![
                "probe",
                "path",
                &closed,
                "--precision",
                "0.5s",
                "--connect-timeout",
                "1s",
            ],
            3,
        ),
        (vec!["probe", "path", &closed, "--probe", "zz"], 2),
    ]);
}

/// The example command lines of every `--help` text (`Examples:` sections), continuation
/// lines joined and `# comments` dropped.
fn help_examples() -> Vec<String> {
    let commands: [&[&str]; 14] = [
        &["packets"],
        &["diagnose"],
        &["report"],
        &["http"],
        &["expert"],
        &["conv"],
        &["follow"],
        &["keepalive"],
        &["heartbeat", "serve"],
        &["heartbeat", "client"],
        &["serve"],
        &["proxy"],
        &["probe", "http"],
        &["probe", "path"],
    ];
    let mut examples = Vec::new();
    for cmd in commands {
        let mut args = cmd.to_vec();
        args.push("--help");
        // Wide enough that clap does not wrap an example over two lines.
        let help = Command::new(env!("CARGO_BIN_EXE_keepsight"))
            .args(&args)
            .env("COLUMNS", "1000")
            .output()
            .unwrap();
        let help = String::from_utf8(help.stdout).unwrap();
        let mut line = String::new();
        let mut in_examples = false;
        for raw in help.lines() {
            let text = raw.trim();
            // The section runs from `Examples:` to the next unindented paragraph.
            if raw == "Examples:" {
                in_examples = true;
                continue;
            }
            if !raw.is_empty() && !raw.starts_with(' ') {
                in_examples = false;
            }
            if !in_examples || (line.is_empty() && !text.starts_with("keepsight ")) {
                continue;
            }
            line.push_str(text.trim_end_matches('\\'));
            line.push(' ');
            if !text.ends_with('\\') {
                let command = line.split(" #").next().unwrap().trim().to_string();
                examples.push(command);
                line.clear();
            }
        }
    }
    examples
}

/// Shell quoting in the help texts: `-Y 'tcp.stream eq 0 and tcp.payload eq 01'` is one word.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            _ => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

#[test]
fn every_help_example_is_a_valid_command_line() {
    let dir = common::scratch("exit-codes-examples");
    let examples: Vec<(String, Vec<String>)> = help_examples()
        .into_iter()
        .map(|line| {
            let words = shell_words(&line)
                .into_iter()
                .skip(1)
                .map(|w| match w.as_str() {
                    "capture.pcapng" | "capture.pcap" => CAPTURE.to_string(),
                    "app.log" => LOG.to_string(),
                    "report.html" => dir.join("report.html").display().to_string(),
                    // `packets -w` writes its capture here, not into the repository.
                    "stream5.pcapng" => dir.join("stream5.pcapng").display().to_string(),
                    "./public" => dir.display().to_string(),
                    _ => w,
                })
                .collect();
            (line, words)
        })
        .collect();
    assert!(
        examples.len() >= 30,
        "found only {} examples",
        examples.len()
    );
    // Servers and probes run until stopped: started together, each is given a few seconds. A
    // usage error ends a command at once; one still running after that parsed its arguments.
    let mut running = Vec::new();
    for (line, words) in &examples {
        let child = Command::new(env!("CARGO_BIN_EXE_keepsight"))
            .args(words)
            .current_dir(common::repo())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the keepsight binary runs");
        running.push((line, common::Guard(child)));
    }
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut wrong = Vec::new();
    for (line, mut guard) in running {
        let status = loop {
            if let Some(s) = guard.0.try_wait().unwrap() {
                break s.code();
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        match status {
            Some(0 | 1) | None => {}
            Some(code) => {
                let mut err = String::new();
                if let Some(mut e) = guard.0.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                // Could not run (a port taken, a name that does not resolve here) is not a
                // parse error; everything else is.
                if code != 3 {
                    wrong.push(format!("{line}: exit {code}: {}", err.trim()));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
