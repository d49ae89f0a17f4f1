//! `frame.time_delta_displayed` and `-t dd` are measured between *displayed* frames, so they
//! depend on the `-Y` filter: with `-Y 'tcp.len eq 1'` on a heartbeat capture they show the
//! heartbeat period, not the gap to the previous captured ACK. Compared with tshark 4.0.17 (the
//! test passes without checking, saying so, when tshark is not installed).

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const FILTERS: [&str; 4] = [
    "tcp.len eq 1",
    "tcp.analysis.keep_alive",
    "tcp.stream eq 0 and (tcp.len == 1 or tcp.flags.reset == 1)",
    "tcp.flags.syn == 1 or tcp.flags.fin == 1",
];
const CAPTURES: [&str; 3] = [
    "tests/filters/filters.pcap",
    "tests/corpus/heartbeat.pcap",
    "tests/corpus/keepalive.pcapng",
];

fn run(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Frame number and time column (the first two fields) of summary lines.
fn time_column(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect()
}

#[test]
fn time_delta_displayed_follows_the_filter() {
    if !keepsight_testlab::require_tool("tshark") {
        return;
    }
    let ks = env!("CARGO_BIN_EXE_keepsight");
    let mut checked = 0;
    let mut selected = 0;
    for cap in CAPTURES {
        let path = root().join(cap);
        if !path.exists() {
            println!("skipping {cap}: not present");
            continue;
        }
        let p = path.to_string_lossy();
        for f in FILTERS {
            let fields = [
                "-Y",
                f,
                "-T",
                "fields",
                "-e",
                "frame.number",
                "-e",
                "frame.time_delta_displayed",
            ];
            let theirs = run("tshark", &[&["-r", &p][..], &fields[..]].concat())
                .expect("tshark reads the capture");
            let ours = run(ks, &[&["packets", &p][..], &fields[..]].concat())
                .expect("keepsight reads the capture");
            assert_eq!(
                ours, theirs,
                "-e frame.time_delta_displayed with -Y '{f}' on {cap}"
            );
            selected += usize::from(!theirs.is_empty());

            let theirs =
                run("tshark", &["-r", &p, "-Y", f, "-t", "dd"]).expect("tshark reads the capture");
            let ours = run(ks, &["packets", &p, "-Y", f, "-t", "dd"])
                .expect("keepsight reads the capture");
            assert_eq!(
                time_column(&ours),
                time_column(&theirs),
                "-t dd with -Y '{f}' on {cap}"
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no capture was found");
    assert!(
        selected * 2 >= checked,
        "most filters select frames, so the comparison means something"
    );
}
