//! Differential tests: `keepsight packets` against tshark 4.0.17 on the committed capture corpus
//! (`tests/corpus/MANIFEST.tsv`, real kernel TCP captured in network namespaces, plus
//! link-type and file-format variants and generator output).
//!
//! The oracle is tshark's own output on the same file, produced when the test runs. When tshark
//! is not installed the tests say so and pass without checking; CI installs it (`.ci/run`).
//!
//! Known, documented differences that the comparison skips (each is a tshark dissector keepsight
//! does not have, never a TCP-analysis difference):
//! - application protocols (`http`, heuristic dissectors such as `jxta`): on frames where tshark
//!   dissects a protocol above TCP/UDP other than `data`, or that use one of tshark's HTTP ports
//!   (where it shows "TCP segment of a reassembled PDU"), the Info/Protocol columns and
//!   `frame.protocols`/`data.*` are not compared;
//! - IP fragments: the Info/Protocol columns of fragment frames are not compared (keepsight's
//!   columns do not describe fragments or the reassembled datagram yet; the fields are compared);
//! - heuristic sub-dissectors that hit the end of a snap-length-cut payload append
//!   `[Packet size limited during capture]` to tshark's Info; that suffix is ignored;
//! - protocol-typed fields (`-e tcp`, `-e frame`) print a tree label in tshark and bytes here.

mod common;
use common::{assert_no_differences, repo, run_parallel, tshark_available};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

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
    let files = common::corpus();
    assert!(
        files.len() >= 20,
        "the corpus manifest lists {} captures",
        files.len()
    );
    files
}

