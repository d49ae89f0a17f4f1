//! `keepsight follow`'s yaml format, chunk ranges and UDP follow against tshark 4.0.17's
//! `-z follow,tcp|udp,FORMAT,FILTER[,RANGE]`, byte for byte, on small shipped captures (the
//! ascii/hex/raw formats over whole TCP streams are compared on the whole corpus by
//! views_oracle.rs).
//!
//! The oracle is tshark's output on the same file, produced when the test runs. Without tshark
//! the test fails (`keepsight_testlab::require_tool`; CI installs it).
//!
//! The captures cover what the new code paths must get right: a capture-filtered gap (its
//! `[N bytes missing]` chunk has time stamp 0 in yaml), a snap-length-cut bulk transfer,
//! IPv6 addresses, microsecond and nanosecond time stamps (yaml prints them through a double),
//! payloads longer than one 76-character base64 line, IPv4/IPv6-fragmented UDP datagrams
//! (followed on the frame that completes them), and a stream index past the last. Several
//! follows share one tshark run (tshark takes many -z) to keep the test to a few seconds.

mod common;
use common::{repo, tshark_available};
use std::path::{Path, PathBuf};
use std::process::Command;

fn run(program: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut c = if program == "keepsight" {
        Command::new(env!("CARGO_BIN_EXE_keepsight"))
    } else {
        Command::new(program)
    };
    let out = c
        .env("TZ", "UTC")
        .args(args)
        .output()
        .expect("command runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !err.contains("panicked"),
        "{program} {args:?} panicked: {err}"
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        err,
    )
}

/// The `tcp.stream` and `udp.stream` indexes tshark assigns, each plus one past the last.
fn streams(file: &str) -> [Vec<u32>; 2] {
    let (_, out, _) = run(
        "tshark",
        &[
            "-r",
            file,
            "-T",
            "fields",
            "-e",
            "tcp.stream",
            "-e",
            "udp.stream",
        ],
    );
    let mut v = [Vec::new(), Vec::new()];
    for l in out.lines() {
        for (i, x) in l.split('\t').enumerate().take(2) {
            if let Ok(n) = x.trim().parse::<u32>() {
                v[i].push(n);
            }
        }
    }
    for s in &mut v {
        s.sort_unstable();
        s.dedup();
        s.push(s.last().map_or(0, |l| l + 1));
    }
    v
}

/// The endpoints of the first IPv4 frame of `proto`, as tshark's `A:P,B:P` filter.
fn first_endpoints(file: &str, proto: &str) -> Option<String> {
    let (_, out, _) = run(
        "tshark",
        &[
            "-r",
            file,
            "-Y",
            &format!("ip and {proto}.stream"),
            "-c",
            "1",
            "-T",
            "fields",
            "-e",
            "ip.src",
            "-e",
            &format!("{proto}.srcport"),
            "-e",
            "ip.dst",
            "-e",
            &format!("{proto}.dstport"),
        ],
    );
    let f: Vec<&str> = out.lines().next()?.split('\t').collect();
    (f.len() == 4).then(|| format!("{}:{},{}:{}", f[0], f[1], f[2], f[3]))
}

/// One `-z follow` to compare: protocol, format, filter (stream or endpoints), range.
struct Case {
    proto: &'static str,
    fmt: &'static str,
    filter: String,
    range: Option<&'static str>,
}

impl Case {
    fn spec(&self) -> String {
        match self.range {
            Some(r) => format!("follow,{},{},{},{r}", self.proto, self.fmt, self.filter),
            None => format!("follow,{},{},{}", self.proto, self.fmt, self.filter),
        }
    }
}

/// Splits tshark's output of several `-z follow` (one tshark run, blocks in no promised
/// order). Text blocks are keyed by their `Filter:` line, yaml ones by their `peers:`
/// section; so the cases of one run are chosen to have distinct keys.
fn blocks(text: &str, yaml: bool) -> Vec<(String, String)> {
    let rule = "===================================================================";
    let start = if yaml {
        "peers:\n".to_string()
    } else {
        format!("\n{rule}\nFollow: ")
    };
    let mut starts: Vec<usize> = text.match_indices(&start).map(|(i, _)| i).collect();
    starts.push(text.len());
    starts
        .windows(2)
        .map(|w| {
            let b = &text[w[0]..w[1]];
            let key = if yaml {
                b[..b.find("packets:").unwrap_or(b.len())].to_string()
            } else {
                b.lines()
                    .find(|l| l.starts_with("Filter: "))
                    .unwrap_or("")
                    .to_string()
            };
            (key, b.to_string())
        })
        .collect()
}

