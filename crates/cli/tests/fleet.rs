//! Many captures at once (issue 19): a real dumpcap ring-buffer set read as one capture gives
//! the diagnosis of the one file `mergecap -a` makes of it; independent captures run in
//! parallel give each one's diagnosis alone; a damaged file is named and the rest analysed.
//!
//! The ring-buffer set `tests/fleet/ring/hb_*.pcapng` was written by dumpcap 4.0.17 (`-b
//! duration:4`) over one real kernel TCP connection on loopback in a namespace, made by
//! `tests/fleet/make/ring.py`: 0x01/0x41 heartbeats every 0.5 s, beat 13 sent 2 s late (in
//! the second of four files), then a client RST; the connection spans every file.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn keepsight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .args(args)
        .current_dir(common::repo())
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

const RING: &str = "tests/fleet/ring";

fn ring_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(common::repo().join(RING))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcapng"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        4,
        "the committed ring-buffer set has four files"
    );
    files
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The set's diagnosis read as one capture is the diagnosis of mergecap's concatenation: the
/// heartbeat connection keeps its state across the files (one stream, 24 beats, the late beat
/// found), and the global frame numbers are mergecap's.
#[test]
fn ring_buffer_set_is_one_capture_as_mergecap_makes_it() {
    if !keepsight_testlab::require_tool("mergecap") {
        return;
    }
    let dir = common::scratch("fleet-ring");
    let merged = dir.join("merged.pcapng");
    let files = ring_files();
    let mut merge = Command::new("mergecap");
    merge.arg("-a").arg("-w").arg(&merged).args(&files);
    assert!(merge.status().unwrap().success(), "mergecap -a failed");
    let alone = json_of(&keepsight(&["diagnose", "--json", s(&merged)]));

    // The directory, the files in order, and the files in reverse order: one capture.
    let mut reversed: Vec<&str> = files.iter().map(|p| s(p)).collect();
    reversed.reverse();
    let mut forward: Vec<&str> = reversed.clone();
    forward.reverse();
    for inputs in [vec![RING], forward, reversed] {
        let mut args = vec!["diagnose", "--json"];
        args.extend(&inputs);
        let out = keepsight(&args);
        assert_eq!(out.status.code(), Some(0), "{inputs:?}");
        let doc = json_of(&out);
        let captures = doc["captures"].as_array().unwrap();
        assert_eq!(captures.len(), 1, "one capture from {inputs:?}");
        let c = &captures[0];
        assert_eq!(c["joined"], "ring_buffer");
        assert_eq!(c["report"], alone, "set read as one capture vs mergecap -a");
        // Each file's span: consecutive, and as many frames as capinfos counts.
        let spans = c["files"].as_array().unwrap();
        let mut next = 1;
        for (span, file) in spans.iter().zip(&files) {
            assert!(span["file"]
                .as_str()
                .unwrap()
                .ends_with(file.file_name().unwrap().to_str().unwrap()));
            assert_eq!(span["first_frame"], next);
            next += span["frames"].as_u64().unwrap();
            assert_eq!(span["error"], Value::Null);
        }
        assert_eq!(next - 1, alone["capture"]["segments"].as_u64().unwrap());
    }

    // What the set is for: one heartbeat connection across the files, the late beat found in
    // the second file.
    assert_eq!(alone["streams"].as_array().unwrap().len(), 1);
    let missed: Vec<&Value> = alone["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "missed_heartbeat" || f["kind"] == "late_heartbeat")
        .collect();
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert!((missed[0]["gap_s"].as_f64().unwrap() - 2.5).abs() < 0.05);

    // --ndjson: the same findings, one per line, each naming the capture and the file of its
    // first frame with the frame's number there.
    let out = keepsight(&["diagnose", "--ndjson", RING]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let findings = alone["findings"].as_array().unwrap();
    assert_eq!(lines.len(), findings.len());
    let spans = json_of(&keepsight(&["diagnose", "--json", RING]))["captures"][0]["files"].clone();
    for (line, finding) in lines.iter().zip(findings) {
        let mut plain = line.as_object().unwrap().clone();
        assert_eq!(
            plain.remove("capture").unwrap(),
            "tests/fleet/ring/hb_*.pcapng"
        );
        let file = plain.remove("file").unwrap();
        let file_frame = plain.remove("file_frame").unwrap().as_u64().unwrap();
        assert_eq!(&Value::Object(plain), finding, "same fields as --json");
        let global = finding["frames"][0].as_u64().unwrap();
        let span = spans
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["file"] == file)
            .unwrap();
        assert_eq!(
            span["first_frame"].as_u64().unwrap() + file_frame - 1,
            global
        );
    }
    let late_line = lines
        .iter()
        .find(|l| l["kind"] == "missed_heartbeat")
        .unwrap();
    assert!(late_line["file"]
        .as_str()
        .unwrap()
        .ends_with("hb_00002_20261208003244.pcapng"));

    // conv and report read the set as one capture too: conv's table is the merged file's,
    // the HTML page the merged file's but for the capture's name.
    let set_conv = json_of(&keepsight(&["conv", "--json", RING]));
    assert_eq!(
        set_conv["captures"][0]["report"],
        json_of(&keepsight(&["conv", "--json", s(&merged)]))
    );
    let (set_html, merged_html) = (dir.join("set.html"), dir.join("merged.html"));
    for (input, html) in [(RING, &set_html), (s(&merged), &merged_html)] {
        let out = keepsight(&["report", input, "-o", s(html)]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let page = |p: &Path, name: &str| {
        std::fs::read_to_string(p)
            .unwrap()
            .replace(&format!("&#39;{name}&#39;"), "NAME")
            .replace(name, "NAME")
    };
    assert_eq!(
        page(&set_html, "tests/fleet/ring/hb_*.pcapng"),
        page(&merged_html, s(&merged))
    );

    // Renamed (no dumpcap names), the files are still one capture: their times follow one
    // another.
    let mut renamed = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let to = dir.join(format!("part-{}.pcapng", ["d", "b", "c", "a"][i]));
        std::fs::copy(f, &to).unwrap();
        renamed.push(to);
    }
    let mut args = vec!["diagnose", "--json"];
    args.extend(renamed.iter().map(|p| s(p)));
    let doc = json_of(&keepsight(&args));
    assert_eq!(doc["captures"].as_array().unwrap().len(), 1);
    assert_eq!(doc["captures"][0]["joined"], "contiguous");
    assert_eq!(doc["captures"][0]["report"], alone);
    let _ = std::fs::remove_dir_all(&dir);
}

/// HTTP keep-alive connections split over files by `editcap -c` (which names the pieces as
/// dumpcap's ring buffer does): `http` on the pieces gives the report of the whole capture,
/// requests and responses matched across the file boundaries.
#[test]
fn http_over_split_files_is_the_whole_capture() {
    if !keepsight_testlab::require_tool("editcap") {
        return;
    }
    let whole = "tests/scenarios/http-keepalive/capture.pcapng";
    let dir = common::scratch("fleet-split");
    let status = Command::new("editcap")
        .args(["-c", "40"])
        .arg(common::repo().join(whole))
        .arg(dir.join("hk.pcapng"))
        .status()
        .unwrap();
    assert!(status.success());
    let pieces = std::fs::read_dir(&dir).unwrap().count();
    assert!(pieces >= 3, "{pieces} pieces");
    let set = json_of(&keepsight(&["http", "--json", s(&dir)]));
    let captures = set["captures"].as_array().unwrap();
    assert_eq!(captures.len(), 1);
    assert_eq!(captures[0]["files"].as_array().unwrap().len(), pieces);
    let alone = json_of(&keepsight(&["http", "--json", whole]));
    assert!(!alone["connections"].as_array().unwrap().is_empty());
    assert_eq!(captures[0]["report"], alone);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A page draws one capture: files that make several are a usage error naming them.
#[test]
fn report_refuses_independent_captures() {
    let out = keepsight(&[
        "report",
        "tests/corpus/heartbeat.pcap",
        "tests/corpus/keepalive.pcapng",
        "-o",
        "-",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tests/corpus/heartbeat.pcap, tests/corpus/keepalive.pcapng"));
    assert!(out.stdout.is_empty());
}

/// Independent captures (different times, gaps of more than a rotation) run in parallel, each
/// with the diagnosis it gets alone, in the order given; -j 1 and -j 2 print the same.
#[test]
fn independent_captures_in_parallel_equal_each_alone() {
    let inputs = [
        "tests/corpus/heartbeat.pcap",
        "tests/corpus/keepalive.pcapng",
        RING,
    ];
    let mut args = vec!["diagnose", "--json", "-j", "2"];
    args.extend(inputs);
    let out = keepsight(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json_of(&out);
    let captures = doc["captures"].as_array().unwrap();
    assert_eq!(captures.len(), 3);
    for (c, input) in captures.iter().zip(inputs) {
        if input == RING {
            continue; // checked against mergecap above
        }
        assert_eq!(c["capture"], input);
        assert_eq!(c["joined"], "single");
        let alone = json_of(&keepsight(&["diagnose", "--json", input]));
        assert_eq!(c["report"], alone, "{input} in a fleet vs alone");
    }

    // Text: each capture's report after its heading, as printed alone.
    let text = |jobs: &str| {
        let mut args = vec!["diagnose", "-j", jobs];
        args.extend(inputs);
        String::from_utf8(keepsight(&args).stdout).unwrap()
    };
    let two = text("2");
    assert_eq!(two, text("1"), "-j 2 and -j 1 print the same");
    for input in &inputs[..2] {
        let alone = String::from_utf8(keepsight(&["diagnose", input]).stdout).unwrap();
        let heading = format!("=== capture {input}\n\n");
        let at = two.find(&heading).unwrap() + heading.len();
        assert!(
            two[at..].starts_with(&alone),
            "{input}'s report in the fleet text"
        );
    }
}

/// A damaged file in a ring-buffer set: the error names the file (and where in it), the
/// frames before the damage and the other files are analysed, and the exit status is 1. A
/// file that is no capture among independent captures: named, the others analysed alike.
#[test]
fn damaged_file_is_named_and_the_rest_analysed() {
    let dir = common::scratch("fleet-bad");
    let files = ring_files();
    let mut copies = Vec::new();
    for f in &files {
        let to = dir.join(f.file_name().unwrap());
        std::fs::copy(f, &to).unwrap();
        copies.push(to);
    }
    // Cut the second file in the middle of a block.
    let middle = &copies[1];
    let len = std::fs::metadata(middle).unwrap().len();
    let bytes = std::fs::read(middle).unwrap();
    std::fs::write(middle, &bytes[..(len as usize) / 2 + 3]).unwrap();

    let out = keepsight(&["diagnose", "--json", s(&dir)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}: frame ", middle.display()))
            && stderr.contains("ends in the middle of"),
        "{stderr}"
    );
    let doc = json_of(&out);
    let c = &doc["captures"][0];
    let spans = c["files"].as_array().unwrap();
    assert_eq!(spans.len(), 4);
    assert!(spans[1]["error"]
        .as_str()
        .unwrap()
        .contains("ends in the middle"));
    let full = json_of(&keepsight(&["diagnose", "--json", RING]));
    let full_spans = full["captures"][0]["files"].as_array().unwrap();
    assert!(spans[1]["frames"].as_u64().unwrap() < full_spans[1]["frames"].as_u64().unwrap());
    assert!(
        spans[1]["frames"].as_u64().unwrap() > 0,
        "frames before the damage kept"
    );
    for k in [0, 2, 3] {
        assert_eq!(
            spans[k]["frames"], full_spans[k]["frames"],
            "file {k} read whole"
        );
    }
    // The RST in the last file is still seen on the same stream.
    let findings = c["report"]["findings"].as_array().unwrap();
    assert!(findings
        .iter()
        .any(|f| f["kind"] == "connection_reset" && f["stream"] == 0));

    // Independent captures with a file that is no capture.
    let out = keepsight(&[
        "diagnose",
        "--json",
        "tests/corpus/heartbeat.pcap",
        "tests/corpus/bad/not-a-capture.txt",
        "tests/corpus/keepalive.pcapng",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tests/corpus/bad/not-a-capture.txt: ")
            && stderr.contains("not a capture file"),
        "{stderr}"
    );
    let doc = json_of(&out);
    let captures = doc["captures"].as_array().unwrap();
    assert_eq!(captures.len(), 3);
    assert_eq!(captures[1]["report"], Value::Null);
    assert!(captures[1]["error"].is_string());
    for k in [0, 2] {
        let input = captures[k]["capture"].as_str().unwrap();
        let alone = json_of(&keepsight(&["diagnose", "--json", input]));
        assert_eq!(captures[k]["report"], alone);
    }

    // A path that does not exist is a failure to run, named.
    let out = keepsight(&["diagnose", RING, "tests/fleet/no-such-file.pcap"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tests/fleet/no-such-file.pcap"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Deletes the test's namespace (and with it everything inside) on drop.
struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// The same as the committed set, made now: dumpcap `-b packets:12` on the loopback of a
/// namespace of its own over a real heartbeat connection (a beat sent 1 s late in a middle
/// file), and the set diagnosed as one capture equals mergecap -a's file.
#[test]
fn live_dumpcap_ring_buffer_is_one_capture() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    if !keepsight_testlab::require_root("live_dumpcap_ring_buffer_is_one_capture")
        || !keepsight_testlab::require_tool("dumpcap")
        || !keepsight_testlab::require_tool("mergecap")
        || !keepsight_testlab::require_tool("ip")
    {
        return;
    }
    let ns = Namespace(format!("fleet-live-{}", std::process::id()));
    keepsight_testlab::sh(&["ip", "netns", "add", &ns.0]);
    keepsight_testlab::ns_sh(&ns.0, &["ip", "link", "set", "lo", "up"]);
    let dir = common::scratch("fleet-live");
    let ring = dir.join("ring");
    std::fs::create_dir_all(&ring).unwrap();
    let err_path = dir.join("dumpcap.err");
    let dumpcap = Command::new("ip")
        .args([
            "netns", "exec", &ns.0, "dumpcap", "-q", "-i", "lo", "-f", "tcp",
        ])
        .args(["-b", "packets:12", "-w"])
        .arg(ring.join("live.pcapng"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let mut dumpcap = common::Guard(dumpcap);
    let t0 = Instant::now();
    while !std::fs::read_to_string(&err_path)
        .unwrap()
        .contains("Capturing on")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "dumpcap did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // "Capturing on" comes a little before the capture really runs on a loaded machine.
    std::thread::sleep(Duration::from_millis(1000));

    // Server answers 0x41 to each 0x01; the client beats every 200 ms, beat 16 one second late,
    // then resets the connection.
    keepsight_testlab::in_ns(&ns.0, || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_nodelay(true).unwrap();
            let mut b = [0u8; 1];
            while matches!(conn.read(&mut b), Ok(1)) {
                conn.write_all(&[0x41]).unwrap();
            }
        });
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        client.set_nodelay(true).unwrap();
        for beat in 1..=24 {
            std::thread::sleep(Duration::from_millis(if beat == 16 { 1200 } else { 200 }));
            client.write_all(&[0x01]).unwrap();
            let mut b = [0u8; 1];
            client.read_exact(&mut b).unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
        // SO_LINGER {on, 0 s}: close() sends a RST.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: the fd is the client's open socket; the option value is a linger struct of
        // the size given.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&client),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        drop(client);
        server.join().unwrap();
    })
    .join()
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (code, _) = dumpcap.terminate();
    assert!(code.is_some(), "dumpcap did not stop");

    let mut files: Vec<PathBuf> = std::fs::read_dir(&ring)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{} ring files", files.len());
    let merged = dir.join("merged.pcapng");
    let mut merge = Command::new("mergecap");
    merge.arg("-a").arg("-w").arg(&merged).args(&files);
    assert!(merge.status().unwrap().success());
    let alone = json_of(&keepsight(&["diagnose", "--json", s(&merged)]));
    let set = json_of(&keepsight(&["diagnose", "--json", s(&ring)]));
    let c = &set["captures"][0];
    assert_eq!(set["captures"].as_array().unwrap().len(), 1);
    assert_eq!(c["joined"], "ring_buffer");
    assert_eq!(c["report"], alone);
    // One connection across the files, and the late beat in a middle file.
    assert_eq!(alone["streams"].as_array().unwrap().len(), 1);
    // A loaded machine may delay other beats a little too: the late beat is the longest gap.
    let late = alone["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "missed_heartbeat" || f["kind"] == "late_heartbeat")
        .max_by(|a, b| {
            a["gap_s"]
                .as_f64()
                .partial_cmp(&b["gap_s"].as_f64())
                .unwrap()
        })
        .expect("the late beat is found");
    assert!(late["gap_s"].as_f64().unwrap() > 1.0, "{late}");
    let frame = late["frames"][0].as_u64().unwrap();
    let spans = c["files"].as_array().unwrap();
    let holder = spans
        .iter()
        .position(|s| {
            let first = s["first_frame"].as_u64().unwrap();
            frame >= first && frame < first + s["frames"].as_u64().unwrap()
        })
        .unwrap();
    assert!(
        holder > 0 && holder + 1 < spans.len(),
        "late beat in file {holder} of {}: {late}\n{spans:?}",
        spans.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