fn stdout(mut c: Command) -> String {
    let out = c.output().expect("command runs");
    assert!(out.status.code().is_some(), "killed by a signal: {:?}", c);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every registered field keepsight can print, except protocol-typed ones (see module docs).
fn registered_fields() -> Vec<String> {
    let list = stdout({
        let mut c = keepsight();
        c.args(["packets", "--list-fields"]);
        c
    });
    let mut fields: Vec<String> = list
        .lines()
        .filter_map(|l| {
            let mut cols = l.split('\t');
            let name = cols.next()?;
            let ty = cols.next()?;
            // http.* values need the whole capture (tshark -2); they have their own test.
            (ty != "Protocol" && !name.starts_with("http")).then(|| name.to_string())
        })
        .collect();
    // The comparison always prints these first; tshark would merge a repeated -e.
    fields.retain(|f| !PREFIX.contains(&f.as_str()));
    fields.extend(["_ws.col.Info".to_string(), "_ws.col.Protocol".to_string()]);
    assert!(
        fields.len() > 100,
        "only {} fields registered",
        fields.len()
    );
    fields
}

const PREFIX: [&str; 6] = [
    "frame.number",
    "frame.protocols",
    "ip.flags.mf",
    "ip.frag_offset",
    "tcp.srcport",
    "tcp.dstport",
];

/// TCP ports tshark 4.0.17 hands to its HTTP dissector by default (`tshark -G decodes`); HTTP
/// analysis is a separate keepsight component, so frames on these ports are compared at the
/// TCP level only.
const HTTP_PORTS: [&str; 12] = [
    "80", "631", "2710", "2869", "3128", "3132", "3689", "5985", "8080", "8088", "11371", "1900",
];

const SNAP_SUFFIX: &str = "[Packet size limited during capture]";

/// Compares one capture field by field; returns human-readable mismatches.
fn compare_fields(file: &Path, fields: &[String]) -> Vec<String> {
    let mut args: Vec<String> = vec!["-T".into(), "fields".into()];
    for f in PREFIX
        .iter()
        .map(|s| s.to_string())
        .chain(fields.iter().cloned())
    {
        args.push("-e".into());
        args.push(f);
    }
    let theirs = stdout({
        let mut c = tshark();
        c.arg("-r").arg(file).args(&args);
        c
    });
    let ours = stdout({
        let mut c = keepsight();
        c.arg("packets").arg(file).args(&args);
        c
    });
    let (t_lines, o_lines): (Vec<&str>, Vec<&str>) =
        (theirs.lines().collect(), ours.lines().collect());
    let mut problems = Vec::new();
    if t_lines.len() != o_lines.len() {
        problems.push(format!(
            "{}: tshark lists {} frames, keepsight {}",
            file.display(),
            t_lines.len(),
            o_lines.len()
        ));
    }
    for (t, o) in t_lines.iter().zip(&o_lines) {
        let t: Vec<&str> = t.split('\t').collect();
        let o: Vec<&str> = o.split('\t').collect();
        let protocols = t[1];
        let app_layer = protocols
            .split(':')
            .skip_while(|p| !matches!(*p, "tcp" | "udp"))
            .skip(1)
            .any(|p| p != "data")
            || HTTP_PORTS.contains(&t[4])
            || HTTP_PORTS.contains(&t[5]);
        let transport = protocols.split(':').any(|p| p == "tcp" || p == "udp");
        let fragment =
            t[2] == "1" || (!t[3].is_empty() && t[3] != "0") || protocols.contains("ipv6.fraghdr");
        for (i, name) in PREFIX
            .iter()
            .copied()
            .chain(fields.iter().map(String::as_str))
            .enumerate()
        {
            let (tv, ov) = (
                t.get(i).copied().unwrap_or(""),
                o.get(i).copied().unwrap_or(""),
            );
            let skip = match name {
                "_ws.col.Info" | "_ws.col.Protocol" => !transport || app_layer || fragment,
                "frame.protocols" => app_layer,
                n if n.starts_with("data.") => app_layer,
                _ => false,
            };
            if skip {
                continue;
            }
            let tv = if name == "_ws.col.Info" {
                tv.strip_suffix(SNAP_SUFFIX).unwrap_or(tv)
            } else {
                tv
            };
            if tv != ov {
                problems.push(format!(
                    "{} frame {}: {name}: tshark {tv:?}, keepsight {ov:?}",
                    file.display(),
                    t[0]
                ));
            }
        }
    }
    problems
}

/// The hand-built captures: tests/corpus/crafted (tracker corner cases; time/: broken time
/// stamps; frag/: TCP inside IP fragments) and tests/filters (Ethernet trailers, IPv4 options,
/// IPv6 extension headers, fragments).
fn crafted() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [
        "tests/corpus/crafted",
        "tests/corpus/crafted/time",
        "tests/corpus/crafted/frag",
        "tests/filters",
    ] {
        let rd = std::fs::read_dir(repo().join(dir)).expect(dir);
        files.extend(
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng")),
        );
    }
    files.sort();
    assert!(files.len() >= 14, "{} hand-built captures", files.len());
    files
}

/// Differences on hand-built captures that are known and not fixed yet: (file name, frame,
/// field). A line here that stops differing still passes; remove it then.
const KNOWN: [(&str, &str, &str); 0] = [];

#[test]
fn every_field_matches_tshark_on_every_capture() {
    if !tshark_available() {
        return;
    }
    let fields = registered_fields();
    let mut files = corpus();
    files.extend(crafted());
    let problems = run_parallel(&files, |f| compare_fields(f, &fields));
    assert_no_differences(
        &problems
            .into_iter()
            .filter(|p| {
                !KNOWN.iter().any(|(file, frame, field)| {
                    p.contains(&format!("{file} frame {frame}: {field}: "))
                })
            })
            .collect::<Vec<_>>(),
    );
}