#[test]
fn follow_yaml_ranges_and_udp_match_tshark() {
    if !tshark_available() {
        return;
    }
    let files: Vec<PathBuf> = [
        "tests/corpus/edgecases.pcapng",
        "tests/corpus/ipv6-mixed.pcapng",
        "tests/corpus/heartbeat.pcap",
        "tests/corpus/bulk-loss-rx.pcap",
        "tests/scenarios/http-keepalive/capture.pcapng",
    ]
    .iter()
    .map(|f| repo().join(f))
    .collect();
    let compared = std::sync::atomic::AtomicUsize::new(0);
    let problems = common::run_parallel(&files, |file| {
        let f = file.to_str().unwrap();
        let mut p = Vec::new();
        let ids = streams(f);
        for (proto, ids) in ["tcp", "udp"].into_iter().zip(&ids) {
            if ids.len() < 2 {
                continue; // none of this protocol in the capture
            }
            let first = ids[0].to_string();
            let second = ids[1.min(ids.len() - 2)].to_string();
            let past = ids[ids.len() - 1].to_string();
            let case = |fmt, filter: &str, range| Case {
                proto,
                fmt,
                filter: filter.to_string(),
                range,
            };
            let mut yaml = vec![case("yaml", &first, None), case("yaml", &past, None)];
            if second != first {
                yaml.push(case("yaml", &second, Some("2-3")));
            }
            let mut text = vec![case("ascii", &first, Some("2")), case("ascii", &past, None)];
            if second != first {
                // Hex offsets count the chunks left out.
                text.push(case("hex", &second, Some("3-999")));
            }
            if let Some(ends) = first_endpoints(f, proto) {
                text.push(case("raw", &ends, Some("1-2")));
            }
            for (cases, is_yaml) in [(yaml, true), (text, false)] {
                let mut args = vec!["-q".to_string(), "-r".into(), f.into()];
                for c in &cases {
                    args.extend(["-z".to_string(), c.spec()]);
                }
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let theirs = blocks(&run("tshark", &args).1, is_yaml);
                if theirs.len() != cases.len() {
                    p.push(format!(
                        "{f}: tshark printed {} blocks for {} follows",
                        theirs.len(),
                        cases.len()
                    ));
                    continue;
                }
                for c in &cases {
                    let mut args =
                        vec!["follow", f, &c.filter, "--proto", proto, "--format", c.fmt];
                    if let Some(r) = c.range {
                        args.extend(["--range", r]);
                    }
                    let (code, ours, err) = run("keepsight", &args);
                    compared.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if code != Some(0) {
                        p.push(format!("{f}: keepsight {args:?} exited {code:?}: {err}"));
                        continue;
                    }
                    let key = blocks(&ours, is_yaml)
                        .pop()
                        .map(|b| b.0)
                        .unwrap_or_default();
                    let same_key: Vec<&String> =
                        theirs.iter().filter(|b| b.0 == key).map(|b| &b.1).collect();
                    let [t] = same_key[..] else {
                        p.push(format!(
                            "{f}: -z {}: {} tshark blocks with key {key:?}",
                            c.spec(),
                            same_key.len()
                        ));
                        continue;
                    };
                    if *t != ours {
                        let line = t
                            .lines()
                            .zip(ours.lines())
                            .position(|(a, b)| a != b)
                            .unwrap_or(t.lines().count().min(ours.lines().count()));
                        p.push(format!(
                            "{f}: -z {}: first difference at line {}:\n  tshark:    {:?}\n  keepsight: {:?}",
                            c.spec(),
                            line + 1,
                            t.lines().nth(line),
                            ours.lines().nth(line)
                        ));
                    }
                }
            }
        }
        p
    });
    let n = compared.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("follow: {n} outputs compared");
    assert!(n >= 35, "only {n} outputs compared");
    if !problems.is_empty() {
        panic!(
            "{} differences from tshark:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
}

/// A hand-written pcap of one UDP conversation whose first datagram is empty (so it must not
/// make its sender Node 0), with more empty datagrams between data.
fn udp_with_empty_datagrams() -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0xa1b2c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let a = ([10, 0, 0, 1], 5000u16);
    let b = ([10, 0, 0, 2], 53u16);
    let dgrams: [(bool, &[u8]); 5] = [
        (false, b""),
        (true, b"hello"),
        (false, b""),
        (true, b""),
        (
            false,
            b"world, with a payload longer than one line of base64 output in yaml",
        ),
    ];
    for (t, (from_a, payload)) in dgrams.iter().enumerate() {
        let (src, dst) = if *from_a { (a, b) } else { (b, a) };
        let udp_len = 8 + payload.len() as u16;
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
        let total = 20 + udp_len;
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0,
            0,
            64,
            17,
            0,
            0,
        ]);
        f.extend_from_slice(&src.0);
        f.extend_from_slice(&dst.0);
        f.extend_from_slice(&src.1.to_be_bytes());
        f.extend_from_slice(&dst.1.to_be_bytes());
        f.extend_from_slice(&udp_len.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
        for v in [
            1_795_000_000 + t as u32,
            250_000,
            f.len() as u32,
            f.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&f);
    }
    out
}

#[test]
fn udp_follow_skips_empty_datagrams_like_tshark() {
    if !tshark_available() {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("follow_oracle");
    std::fs::create_dir_all(&dir).unwrap();
    let cap = dir.join("udp-empty.pcap");
    std::fs::write(&cap, udp_with_empty_datagrams()).unwrap();
    let f = cap.to_str().unwrap();
    let specs = ["ascii", "hex", "raw", "yaml"];
    for fmt in specs {
        let (_, theirs, _) = run(
            "tshark",
            &["-q", "-r", f, "-z", &format!("follow,udp,{fmt},0")],
        );
        let (code, ours, err) = run(
            "keepsight",
            &["follow", f, "0", "--proto", "udp", "--format", fmt],
        );
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(ours, theirs, "{fmt}");
        // Node 0 is the sender of the first datagram with data, not of the empty one.
        assert!(
            ours.contains("Node 0: 10.0.0.1:5000")
                || ours.contains("host: 10.0.0.1\n    port: 5000"),
            "{fmt}: {ours}"
        );
    }
}

/// A range tshark rejects is a usage error here, with tshark's reason; nothing is printed.
#[test]
fn bad_ranges_are_usage_errors() {
    let f = repo().join("tests/corpus/heartbeat.pcap");
    let f = f.to_str().unwrap();
    for (r, why) in [
        ("0", "Invalid range value."),
        ("3-2", "Invalid range value."),
        ("x", "Invalid range."),
        ("1-2-3", "Invalid parameter."),
    ] {
        let (code, out, err) = run("keepsight", &["follow", f, "0", "--range", r]);
        assert_eq!(code, Some(2), "--range {r}: {err}");
        assert!(out.is_empty(), "--range {r} printed {out}");
        assert!(err.contains(why), "--range {r}: {err}");
    }
}
