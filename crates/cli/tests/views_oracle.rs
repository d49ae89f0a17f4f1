//! Differential tests: `keepsight expert`, `conv` and `follow` against tshark 4.0.17's
//! `-z expert`, `-z conv,tcp` and `-z follow,tcp,...` on the committed capture corpus
//! (`tests/corpus/MANIFEST.tsv` plus `tests/corpus/crafted/*.pcap`).
//!
//! The oracle is tshark's output on the same file, produced when the test runs; nothing
//! expected is written down here. Without tshark the tests fail
//! (`keepsight_testlab::require_tool`; CI installs it).
//!
//! Documented differences the comparison allows:
//! - expert: only rows whose protocol is TCP are compared (keepsight has no HTTP, ICMPv6...
//!   dissectors, and pcapng packet comments are not read: tshark's `Comment / Frame` row).
//!   The section totals include those other rows in tshark, so whole-text equality is checked
//!   only on captures where tshark has no other rows;
//! - conv: `keepsight conv --tshark` must equal tshark byte for byte; the default output adds
//!   columns after tshark's, which are checked against tshark's per-frame fields instead
//!   (first RST/FIN frame, largest `tcp.time_delta`);
//! - follow: byte for byte, every stream, every format.

mod common;
use common::{repo, tshark_available};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn run(program: &str, args: &[&str]) -> String {
    let mut c = if program == "keepsight" {
        Command::new(env!("CARGO_BIN_EXE_keepsight"))
    } else {
        Command::new(program)
    };
    c.env("TZ", "UTC").args(args);
    let out = c.output().expect("command runs");
    assert!(
        out.status.code().is_some(),
        "killed by a signal: {program} {args:?}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked"),
        "{program} {args:?} panicked: {err}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn corpus() -> Vec<PathBuf> {
    let dir = repo().join("tests/corpus");
    let mut files = common::corpus();
    let mut crafted: Vec<PathBuf> = std::fs::read_dir(dir.join("crafted"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
                .collect()
        })
        .unwrap_or_default();
    // TCP in IP fragments (follow, conv and expert see the reassembled segments).
    for sub in ["frag/tcp-fragments.pcap", "frag/tcp6-fragments.pcap"] {
        crafted.push(dir.join("crafted").join(sub));
    }
    crafted.sort();
    files.extend(crafted);
    assert!(
        files.len() >= 20,
        "the corpus lists {} captures",
        files.len()
    );
    files
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `check` on every capture, two at a time (each spawns tshark many times).
fn each_capture(check: impl Fn(&Path) -> Vec<String> + Sync) -> Vec<String> {
    common::run_parallel(&corpus(), check)
}

fn report(what: &str, problems: Vec<String>) {
    if !problems.is_empty() {
        let n = problems.len();
        let shown: Vec<String> = problems.into_iter().take(30).collect();
        panic!("{what}: {n} differences from tshark:\n{}", shown.join("\n"));
    }
}

/// `tcp.stream` values tshark assigns in this capture.
fn streams(file: &Path) -> Vec<u32> {
    let out = run(
        "tshark",
        &["-r", s(file), "-T", "fields", "-e", "tcp.stream"],
    );
    let mut v: Vec<u32> = out.lines().filter_map(|l| l.trim().parse().ok()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[test]
fn follow_matches_tshark_on_every_stream_and_format() {
    if !tshark_available() {
        return;
    }
    let compared = std::sync::atomic::AtomicUsize::new(0);
    let problems = each_capture(|file| {
        let mut p = Vec::new();
        // One stream past the last, too: tshark prints an empty follow for it.
        let mut ids = streams(file);
        ids.push(ids.last().map_or(0, |l| l + 1));
        for fmt in ["ascii", "hex", "raw"] {
            // One tshark run for all streams (it takes many -z); its blocks come out in no
            // promised order, so they are matched by their Filter line.
            let mut args: Vec<String> = vec!["-q".into(), "-r".into(), s(file).into()];
            for id in &ids {
                args.push("-z".into());
                args.push(format!("follow,tcp,{fmt},{id}"));
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let theirs = follow_blocks(&run("tshark", &args));
            for id in &ids {
                let ours = run(
                    "keepsight",
                    &["follow", s(file), &id.to_string(), "--format", fmt],
                );
                compared.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let key = format!("Filter: tcp.stream eq {id}");
                match theirs.get(&key) {
                    Some(t) if *t == ours => {}
                    Some(t) => p.push(first_difference(
                        file,
                        &format!("follow {id} {fmt}"),
                        t,
                        &ours,
                    )),
                    None => p.push(format!(
                        "{}: tshark printed no block for stream {id}",
                        file.display()
                    )),
                }
            }
        }
        p
    });
    let n = compared.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("follow: {n} outputs compared");
    assert!(n > 150, "only {n} follow outputs compared");
    report("follow", problems);
}

/// Splits the output of several `-z follow` into one block per follow, keyed by the block's
/// `Filter:` line; each block is exactly what a lone `-z follow` prints.
fn follow_blocks(text: &str) -> BTreeMap<String, String> {
    let rule = "===================================================================";
    let start = format!("\n{rule}\nFollow: ");
    let mut starts: Vec<usize> = text.match_indices(&start).map(|(i, _)| i).collect();
    starts.push(text.len());
    let mut blocks = BTreeMap::new();
    for w in starts.windows(2) {
        let block = &text[w[0]..w[1]];
        if let Some(filter) = block.lines().find(|l| l.starts_with("Filter: ")) {
            blocks.insert(filter.to_string(), block.to_string());
        }
    }
    blocks
}

#[test]
fn follow_by_endpoints_matches_tshark() {
    if !tshark_available() {
        return;
    }
    let problems = each_capture(|file| {
        // The first TCP frame's endpoints, in both orders (the order changes tshark's Filter line).
        let out = run(
            "tshark",
            &[
                "-r",
                s(file),
                "-Y",
                "tcp",
                "-c",
                "1",
                "-T",
                "fields",
                "-e",
                "ip.src",
                "-e",
                "ipv6.src",
                "-e",
                "tcp.srcport",
                "-e",
                "ip.dst",
                "-e",
                "ipv6.dst",
                "-e",
                "tcp.dstport",
            ],
        );
        let f: Vec<&str> = out.trim_end().split('\t').collect();
        if f.len() < 6 {
            return Vec::new();
        }
        // tshark takes an IPv6 endpoint only in brackets (`[2001:db8::1]:40001`).
        let endpoint = |v4: &str, v6: &str, port: &str| match v6 {
            "" => format!("{v4}:{port}"),
            _ => format!("[{v6}]:{port}"),
        };
        let a = endpoint(f[0], f[1], f[2]);
        let b = endpoint(f[3], f[4], f[5]);
        let mut p = Vec::new();
        for sel in [format!("{a},{b}"), format!("{b},{a}")] {
            let theirs = run(
                "tshark",
                &[
                    "-q",
                    "-z",
                    &format!("follow,tcp,ascii,{sel}"),
                    "-r",
                    s(file),
                ],
            );
            let ours = run("keepsight", &["follow", s(file), &sel]);
            if theirs != ours {
                p.push(first_difference(
                    file,
                    &format!("follow {sel}"),
                    &theirs,
                    &ours,
                ));
            }
        }
        p
    });
    report("follow by endpoints", problems);
}

fn first_difference(file: &Path, what: &str, theirs: &str, ours: &str) -> String {
    let (t, o): (Vec<&str>, Vec<&str>) = (theirs.lines().collect(), ours.lines().collect());
    let i = t
        .iter()
        .zip(&o)
        .position(|(a, b)| a != b)
        .unwrap_or(t.len().min(o.len()));
    format!(
        "{} {what}: line {}: tshark {:?}, keepsight {:?} ({} vs {} lines)",
        file.display(),
        i + 1,
        t.get(i),
        o.get(i),
        t.len(),
        o.len()
    )
}

#[test]
fn conv_matches_tshark() {
    if !tshark_available() {
        return;
    }
    let problems = each_capture(|file| {
        let mut p = Vec::new();
        let theirs = run("tshark", &["-q", "-z", "conv,tcp", "-r", s(file)]);
        let ours = run("keepsight", &["conv", "--tshark", s(file)]);
        if theirs != ours {
            p.push(first_difference(file, "conv", &theirs, &ours));
        }
        // The extra columns leave tshark's untouched.
        let extra = run("keepsight", &["conv", s(file)]);
        for (t, o) in theirs.lines().zip(extra.lines()) {
            if !o.starts_with(t.trim_end()) {
                p.push(format!(
                    "{}: conv: extra columns moved tshark's: {o:?}",
                    file.display()
                ));
                break;
            }
        }
        // -t ad: local date and time (TZ=UTC here).
        let theirs = run(
            "tshark",
            &["-q", "-t", "ad", "-z", "conv,tcp", "-r", s(file)],
        );
        let ours = run("keepsight", &["conv", "--tshark", "-t", "ad", s(file)]);
        if theirs != ours {
            p.push(first_difference(file, "conv -t ad", &theirs, &ours));
        }
        // With a filter (tshark's -z conv,tcp,FILTER).
        let filter = "tcp.len > 0";
        let theirs = run(
            "tshark",
            &["-q", "-z", &format!("conv,tcp,{filter}"), "-r", s(file)],
        );
        let ours = run("keepsight", &["conv", "--tshark", "-Y", filter, s(file)]);
        if theirs != ours {
            p.push(first_difference(file, "conv -Y", &theirs, &ours));
        }
        p
    });
    report("conv", problems);
}

/// The columns tshark lacks, checked against tshark's own per-frame fields: the frame of the
/// first RST (else first FIN) and who sent it, and the longest `tcp.time_delta`.
#[test]
fn conv_extra_columns_agree_with_tshark_fields() {
    if !tshark_available() {
        return;
    }
    let problems = each_capture(|file| {
        let out = run(
            "tshark",
            &[
                "-r",
                s(file),
                "-Y",
                "tcp",
                "-T",
                "fields",
                "-E",
                "separator=|",
                "-e",
                "tcp.stream",
                "-e",
                "frame.number",
                "-e",
                "tcp.flags.reset",
                "-e",
                "tcp.flags.fin",
                "-e",
                "tcp.time_delta",
            ],
        );
        #[derive(Default)]
        struct Want {
            rst: Option<u32>,
            fin: Option<u32>,
            max_delta_ns: i64,
        }
        let mut want: BTreeMap<u32, Want> = BTreeMap::new();
        for l in out.lines() {
            let f: Vec<&str> = l.split('|').collect();
            let (Some(st), Some(fr)) = (
                f.first().and_then(|v| v.parse::<u32>().ok()),
                f.get(1).and_then(|v| v.parse::<u32>().ok()),
            ) else {
                continue;
            };
            let w = want.entry(st).or_default();
            let set = |v: Option<&&str>| v.is_some_and(|v| *v == "1" || *v == "True");
            if set(f.get(2)) && w.rst.is_none() {
                w.rst = Some(fr);
            }
            if set(f.get(3)) && w.fin.is_none() {
                w.fin = Some(fr);
            }
            let d = f.get(4).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            w.max_delta_ns = w.max_delta_ns.max((d * 1e9).round() as i64);
        }
        let json = run("keepsight", &["conv", "--json", s(file)]);
        let doc: serde_json::Value = serde_json::from_str(&json).expect("conv --json parses");
        let mut p = Vec::new();
        if doc["schema"] != 2 {
            p.push(format!(
                "{}: conv --json schema {}",
                file.display(),
                doc["schema"]
            ));
        }
        let rows = doc["conversations"].as_array().cloned().unwrap_or_default();
        if rows.len() != want.len() {
            p.push(format!(
                "{}: {} conversations, tshark has {} streams",
                file.display(),
                rows.len(),
                want.len()
            ));
        }
        for r in rows {
            let st = r["stream"].as_u64().unwrap_or(u64::MAX) as u32;
            let Some(w) = want.get(&st) else {
                p.push(format!("{}: stream {st} unknown to tshark", file.display()));
                continue;
            };
            let close = r["close_frame"].as_u64().map(|v| v as u32);
            if close != w.rst.or(w.fin) {
                p.push(format!(
                    "{} stream {st}: close frame {close:?}, tshark's first RST/FIN {:?}",
                    file.display(),
                    w.rst.or(w.fin)
                ));
            }
            let idle = r["max_idle_s"].as_f64().unwrap_or(-1.0);
            // tshark prints tcp.time_delta with 9 digits: exact for µs and ns captures, and
            // both sides are the same integer of ns divided by 1e9, so equal to the last bit.
            let want_s = w.max_delta_ns as f64 / 1e9;
            if idle != want_s {
                p.push(format!(
                    "{} stream {st}: longest idle {idle} s, tshark's largest tcp.time_delta {want_s} s",
                    file.display(),
                ));
            }
        }
        p
    });
    report("conv extra columns", problems);
}

/// Rows of a `-z expert` table: (section, frequency, group, protocol, summary).
fn expert_rows(text: &str) -> Vec<(String, String, String, String, String)> {
    let mut section = String::new();
    let mut rows = Vec::new();
    for l in text.lines() {
        if let Some((name, _)) = l.split_once(" (") {
            if ["Errors", "Warns", "Notes", "Chats", "Comments"].contains(&name) {
                section = name.to_string();
                continue;
            }
        }
        if l.starts_with("keepsight findings") {
            section.clear();
        }
        // "%12d %10s %18s  %s"
        if section.is_empty() || l.len() < 44 || !l[..12].trim().chars().all(|c| c.is_ascii_digit())
        {
            continue;
        }
        let freq = l[..12].trim();
        if freq.is_empty() {
            continue;
        }
        rows.push((
            section.clone(),
            freq.to_string(),
            l[13..23].trim().to_string(),
            l[24..42].trim().to_string(),
            l[44..].to_string(),
        ));
    }
    rows
}

#[test]
fn expert_matches_tshark() {
    if !tshark_available() {
        return;
    }
    let problems = each_capture(|file| {
        let mut p = Vec::new();
        let cases: [(&str, Vec<&str>); 4] = [
            ("expert", vec![]),
            ("expert,warn", vec!["--min", "warn"]),
            (
                "expert,note,tcp.stream==0",
                vec!["--min", "note", "-Y", "tcp.stream==0"],
            ),
            ("expert,error", vec!["--min", "error"]),
        ];
        for (z, extra) in cases {
            let theirs = run("tshark", &["-q", "-z", z, "-r", s(file)]);
            let mut args = vec!["expert", "--tshark", s(file)];
            args.extend(extra);
            let ours = run("keepsight", &args);
            // Rows of the protocols whose expert items keepsight raises (keepsight_engine::expert);
            // when tshark shows no others, the whole table must be identical.
            let known = |r: &(String, String, String, String, String)| {
                ["TCP", "HTTP", "Frame", "Ethertype", "UDP", "DLT_USER"].contains(&r.3.as_str())
            };
            let t = expert_rows(&theirs);
            let all_known = t.iter().all(known);
            let t: Vec<_> = t.into_iter().filter(known).collect();
            let o = expert_rows(&ours);
            if all_known && theirs != ours {
                p.push(first_difference(file, z, &theirs, &ours));
            } else if t != o {
                let missing: Vec<_> = t.iter().filter(|r| !o.contains(r)).take(3).collect();
                let added: Vec<_> = o.iter().filter(|r| !t.contains(r)).take(3).collect();
                p.push(format!(
                    "{} -z {z}: rows differ; tshark only {missing:?}; keepsight only {added:?}",
                    file.display()
                ));
            }
        }
        p
    });
    report("expert", problems);
}

/// keepsight's findings follow tshark's sections and never disturb them.
#[test]
fn expert_findings_come_after_tshark_sections() {
    let file = repo().join("tests/corpus/heartbeat.pcap");
    let plain = run("keepsight", &["expert", "--tshark", s(&file)]);
    let full = run("keepsight", &["expert", s(&file)]);
    assert!(
        full.starts_with(&plain),
        "findings changed tshark's sections"
    );
    let rest = &full[plain.len()..];
    assert!(
        rest.contains("keepsight findings") && rest.contains("tcp.stream 0"),
        "heartbeat.pcap has a reset after heartbeats; the findings group says nothing: {rest:?}"
    );
    // --json carries the same rows and findings.
    let json: serde_json::Value =
        serde_json::from_str(&run("keepsight", &["expert", "--json", s(&file)])).unwrap();
    let mut rows = json["expert"].as_array().expect("expert rows").clone();
    assert_eq!(rows.len(), expert_rows(&plain).len());
    // JSON keeps first-occurrence order over all severities; the text groups by severity.
    let rank = |r: &serde_json::Value| {
        ["error", "warn", "note", "chat", "comment"]
            .iter()
            .position(|s| r["severity"].as_str() == Some(s))
    };
    rows.sort_by_key(rank);
    for (r, t) in rows.iter().zip(expert_rows(&plain)) {
        assert_eq!(r["summary"].as_str(), Some(t.4.as_str()));
        assert_eq!(r["frequency"].as_u64().map(|n| n.to_string()), Some(t.1));
    }
    let findings = json["findings"].as_array().expect("findings");
    assert_eq!(
        findings.len(),
        rest.lines().filter(|l| l.contains("tcp.stream")).count()
    );
}

/// Damaged and odd files: each view reads what it can, exits 0/1/3, never panics.
#[test]
fn views_survive_damaged_captures() {
    let dir = repo().join("tests/corpus/bad");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if !p
            .extension()
            .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "gz")
        {
            continue;
        }
        for args in [
            vec!["expert", s(&p)],
            vec!["conv", s(&p)],
            vec!["follow", s(&p), "0", "--format", "hex"],
        ] {
            let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
                .args(&args)
                .output()
                .unwrap();
            let code = out.status.code();
            assert!(
                matches!(code, Some(0) | Some(1) | Some(3)),
                "{args:?}: exit {code:?}, stderr {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