/// Display filters on the time fields of captures whose time stamp fractions are out of range
/// (a second or more, or wrapped negative in tshark's 32-bit arithmetic) select the frames
/// tshark selects: tshark compares such odd seconds/nanoseconds pairs in wrapping C int
/// arithmetic, so `-0.2147483296 > 0.95` holds there. One tshark pass per capture
/// (tests/filters/batch.lua: a tap per filter, the -Y engine; `frame.time_delta_displayed` is
/// left out because taps see every frame as displayed).
#[test]
fn odd_time_stamps_filter_as_tshark() {
    if !tshark_available() {
        return;
    }
    let filters = [
        "frame.time_relative > 0.95",
        "frame.time_relative >= 1",
        "frame.time_relative == 1",
        "frame.time_relative < 0",
        "frame.time_relative > -0.5",
        "frame.time_relative in {0.5..1.5}",
        "frame.time_epoch >= 1700000001",
        "frame.time_epoch < 1700000000",
        "frame.time >= \"2023-11-14 22:13:21\"",
        "frame.time == \"2023-11-14 22:13:20\"",
        "frame.time_delta > 0.1",
        "frame.time_delta < 0",
        "frame.time_delta == 0.000001",
        "tcp.time_relative >= 1",
        "tcp.time_delta >= 1",
    ];
    let dir = repo().join("tests/corpus/crafted");
    let mut problems = Vec::new();
    for (tag, name) in [
        "time/time-fraction.pcap",
        "time/time-fraction-ns.pcap",
        "acklost-after-gap.pcap",
    ]
    .iter()
    .enumerate()
    {
        let cap = dir.join(name);
        let verdicts = common::tshark_filter_batch(&cap, &filters, &format!("oddtime-{tag}"));
        for (filter, verdict) in filters.iter().zip(verdicts) {
            let theirs = verdict
                .strip_prefix("OK\t")
                .unwrap_or_else(|| panic!("{name}: tshark rejects {filter}: {verdict}"))
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let ours = stdout({
                let mut c = keepsight();
                c.arg("packets").arg(&cap).args([
                    "-Y",
                    filter,
                    "-T",
                    "fields",
                    "-e",
                    "frame.number",
                ]);
                c
            })
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
            if ours != theirs {
                problems.push(format!(
                    "{name} [{filter}]: tshark [{theirs}], keepsight [{ours}]"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A broken writer's time stamp is still reported: tshark only adds an expert note to the frame,
/// keepsight also warns on stderr, naming the file, the frame and the record's byte offset,
/// and still exits 0 (the capture is readable, as it is for tshark).
#[test]
fn odd_time_stamps_are_reported() {
    let cap = repo().join("tests/corpus/crafted/acklost-after-gap.pcap");
    let out = keepsight()
        .arg("packets")
        .arg(&cap)
        .output()
        .expect("keepsight runs");
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("acklost-after-gap.pcap: frame 11 (record at byte offset 743)")
            && err.contains("1000000000"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// The default summary lines (and the -t time formats) of TCP frames are tshark's, byte for byte.
#[test]
fn summary_lines_match_tshark() {
    if !tshark_available() {
        return;
    }
    let dir = repo().join("tests/corpus");
    let crafted = dir.join("crafted");
    let cases: Vec<(PathBuf, Vec<&str>)> = vec![
        (dir.join("heartbeat.pcap"), vec![]),
        (
            dir.join("heartbeat.pcap"),
            vec!["-t", "dd", "-Y", "tcp.len eq 1"],
        ),
        (dir.join("heartbeat.pcap"), vec!["-t", "ad"]),
        (dir.join("heartbeat.pcap"), vec!["-t", "ud", "-c", "20"]),
        (dir.join("heartbeat.pcap"), vec!["-t", "e"]),
        (dir.join("heartbeat.pcap"), vec!["-t", "d"]),
        (dir.join("keepalive.pcapng"), vec!["-t", "u"]),
        (dir.join("fmt/heartbeat-ns.pcap"), vec!["-t", "r"]),
        // Interfaces stamped in ns, µs and 2^-20 s: each frame's decimals are its interface's.
        (dir.join("fmt/multi-if-tsresol.pcapng"), vec!["-t", "r"]),
        (dir.join("fmt/multi-if-tsresol.pcapng"), vec!["-t", "ud"]),
        (dir.join("portreuse.pcapng"), vec![]),
        (dir.join("zerowindow.pcapng"), vec!["-Y", "tcp"]),
        (
            dir.join("bulk-loss-tx.pcapng"),
            vec!["-Y", "tcp.analysis.flags"],
        ),
        (dir.join("ipv6-mixed.pcapng"), vec!["-Y", "tcp"]),
        (dir.join("link/heartbeat-qinq.pcap"), vec!["-Y", "tcp"]),
        // Time stamp fractions of a second or more, or wrapped negative: every time format.
        (crafted.join("acklost-after-gap.pcap"), vec!["-t", "r"]),
        (crafted.join("time/time-fraction.pcap"), vec![]),
        (crafted.join("time/time-fraction.pcap"), vec!["-t", "ad"]),
        (crafted.join("time/time-fraction.pcap"), vec!["-t", "udoy"]),
        (crafted.join("time/time-fraction.pcap"), vec!["-t", "e"]),
        (crafted.join("time/time-fraction.pcap"), vec!["-t", "d"]),
        (
            crafted.join("time/time-fraction.pcap"),
            vec!["-t", "dd", "-Y", "frame.number != 5"],
        ),
        (crafted.join("time/time-fraction-ns.pcap"), vec!["-t", "a"]),
        (crafted.join("time/time-fraction-ns.pcap"), vec!["-t", "e"]),
        (crafted.join("time/time-fraction-ns.pcap"), vec!["-t", "d"]),
        // TCP carried in IPv4/IPv6 fragments: its line is on the completing frame.
        (crafted.join("frag/tcp-fragments.pcap"), vec![]),
        (crafted.join("frag/tcp6-fragments.pcap"), vec![]),
    ];
    let mut problems = Vec::new();
    for (file, opts) in &cases {
        let theirs = stdout({
            let mut c = tshark();
            c.arg("-r").arg(file).args(opts);
            c
        });
        let ours = stdout({
            let mut c = keepsight();
            c.arg("packets").arg(file).args(opts);
            c
        });
        let keep = |s: &str| -> Vec<String> {
            // Only TCP frames: other protocols' Info columns are tshark dissectors keepsight lacks.
            s.lines()
                .filter(|l| l.contains(" TCP "))
                .map(|l| {
                    l.strip_suffix(SNAP_SUFFIX)
                        .unwrap_or(l)
                        .trim_end()
                        .to_string()
                })
                .collect()
        };
        let (t, o) = (keep(&theirs), keep(&ours));
        assert!(
            !t.is_empty(),
            "{} {opts:?}: tshark printed no TCP line",
            file.display()
        );
        if t != o {
            let first = t
                .iter()
                .zip(&o)
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("\n  tshark:    {a}\n  keepsight: {b}"))
                .unwrap_or_default();
            problems.push(format!(
                "{} {opts:?}: {} vs {} lines{first}",
                file.display(),
                t.len(),
                o.len()
            ));
        }
    }
    assert_no_differences(&problems);
}

/// `-T json -e ...` carries the same values as tshark's.
#[test]
fn json_values_match_tshark() {
    if !tshark_available() {
        return;
    }
    let file = repo().join("tests/corpus/heartbeat.pcap");
    let args = [
        "-T",
        "json",
        "-e",
        "frame.number",
        "-e",
        "tcp.stream",
        "-e",
        "tcp.analysis.keep_alive",
        "-e",
        "tcp.port",
        "-e",
        "tcp.payload",
    ];
    let parse = |s: String| -> Vec<BTreeMap<String, Vec<String>>> {
        let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        v.as_array()
            .expect("an array of packets")
            .iter()
            .map(|p| {
                let layers = p["_source"]["layers"].as_object().expect("layers").clone();
                layers
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            v.as_array()
                                .unwrap()
                                .iter()
                                .map(|x| x.as_str().unwrap().to_string())
                                .collect(),
                        )
                    })
                    .collect()
            })
            .collect()
    };
    let theirs = parse(stdout({
        let mut c = tshark();
        c.arg("-r").arg(&file).args(args);
        c
    }));
    let ours = parse(stdout({
        let mut c = keepsight();
        c.arg("packets").arg(&file).args(args);
        c
    }));
    assert_eq!(theirs.len(), 49);
    assert_eq!(theirs, ours);
}

/// Damaged files: the same frames as tshark before the damage, then a precise message, a
/// non-zero exit where tshark fails, and never a crash.
#[test]
fn damaged_captures_keep_good_frames_and_say_where() {
    let dir = repo().join("tests/corpus/bad");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("bad/MANIFEST.tsv");
    let mut checked = 0;
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, tshark_exit, frames) = (cols[0], cols[1], cols[2].parse::<usize>().unwrap());
        let out = keepsight()
            .arg("packets")
            .arg(dir.join(file))
            .arg("-T")
            .arg("fields")
            .arg("-e")
            .arg("frame.number")
            .output()
            .unwrap();
        let code = out
            .status
            .code()
            .unwrap_or_else(|| panic!("{file}: killed by a signal"));
        let listed = String::from_utf8_lossy(&out.stdout).lines().count();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(listed, frames, "{file}: frames before the damage ({err})");
        if tshark_exit == "0" {
            assert_eq!(
                code, 0,
                "{file}: tshark reads it cleanly, so must we ({err})"
            );
        } else {
            assert_eq!(code, 1, "{file}: damaged, exit status 1 expected ({err})");
            assert!(
                err.contains(file),
                "{file}: the message names the file: {err}"
            );
            assert!(
                err.contains("offset"),
                "{file}: the message gives a byte offset: {err}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} damaged files listed");
}

/// `http.*` fields (two passes, like tshark -2) on the generator's HTTP keep-alive traffic.
#[test]
fn http_fields_match_tshark_two_pass() {
    if !tshark_available() {
        return;
    }
    let file = repo().join("tests/corpus/synth/synth-1200.pcap");
    let fields = [
        "frame.number",
        "http.request.method",
        "http.request.uri",
        "http.request.version",
        "http.response.code",
        "http.response.phrase",
        "http.request_in",
        "http.response_in",
        "http.host",
        "http.content_length",
        "http.connection",
        "http.transfer_encoding",
        "http.time",
    ];
    let mut args: Vec<&str> = vec!["-Y", "http", "-T", "fields"];
    for f in &fields {
        args.extend(["-e", f]);
    }
    let theirs = stdout({
        let mut c = tshark();
        c.arg("-2").arg("-r").arg(&file).args(&args);
        c
    });
    let ours = stdout({
        let mut c = keepsight();
        c.arg("packets").arg(&file).args(&args);
        c
    });
    assert!(
        theirs.lines().count() > 50,
        "tshark found {} HTTP frames",
        theirs.lines().count()
    );
    assert_eq!(theirs, ours);
    // The classic "requests nobody answered" filter selects the same frames.
    let unanswered = |mut c: Command| {
        c.args([
            "-Y",
            "http.request && !http.response_in",
            "-T",
            "fields",
            "-e",
            "frame.number",
        ]);
        stdout(c)
    };
    let t = unanswered({
        let mut c = tshark();
        c.arg("-2").arg("-r").arg(&file);
        c
    });
    let o = unanswered({
        let mut c = keepsight();
        c.arg("packets").arg(&file);
        c
    });
    assert_eq!(t, o);
}

/// Captures of IP fragments, every line of the summary (not only TCP's): the pieces say
/// `Fragmented IP protocol (...)` / `IPv6 fragment (...)`, the completing frame carries the
/// TCP or UDP line of the whole datagram.
#[test]
fn fragment_summary_lines_match_tshark() {
    if !tshark_available() {
        return;
    }
    let crafted = repo().join("tests/corpus/crafted");
    for file in [
        crafted.join("frag/tcp-fragments.pcap"),
        crafted.join("frag/tcp6-fragments.pcap"),
        crafted.join("udp6-zero-checksum-fragments.pcap"),
    ] {
        let theirs = stdout({
            let mut c = tshark();
            c.arg("-r").arg(&file);
            c
        });
        let ours = stdout({
            let mut c = keepsight();
            c.arg("packets").arg(&file);
            c
        });
        assert_eq!(ours, theirs, "{}", file.display());
    }
}

/// A pcapng file of three TCP SYNs on one interface whose `if_tsresol` is `resolution`
/// (bit 7 set: 2^-n s, else 10^-n s), at 1000 s, 1000.123456789 s and 1001.5 s.
fn pcapng_with_resolution(resolution: u8) -> Vec<u8> {
    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let len = (12 + body.len()) as u32;
        let mut b = Vec::new();
        b.extend(kind.to_le_bytes());
        b.extend(len.to_le_bytes());
        b.extend(body);
        b.extend(len.to_le_bytes());
        b
    }
    let mut out = block(
        0x0A0D_0D0A,
        &[
            &0x1A2B_3C4Du32.to_le_bytes()[..],
            &[1, 0, 0, 0],
            &(-1i64).to_le_bytes(),
        ]
        .concat(),
    );
    // IDB: Ethernet, snaplen 65535, if_tsresol, end of options.
    let idb = [
        &[1u8, 0, 0, 0][..],
        &65535u32.to_le_bytes(),
        &[9, 0, 1, 0, resolution, 0, 0, 0],
        &[0, 0, 0, 0],
    ]
    .concat();
    out.extend(block(1, &idb));
    let syn = |port: u8| -> Vec<u8> {
        let mut p = b"\xff\xff\xff\xff\xff\xff\x00\x11\x22\x33\x44\x55\x08\x00".to_vec();
        p.extend(
            b"\x45\x00\x00\x28\x00\x01\x00\x00\x40\x06\x00\x00\xc0\xa8\x00\x01\xc0\xa8\x00\x02",
        );
        p.extend([
            0xc3, port, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x72, 0x10, 0, 0, 0, 0,
        ]);
        p.extend([0, 0]);
        p
    };
    for (i, seconds) in [1000.0f64, 1000.123456789, 1001.5].into_iter().enumerate() {
        let ticks: u64 = if resolution & 0x80 != 0 {
            (seconds * 2f64.powi((resolution & 0x7f) as i32)) as u64
        } else {
            (seconds * 10f64.powi(resolution as i32)).round() as u64
        };
        let packet = syn(i as u8);
        let mut epb = Vec::new();
        epb.extend(0u32.to_le_bytes());
        epb.extend(((ticks >> 32) as u32).to_le_bytes());
        epb.extend((ticks as u32).to_le_bytes());
        epb.extend((packet.len() as u32).to_le_bytes());
        epb.extend((packet.len() as u32).to_le_bytes());
        epb.extend(&packet);
        epb.resize(epb.len().div_ceil(4) * 4, 0);
        out.extend(block(6, &epb));
    }
    out
}

/// The time column shows as many decimals as tshark for every interface time resolution:
/// tshark 4.0.17 rounds an interface's tick down to s, ds, cs, ms, µs or ns and truncates.
#[test]
fn time_column_decimals_follow_the_interface_resolution_as_tshark() {
    if !tshark_available() {
        return;
    }
    let dir = common::scratch("tsresol");
    let mut problems = Vec::new();
    for resolution in [
        0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x83, 0x84, 0x89, 0x8a, 0x90, 0x94, 0x98, 0x9e, 0xa0,
    ] {
        let file = dir.join(format!("tsresol-{resolution:02x}.pcapng"));
        std::fs::write(&file, pcapng_with_resolution(resolution)).unwrap();
        for format in ["r", "e", "d", "a", "ud", "udoy"] {
            let theirs = stdout({
                let mut c = tshark();
                c.arg("-r").arg(&file).args(["-t", format]);
                c
            });
            let ours = stdout({
                let mut c = keepsight();
                c.arg("packets").arg(&file).args(["-t", format]);
                c
            });
            assert_eq!(theirs.lines().count(), 3, "tshark read {}", file.display());
            if theirs != ours {
                problems.push(format!(
                    "if_tsresol {resolution:#04x} -t {format}:\n  tshark:    {theirs:?}\n  keepsight: {ours:?}"
                ));
            }
        }
    }
    assert_no_differences(&problems);
}
