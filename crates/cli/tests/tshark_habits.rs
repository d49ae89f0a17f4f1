//! tshark's habits in `keepsight packets` (issue 20): `-r FILE` / `-r -`, `-w` with `-F`, `-x`,
//! `-n`/`-2`/`-o`, and `-q -z`, each checked against tshark 4.0.17 on the committed corpus
//! (`tests/corpus/MANIFEST.tsv`). The oracle is tshark run on the same file when the test runs;
//! without tshark the oracle tests say so and pass without checking.

mod common;
use common::{corpus, repo, run_parallel, scratch, tshark_available};
use std::io::Write;
use std::path::Path;
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

/// What tshark sees in a capture's frames, frame numbers aside (they restart in a written
/// file): length, captured length, time, interface, comments and link type as columns, and
/// the bytes of each frame as its `-x` dump, in one tshark run. `micro` truncates the times
/// to microseconds, as a microsecond pcap written from a finer capture holds them; the
/// interface column is left out when `interfaces` is false (a pcap has none, and a pcapng
/// written from it has interface 0).
fn frames_as_tshark_reads_them(
    file: &Path,
    select: &[&str],
    micro: bool,
    interfaces: bool,
) -> String {
    let interface = if interfaces {
        ",\"i\",\"%Cus:frame.interface_id:0:R\""
    } else {
        ""
    };
    let columns = format!(
        "gui.column.format:\"l\",\"%L\",\"c\",\"%Cus:frame.cap_len:0:R\",\"t\",\"%Cus:frame.time_epoch:0:R\"{interface},\"e\",\"%Cus:frame.encap_type:0:R\",\"m\",\"%Cus:frame.comment:0:R\""
    );
    let mut t = tshark();
    t.arg("-r")
        .arg(file)
        .args(select)
        .args(["-P", "-x", "-o", &columns]);
    let (_, seen, _) = run(t, None);
    let seen = String::from_utf8_lossy(&seen).into_owned();
    if !micro {
        return seen;
    }
    // "1795915963.826448123" → "1795915963.826448000" wherever a time column is.
    seen.lines()
        .map(|line| {
            line.split(' ')
                .map(|w| match w.split_once('.') {
                    Some((s, f))
                        if f.len() == 9
                            && s.len() >= 9
                            && w.bytes().all(|b| b.is_ascii_digit() || b == b'.') =>
                    {
                        format!("{s}.{}000", &f[..6])
                    }
                    _ => w.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Files where tshark's own writer changes what it read, so its `-w` output is not the
/// oracle for them (tshark reading the original is): an interface with a binary time stamp
/// resolution (tshark rounds the times to its own resolution) and simple packet blocks
/// (tshark writes them as enhanced packet blocks stamped 0). keepsight copies the records.
const TSHARK_WRITER_CHANGES: [&str; 2] = ["multi-if-tsresol.pcapng", "heartbeat-spb-custom.pcapng"];

/// `-w` with `-Y`, `-c` and `-F`: tshark reading keepsight's file sees exactly the frames it
/// sees in the original with the same selection, and the same as in tshark's own `-w` output.
#[test]
fn written_captures_hold_the_selected_frames_as_tshark_writes_them() {
    if !tshark_available() {
        return;
    }
    let dir = scratch("tshark-habits-w");
    let problems = run_parallel(&corpus(), |file| {
        let mut problems = Vec::new();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for (i, (select, format)) in [
            (&["-Y", "tcp.len > 0"][..], "pcapng"),
            (&["-Y", "tcp.len > 0"][..], "pcap"),
            (
                &["-c", "7", "-Y", "tcp.flags.syn == 1 or udp"][..],
                "nsecpcap",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let ours = dir.join(format!("{name}.{i}.ours"));
            let theirs = dir.join(format!("{name}.{i}.theirs"));
            let mut t = tshark();
            t.arg("-r")
                .arg(file)
                .args(select)
                .args(["-F", format, "-w"])
                .arg(&theirs);
            let (tshark_code, _, _) = run(t, None);
            let mut k = keepsight();
            k.args(["packets", "-r"])
                .arg(file)
                .args(select)
                .args(["-F", format, "-w"])
                .arg(&ours);
            let (code, printed, err) = run(k, None);
            if tshark_code != Some(0) {
                // A pcap cannot hold two link types: both refuse.
                if code == Some(0) {
                    problems.push(format!(
                        "{name} {select:?} -F {format}: tshark refuses, keepsight wrote"
                    ));
                }
                continue;
            }
            if code != Some(0) || !printed.is_empty() {
                problems.push(format!(
                    "{name} {select:?} -F {format}: exit {code:?}, {} bytes listed: {err}",
                    printed.len()
                ));
                continue;
            }
            let same_container = (format == "pcapng") == name.ends_with(".pcapng");
            let read_back = frames_as_tshark_reads_them(&ours, &[], false, same_container);
            let original =
                frames_as_tshark_reads_them(file, select, format == "pcap", same_container);
            // A pcap has no "no time stamp": simple packet blocks get 0 there.
            let timeless = name == "heartbeat-spb-custom.pcapng" && format != "pcapng";
            if read_back != original && !timeless {
                problems.push(format!("{name} {select:?} -F {format}: tshark sees other frames than in the original:\n{read_back}\n---\n{original}"));
            }
            if !TSHARK_WRITER_CHANGES.contains(&name.as_str())
                && read_back != frames_as_tshark_reads_them(&theirs, &[], false, same_container)
            {
                problems.push(format!(
                    "{name} {select:?} -F {format}: differs from tshark's -w"
                ));
            }
        }
        problems
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Without a filter and in the input's own format, -w copies the file byte for byte (every
/// block, option, comment and interface as stored); -w - writes the same bytes to standard
/// output, and -P lists the frames too.
#[test]
fn writing_every_frame_in_the_same_format_copies_the_file() {
    let dir = scratch("tshark-habits-copy");
    let mut checked = 0;
    for file in corpus() {
        let format = match std::fs::read(&file).unwrap().get(..4) {
            Some([0x0a, 0x0d, 0x0d, 0x0a]) => "pcapng",
            Some([0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0xc3, 0xd4]) => "pcap",
            Some([0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d]) => "nsecpcap",
            _ => continue,
        };
        let out = dir.join("copy");
        let (code, printed, err) = run(
            packets(&["-F", format, "-w", out.to_str().unwrap()], &file),
            None,
        );
        assert_eq!(
            (code, printed.len()),
            (Some(0), 0),
            "{}: {err}",
            file.display()
        );
        let original = std::fs::read(&file).unwrap();
        assert!(
            std::fs::read(&out).unwrap() == original,
            "{}: -w copy differs",
            file.display()
        );
        let (_, to_stdout, _) = run(packets(&["-F", format, "-w", "-"], &file), None);
        assert!(to_stdout == original, "{}: -w - differs", file.display());
        let (_, listed, _) = run(
            packets(&["-P", "-F", format, "-w", out.to_str().unwrap()], &file),
            None,
        );
        let (_, plain, _) = run(packets(&[], &file), None);
        assert_eq!(listed, plain, "{}: -P", file.display());
        checked += 1;
    }
    assert!(checked >= 20, "{checked} captures checked");
}

/// `-x` byte for byte as tshark's on every capture of the corpus (IP reassembly's second
/// source, and the HTTP messages reassembled from TCP segments or de-chunked, included), and
/// `-P -x` with the summary lines.
#[test]
fn hex_dumps_are_tsharks() {
    if !tshark_available() {
        return;
    }
    let problems = run_parallel(&corpus(), |file| {
        let mut problems = Vec::new();
        let name = file.display().to_string();
        let mut modes = vec![&["-x"][..]];
        // (Not the simple-packet-block file: keepsight's summary prints a time where tshark
        // leaves the column blank for a frame without a time stamp, a listing difference
        // older than -x.)
        if name.contains("heartbeat") && !name.contains("spb") {
            // The TCP frames of these have no application protocol tshark dissects, so
            // their summary lines are comparable too (see packets_oracle).
            modes.push(&["-P", "-x", "-c", "40", "-Y", "tcp"][..]);
        }
        for mode in modes {
            let mut t = tshark();
            t.arg("-r").arg(file).args(mode);
            let (_, theirs, _) = run(t, None);
            let (code, ours, err) = run(packets(mode, file), None);
            let theirs = String::from_utf8_lossy(&theirs);
            if code != Some(0) || String::from_utf8_lossy(&ours) != theirs {
                problems.push(format!("{name} {mode:?}: exit {code:?} {err}"));
            }
        }
        problems
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // -x belongs to the text output.
    let (code, _, _) = run(
        packets(
            &["-x", "-T", "json"],
            &repo().join("tests/corpus/heartbeat.pcap"),
        ),
        None,
    );
    assert_eq!(code, Some(2));
}

/// The TCP fields each `-o` preference changes, with the Protocol and Info columns last.
const PREFERENCE_FIELDS: [&str; 15] = [
    "frame.number",
    "tcp.seq",
    "tcp.ack",
    "tcp.nxtseq",
    "tcp.analysis.flags",
    "tcp.analysis.bytes_in_flight",
    "tcp.analysis.push_bytes_sent",
    "tcp.time_relative",
    "tcp.time_delta",
    "tcp.analysis.acks_frame",
    "tcp.analysis.ack_rtt",
    "tcp.analysis.retransmission",
    "_ws.expert.message",
    "_ws.col.Protocol",
    "_ws.col.Info",
];

/// `-T fields` listings of [`PREFERENCE_FIELDS`], keepsight's and tshark's, with the
/// differences packets_oracle documents taken out: the Protocol and Info columns of frames
/// where tshark dissects an application protocol or shows a TCP segment of a reassembled PDU,
/// and the "[Packet size limited during capture]" suffix of tshark's heuristic dissectors.
fn comparable_preference_listings(ours: &[u8], theirs: &[u8]) -> (String, String) {
    let (ours, theirs) = (
        String::from_utf8_lossy(ours),
        String::from_utf8_lossy(theirs),
    );
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (i, theirs_line) in theirs.lines().enumerate() {
        let mut t: Vec<&str> = theirs_line.split('\t').collect();
        let mut o: Vec<&str> = ours.lines().nth(i).unwrap_or("").split('\t').collect();
        let n = t.len();
        if n >= 2 && (t[n - 2] != "TCP" || t[n - 1].contains("reassembled PDU")) {
            t.truncate(n - 2);
            o.truncate(n.saturating_sub(2).min(o.len()));
        }
        a.push(o.join("\t"));
        b.push(
            t.join("\t")
                .replace("[Packet size limited during capture]", ""),
        );
    }
    if ours.lines().count() != theirs.lines().count() {
        a.push(format!("{} lines", ours.lines().count()));
    }
    (a.join("\n"), b.join("\n"))
}

/// Each `-o` TCP preference turned away from its default changes the same fields, the same
/// way, as in tshark run with the same `-o`, on every TCP frame of the corpus.
#[test]
fn tcp_preferences_change_what_tshark_changes() {
    if !tshark_available() {
        return;
    }
    let problems = run_parallel(&corpus(), |file| {
        let mut problems = Vec::new();
        for pref in [
            "tcp.relative_sequence_numbers:FALSE",
            "tcp.analyze_sequence_numbers:FALSE",
            "tcp.calculate_timestamps:FALSE",
            "tcp.track_bytes_in_flight:FALSE",
        ] {
            let mut args = vec!["-Y", "tcp", "-o", pref, "-T", "fields"];
            for f in PREFERENCE_FIELDS {
                args.extend(["-e", f]);
            }
            let mut t = tshark();
            t.arg("-r").arg(file).args(&args);
            let (_, theirs, _) = run(t, None);
            let (code, ours, err) = run(packets(&args, file), None);
            let (ours, theirs) = comparable_preference_listings(&ours, &theirs);
            if code != Some(0) || ours != theirs {
                let first = ours
                    .lines()
                    .zip(theirs.lines())
                    .find(|(a, b)| a != b)
                    .map(|(a, b)| format!("\n  keepsight: {a}\n  tshark:    {b}"))
                    .unwrap_or_default();
                problems.push(format!(
                    "{} -o {pref}: exit {code:?} {err}{first}",
                    file.display()
                ));
            }
        }
        problems
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// An unknown preference is a usage error naming the known ones; the preferences keepsight
/// cannot change are accepted at its value and refused at the other with the reason; -n and
/// -2 are accepted and change nothing.
#[test]
fn preference_usage() {
    let file = repo().join("tests/corpus/heartbeat.pcap");
    let (code, _, err) = run(packets(&["-o", "tcp.no_such_thing:TRUE"], &file), None);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("tcp.relative_sequence_numbers")
            && err.contains("tcp.no_subdissector_on_error"),
        "{err}"
    );
    let (code, _, err) = run(packets(&["-o", "tcp.check_checksum:TRUE"], &file), None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("checksum"), "{err}");
    let (_, plain, _) = run(packets(&[], &file), None);
    let (code, same, _) = run(
        packets(
            &[
                "-n",
                "-2",
                "-o",
                "tcp.check_checksum:FALSE",
                "-o",
                "tcp.desegment_tcp_streams:TRUE",
                "-o",
                "tcp.relative_sequence_numbers:TRUE",
            ],
            &file,
        ),
        None,
    );
    assert_eq!((code, same), (Some(0), plain));
}

/// `-q -z` statistics byte for byte as tshark's, on every capture of the corpus, alone,
/// with their own filters, and several at once (printed last-asked first, as tshark does).
#[test]
fn statistics_are_tsharks() {
    if !tshark_available() {
        return;
    }
    let problems = run_parallel(&corpus(), |file| {
        let mut problems = Vec::new();
        for zs in [
            &["conv,tcp"][..],
            &["conv,udp"],
            &["endpoints,tcp"],
            &["expert"],
            &["follow,tcp,ascii,0"],
            &["io,stat,1"],
            &["io,stat,0"],
            &["io,stat,0.01,tcp,udp"],
            &["io,stat,10,,tcp.len>0"],
            &["io,stat,2,tcp.analysis.flags or tcp.flags.reset == 1 or udp.length > 100 and ip.version == 4"],
            &[
                "conv,tcp,tcp.len>0",
                "endpoints,tcp,tcp.stream==1",
                "expert,note",
                "follow,tcp,hex,1",
                "conv,udp,udp.length > 100",
            ],
        ] {
            let mut args = vec!["-q"];
            for z in zs {
                args.extend(["-z", z]);
            }
            let mut t = tshark();
            t.arg("-r").arg(file).args(&args);
            let (_, theirs, _) = run(t, None);
            let (code, ours, err) = run(packets(&args, file), None);
            if code != Some(0) || ours != theirs {
                problems.push(format!(
                    "{} {zs:?}: exit {code:?} {err}\n{}\n--- tshark:\n{}",
                    file.display(),
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&theirs)
                ));
            }
        }
        problems
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let file = repo().join("tests/corpus/heartbeat.pcap");
    let (code, _, err) = run(packets(&["-q", "-z", "smb,srt"], &file), None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("conv,tcp"), "{err}");
}

/// `-T ek -e ...`: tshark's Elasticsearch bulk lines, byte for byte, on every capture of the
/// corpus (fields keepsight renders as tshark does; Info and Protocol columns left out for
/// the application-protocol frames packets_oracle documents, so they are not asked for).
#[test]
fn ek_lines_are_tsharks() {
    if !tshark_available() {
        return;
    }
    let problems = run_parallel(&corpus(), |file| {
        let mut args = vec!["-T", "ek"];
        for f in [
            "frame.number",
            "frame.time_epoch",
            "frame.time_relative",
            "eth.src",
            "ip.addr",
            "ipv6.src",
            "tcp.stream",
            "tcp.flags.syn",
            "tcp.seq",
            "tcp.analysis.flags",
            "tcp.analysis.ack_rtt",
            "tcp.payload",
            "udp.length",
            "frame.comment",
        ] {
            args.extend(["-e", f]);
        }
        let mut t = tshark();
        t.arg("-r").arg(file).args(&args);
        let (_, theirs, _) = run(t, None);
        let (code, ours, err) = run(packets(&args, file), None);
        if code == Some(0) && ours == theirs {
            return Vec::new();
        }
        let (ours, theirs) = (
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
        );
        let first = ours
            .lines()
            .zip(theirs.lines())
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("\n  keepsight: {a}\n  tshark:    {b}"))
            .unwrap_or_default();
        vec![format!("{}: exit {code:?} {err}{first}", file.display())]
    });
    // Without -e, -T ek writes the protocol tree: tests/export_oracle.rs compares it.
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
