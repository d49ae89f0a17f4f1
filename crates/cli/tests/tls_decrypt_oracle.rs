//! Differential tests of TLS decryption with a key log against tshark 4.0.17 given the same key
//! log (`-o tls.keylog_file:`), on real captures with the key logs their clients wrote:
//! tests/corpus/tls-decrypt (tests/corpus/tls-decrypt/make.sh: OpenSSL s_server/s_client with
//! every suite keepsight decrypts, TLS 1.2 and 1.3; nginx with TLS and curl and Python's ssl
//! as clients, HTTP/1.1 keep-alive) and tests/scenarios/tls-heartbeat (Python's ssl
//! heartbeats, OpenSSL with a Hello Retry Request).
//!
//! Compared: every registered field and the Protocol and Info columns, frame by frame; `follow
//! --proto tls` and `packets -q -z follow,tls,...` byte by byte in all four formats on every
//! stream; the HTTP messages `keepsight http`
//! finds in the decrypted bytes against the requests and responses tshark dissects; and, with
//! a wrong key log, the same fields (nothing decrypted on either side) plus keepsight's warning.
//!
//! On HTTPS the decrypted bytes go through the same HTTP analysis as cleartext: every `http.*`
//! field keepsight registers is compared with `tshark -2` (tshark's second pass fills
//! `http.response_in`), with the key log and without it (then neither shows any), and the
//! Protocol/Info columns and Chat expert items of HTTP frames are compared like any other.
//!
//! Known differences skipped, as in tls_oracle.rs: tshark dissects X.509 certificates (layers
//! after `tls` in `frame.protocols`) and the media types of HTTP bodies (`data-text-lines`,
//! ...), so `frame.protocols` is compared up to its last `tls`; an HTTP body without
//! `Content-Type` goes to tshark's `data` (`...:http:data`), which keepsight's HTTP analysis
//! counts without keeping, so `data.*` is not compared on those frames. Every other field
//! of theirs, `data.data` of non-HTTP application data included, is compared.

mod common;
use common::{assert_no_differences, repo, run_parallel, scratch, tshark_available};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A capture and the key log written while it was taken.
struct Case {
    capture: PathBuf,
    keylog: PathBuf,
}

fn cases() -> Vec<Case> {
    let dec = repo().join("tests/corpus/tls-decrypt");
    let hb = repo().join("tests/scenarios/tls-heartbeat");
    let idle = repo().join("tests/scenarios/tls-keepalive-idle-close");
    let race = repo().join("tests/scenarios/tls-reuse-race");
    vec![
        Case {
            capture: dec.join("ciphers.pcapng"),
            keylog: dec.join("ciphers.keylog.txt"),
        },
        Case {
            capture: dec.join("https.pcapng"),
            keylog: dec.join("https.keylog.txt"),
        },
        Case {
            capture: hb.join("capture.pcapng"),
            keylog: hb.join("keylog.txt"),
        },
        Case {
            capture: hb.join("openssl.pcapng"),
            keylog: hb.join("openssl.keylog.txt"),
        },
        Case {
            capture: idle.join("capture.pcapng"),
            keylog: idle.join("keylog.txt"),
        },
        Case {
            capture: race.join("capture.pcapng"),
            keylog: race.join("keylog.txt"),
        },
    ]
}

/// The cases whose decrypted application data is HTTP/1.1.
fn https_cases() -> Vec<Case> {
    cases()
        .into_iter()
        .filter(|c| {
            let name = c.capture.display().to_string();
            name.contains("https") || name.contains("keepalive") || name.contains("reuse")
        })
        .collect()
}

fn output(mut c: Command) -> (String, String) {
    c.env("TZ", "UTC");
    let out = c.output().expect("command runs");
    assert!(
        out.status.success(),
        "{c:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).expect("UTF-8 output"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn keepsight(args: &[&str]) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keepsight"));
    c.args(args);
    output(c).0
}

fn tshark(args: &[&str]) -> String {
    let mut c = Command::new("tshark");
    c.args(args);
    output(c).0
}

/// Every registered field except protocol types and `http.*`, and the two columns.
fn fields() -> Vec<String> {
    let mut f: Vec<String> = keepsight(&["packets", "--list-fields"])
        .lines()
        .filter_map(|l| {
            let mut cols = l.split('\t');
            let (name, ty) = (cols.next()?, cols.next()?);
            (ty != "Protocol" && !name.starts_with("http")).then(|| name.to_string())
        })
        .collect();
    f.retain(|n| n != "frame.number");
    f.extend(["_ws.col.Protocol".into(), "_ws.col.Info".into()]);
    f
}

/// `frame.protocols` without the certificate layers tshark inserts after a Certificate
/// message, up to its last `tls` (see the module docs).
fn up_to_tls(protocols: &str) -> String {
    let kept: Vec<&str> = protocols
        .split(':')
        .filter(|l| !l.starts_with("x509") && !l.starts_with("pkcs"))
        .collect();
    let kept = kept.join(":");
    match kept.rfind(":tls") {
        Some(i) => kept[..i + 4].to_string(),
        None => kept,
    }
}

/// The differences between tshark's and keepsight's `-T fields` listing of `cap` with key
/// log `keylog`, and how many frames had decrypted application data (`data.data`).
fn compare_fields(cap: &Path, keylog: &Path, fields: &[String]) -> (Vec<String>, usize) {
    let pref = format!("tls.keylog_file:{}", keylog.display());
    let c = cap.display().to_string();
    let mut args: Vec<&str> = vec!["-r", &c, "-o", &pref, "-T", "fields", "-e", "frame.number"];
    for f in fields {
        args.extend(["-e", f]);
    }
    let theirs = tshark(&args);
    let mut ours_args = vec!["packets"];
    ours_args.extend(&args);
    let ours = keepsight(&ours_args);
    let mut problems = Vec::new();
    let (t, o): (Vec<&str>, Vec<&str>) = (theirs.lines().collect(), ours.lines().collect());
    if t.len() != o.len() {
        problems.push(format!(
            "tshark lists {} frames, keepsight {}",
            t.len(),
            o.len()
        ));
    }
    let names: Vec<&str> = std::iter::once("frame.number")
        .chain(fields.iter().map(String::as_str))
        .collect();
    let column = |name: &str| names.iter().position(|n| *n == name).unwrap();
    let (protocols, data) = (column("frame.protocols"), column("data.data"));
    let mut decrypted = 0;
    for (tl, ol) in t.iter().zip(&o) {
        let (tv, ov): (Vec<&str>, Vec<&str>) = (tl.split('\t').collect(), ol.split('\t').collect());
        let http_body = tv.get(protocols).is_some_and(|p| p.contains(":http:data"));
        if tv.get(data).is_some_and(|d| !d.is_empty()) {
            decrypted += 1;
        }
        for (i, name) in names.iter().enumerate() {
            let (mut a, mut b) = (
                tv.get(i).copied().unwrap_or("").to_string(),
                ov.get(i).copied().unwrap_or("").to_string(),
            );
            if http_body && name.starts_with("data.") {
                continue;
            }
            if *name == "frame.protocols" {
                (a, b) = (up_to_tls(&a), up_to_tls(&b));
            }
            if a != b {
                problems.push(format!(
                    "{} frame {}: {name}: tshark {a:?}, keepsight {b:?}",
                    cap.display(),
                    tv[0]
                ));
            }
        }
    }
    (problems, decrypted)
}

#[test]
fn every_field_and_column_matches_tshark_with_the_key_log() {
    if !tshark_available() {
        return;
    }
    let fields = fields();
    let all = cases();
    let files: Vec<PathBuf> = all.iter().map(|c| c.capture.clone()).collect();
    let results = run_parallel(&files, |cap| {
        let case = all.iter().find(|c| c.capture == cap).unwrap();
        vec![compare_fields(cap, &case.keylog, &fields)]
    });
    let problems: Vec<String> = results.iter().flat_map(|(p, _)| p.clone()).collect();
    assert_no_differences(&problems);
    // The comparison means something only if tshark decrypted application data too: the
    // cipher capture's 6 streams carry 2 client lines and 2 to 3 server records each, the
    // heartbeat capture dozens of PING/PONG records.
    let decrypted: usize = results.iter().map(|(_, n)| n).sum();
    assert!(
        decrypted >= 60,
        "only {decrypted} frames with decrypted data"
    );
}

/// Every registered `http.*` field but the protocol itself (a tree label in tshark).
fn http_fields() -> Vec<String> {
    keepsight(&["packets", "--list-fields"])
        .lines()
        .filter_map(|l| l.split('\t').next())
        .filter(|n| n.starts_with("http.") && !n.starts_with("http2"))
        .map(str::to_string)
        .collect()
}

/// Differences between `tshark -2` and keepsight on `args` (both given the same arguments).
fn differences(what: &str, args: &[&str]) -> Vec<String> {
    let mut two = vec!["-2"];
    two.extend(args);
    let theirs = tshark(&two);
    let mut ours_args = vec!["packets"];
    ours_args.extend(args);
    let ours = keepsight(&ours_args);
    let mut problems = Vec::new();
    let (t, o): (Vec<&str>, Vec<&str>) = (theirs.lines().collect(), ours.lines().collect());
    if t.len() != o.len() {
        problems.push(format!(
            "{what}: tshark {} lines, keepsight {}",
            t.len(),
            o.len()
        ));
    }
    for (tl, ol) in t.iter().zip(&o) {
        if tl != ol {
            problems.push(format!("{what}:\n  tshark    {tl:?}\n  keepsight {ol:?}"));
        }
    }
    problems
}

/// Every `http.*` field on every frame of the HTTPS captures, with the key log (the decrypted
/// HTTP: requests and responses over several records and segments, several in one record,
/// a response before its request's body, pipelining) and without it (no HTTP at all, as in
/// tshark), plus tshark's `http.request` filter.
#[test]
fn every_http_field_matches_tshark_with_and_without_the_key_log() {
    if !tshark_available() {
        return;
    }
    let fields = http_fields();
    assert!(fields.len() >= 14, "{fields:?}");
    let mut problems = Vec::new();
    let mut http_frames = 0;
    for case in https_cases() {
        let c = case.capture.display().to_string();
        let pref = format!("tls.keylog_file:{}", case.keylog.display());
        let mut args: Vec<&str> = vec!["-r", &c, "-T", "fields", "-e", "frame.number"];
        for f in &fields {
            args.extend(["-e", f]);
        }
        args.extend(["-e", "_ws.expert.message"]);
        problems.extend(differences(&format!("{c} without the key log"), &args));
        let blind = keepsight(&{
            let mut a = vec!["packets"];
            a.extend(&args);
            a
        });
        let http_columns = 1..=fields.len();
        assert!(
            blind.lines().all(|l| l
                .split('\t')
                .enumerate()
                .all(|(i, v)| !http_columns.contains(&i) || v.is_empty())),
            "{c}: http.* fields without the key log"
        );
        let mut keyed = vec!["-o", &pref];
        keyed.extend(&args);
        problems.extend(differences(&format!("{c} with the key log"), &keyed));
        let requests = ["-r", &c, "-o", &pref, "-Y", "http.request"];
        problems.extend(differences(&format!("{c} -Y http.request"), &requests));
        http_frames += tshark(&["-r", &c, "-o", &pref, "-Y", "http"])
            .lines()
            .count();
    }
    assert_no_differences(&problems);
    // tls-keepalive-idle-close alone has 15 frames with HTTP messages, https.pcapng 8.
    assert!(http_frames >= 40, "{http_frames} HTTP frames");
}

/// The one-line summary of the HTTPS captures with the key log, line for line as tshark
/// prints it: `HTTP` frames with their request or status lines (pipelined ones joined), and
/// `[TLS segment of a reassembled PDU]` where a message continues in a later record.
#[test]
fn https_summary_lines_match_tshark_with_the_key_log() {
    if !tshark_available() {
        return;
    }
    let mut problems = Vec::new();
    let mut continued = 0;
    for case in https_cases() {
        let c = case.capture.display().to_string();
        let pref = format!("tls.keylog_file:{}", case.keylog.display());
        let theirs = tshark(&["-r", &c, "-o", &pref]);
        let ours = keepsight(&["packets", "-r", &c, "-o", &pref]);
        continued += theirs
            .lines()
            .filter(|l| l.contains("[TLS segment of a reassembled PDU]"))
            .count();
        if theirs != ours {
            problems.push(format!("{c}:\n--- tshark\n{theirs}\n--- keepsight\n{ours}"));
        }
    }
    assert_no_differences(&problems);
    assert!(continued >= 5, "{continued} continued HTTP messages");
}

/// The negotiated suites of the cipher capture: every suite keepsight decrypts is there.
#[test]
fn the_cipher_capture_covers_every_supported_suite() {
    if !tshark_available() {
        return;
    }
    let case = &cases()[0];
    let pref = format!("tls.keylog_file:{}", case.keylog.display());
    let c = case.capture.display().to_string();
    let suites = tshark(&[
        "-r",
        &c,
        "-o",
        &pref,
        "-Y",
        "tls.handshake.type == 2",
        "-T",
        "fields",
        "-e",
        "tls.handshake.ciphersuite",
    ]);
    let got: Vec<&str> = suites.lines().collect();
    assert_eq!(
        got,
        ["0x1301", "0x1302", "0x1303", "0xc02b", "0xc02c", "0xcca9"],
        "one connection per suite, in make.sh's order"
    );
    // Each of them decrypted: both directions' lines are in keepsight's follow.
    for stream in 0..6 {
        let s = stream.to_string();
        let keylog = case.keylog.display().to_string();
        let text = keepsight(&["follow", &c, &s, "--proto", "tls", "--tls-keylog", &keylog]);
        for line in ["client line one", "client line two", "server says hello"] {
            assert!(
                text.contains(line),
                "stream {stream}: {line:?} missing:\n{text}"
            );
        }
    }
}

#[test]
fn follow_tls_is_byte_identical_to_tsharks_on_every_stream() {
    if !tshark_available() {
        return;
    }
    let mut runs = 0;
    let mut problems = Vec::new();
    for case in cases() {
        let c = case.capture.display().to_string();
        let keylog = case.keylog.display().to_string();
        let pref = format!("tls.keylog_file:{keylog}");
        let streams = tshark(&["-r", &c, "-T", "fields", "-e", "tcp.stream"]);
        let max: u32 = streams
            .lines()
            .filter_map(|l| l.parse().ok())
            .max()
            .unwrap();
        for stream in 0..=max {
            let s = stream.to_string();
            for format in ["ascii", "hex", "raw", "yaml"] {
                let z = format!("follow,tls,{format},{stream}");
                let theirs = tshark(&["-r", &c, "-o", &pref, "-q", "-z", &z]);
                let ours = keepsight(&[
                    "follow",
                    &c,
                    &s,
                    "--proto",
                    "tls",
                    "--format",
                    format,
                    "--tls-keylog",
                    &keylog,
                ]);
                runs += 1;
                if theirs != ours {
                    problems.push(format!(
                        "{c} stream {stream} {format}:\n--- tshark\n{theirs}\n--- keepsight\n{ours}"
                    ));
                }
                // The same through `packets -q -z`, tshark's own spelling.
                let tap = keepsight(&["packets", "-r", &c, "-o", &pref, "-q", "-z", &z]);
                if theirs != tap {
                    problems.push(format!(
                        "{c} stream {stream} packets -z {z}:\n--- tshark\n{theirs}\n--- keepsight\n{tap}"
                    ));
                }
            }
        }
    }
    assert!(runs >= 4 * 20, "{runs} follow runs");
    assert_no_differences(&problems);
}

/// A key log whose secrets are all wrong (first hex digit flipped): neither tshark nor
/// keepsight decrypts anything, the fields agree, and keepsight says why per stream.
#[test]
fn a_wrong_key_log_decrypts_nothing_and_says_so() {
    if !tshark_available() {
        return;
    }
    let case = &cases()[0];
    let text = std::fs::read_to_string(&case.keylog).unwrap();
    let wrong: String = text
        .lines()
        .map(|l| {
            let mut parts: Vec<String> = l.split(' ').map(str::to_string).collect();
            if parts.len() == 3 && !l.starts_with('#') {
                let flipped = if parts[2].starts_with('0') { "1" } else { "0" };
                parts[2].replace_range(..1, flipped);
            }
            parts.join(" ") + "\n"
        })
        .collect();
    let dir = scratch("tls-wrong-keylog");
    let keylog = dir.join("wrong.keylog.txt");
    std::fs::write(&keylog, wrong).unwrap();
    let (problems, decrypted) = compare_fields(&case.capture, &keylog, &fields());
    assert_no_differences(&problems);
    assert_eq!(decrypted, 0);
    let mut c = Command::new(env!("CARGO_BIN_EXE_keepsight"));
    c.args([
        "follow",
        &case.capture.display().to_string(),
        "0",
        "--proto",
        "tls",
    ]);
    c.arg("--tls-keylog").arg(&keylog);
    let (_, err) = output(c);
    assert!(
        err.contains("TLS stream 0 (tcp.stream): record 3 from the server did not decrypt (authentication tag mismatch)"),
        "{err}"
    );
}

#[test]
fn https_keep_alive_gets_the_full_http_analysis_with_the_key_log() {
    if !tshark_available() {
        return;
    }
    let case = &cases()[1];
    let c = case.capture.display().to_string();
    let keylog = case.keylog.display().to_string();
    let pref = format!("tls.keylog_file:{keylog}");
    // tshark's HTTP messages in the decrypted bytes: frame, then method and URI or status.
    let theirs = tshark(&[
        "-r",
        &c,
        "-o",
        &pref,
        "-Y",
        "http",
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "http.request.method",
        "-e",
        "http.request.uri",
        "-e",
        "http.response.code",
    ]);
    let json = keepsight(&["http", &c, "--json", "--tls-keylog", &keylog]);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut ours: Vec<(u64, String)> = Vec::new();
    for conn in doc["connections"].as_array().unwrap() {
        for m in conn["messages"].as_array().unwrap() {
            let what = match m["kind"].as_str().unwrap() {
                "request" => format!(
                    "{}\t{}\t",
                    m["method"].as_str().unwrap(),
                    m["uri"].as_str().unwrap()
                ),
                _ => format!("\t\t{}", m["code"]),
            };
            ours.push((m["frame"].as_u64().unwrap(), what));
        }
    }
    ours.sort();
    let ours: Vec<String> = ours.iter().map(|(f, w)| format!("{f}\t{w}")).collect();
    let theirs: Vec<&str> = theirs.lines().collect();
    assert_eq!(ours, theirs);
    assert_eq!(theirs.len(), 8, "two connections, two exchanges each");
    // How the connections ended, from make.sh: curl closes its connection (close_notify,
    // then FIN); the Python client waits until nginx's keepalive_timeout (1 s) closes it.
    let conns = doc["connections"].as_array().unwrap();
    assert_eq!(conns[0]["close"]["kind"], "client_close");
    assert_eq!(conns[1]["close"]["kind"], "server_idle_timeout");
    let idle = conns[1]["close"]["idle_s"].as_f64().unwrap();
    assert!(
        (0.95..1.2).contains(&idle),
        "idle before nginx's close: {idle} s"
    );
    // Without the key log the same capture holds no HTTP keepsight can read.
    let blind = keepsight(&["http", &c, "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&blind).unwrap();
    assert_eq!(doc["connections"].as_array().unwrap().len(), 0);
}

fn exit_and_stderr(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_key_log_is_refused_with_its_line() {
    let cap = repo().join("tests/corpus/tls-decrypt/https.pcapng");
    let c = cap.display().to_string();
    let dir = scratch("tls-bad-keylog");
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, "# comment\nCLIENT_RANDOM 00112233 zz\n").unwrap();
    let b = bad.display().to_string();
    let pref = format!("tls.keylog_file:{b}");
    for args in [
        vec!["http", &c, "--tls-keylog", &b],
        vec!["packets", "-r", &c, "-o", &pref],
        vec!["follow", &c, "0", "--proto", "tls", "--tls-keylog", &b],
        vec!["diagnose", &c, "--tls-keylog", &b],
    ] {
        let (code, err) = exit_and_stderr(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!(
                "{b}:2: CLIENT_RANDOM: expected the client random as 64 hex digits, got \"00112233\""
            )),
            "{args:?}: {err}"
        );
    }
    let missing = dir.join("missing.txt").display().to_string();
    let (code, err) = exit_and_stderr(&["http", &c, "--tls-keylog", &missing]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("cannot read the TLS key log"), "{err}");
    let (code, err) = exit_and_stderr(&["follow", &c, "0", "--proto", "tls"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("needs") || err.contains("--tls-keylog"),
        "{err}"
    );
}

/// Heartbeat discovery reads the decrypted bytes: the driver's `PING`/`PONG` (run.py sends
/// exactly these 4 bytes each beat) become the probe and reply, `--probe` takes them, and
/// the findings (late, missed, slow, unanswered beats, closes) are those found from the
/// record pattern without the key log.
#[test]
fn diagnose_finds_heartbeats_by_their_decrypted_bytes() {
    let dir = repo().join("tests/scenarios/tls-heartbeat");
    let cap = dir.join("capture.pcapng").display().to_string();
    let keylog = dir.join("keylog.txt").display().to_string();
    let json = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["diagnose", &cap, "--json"];
        args.extend(extra);
        serde_json::from_str(&keepsight(&args)).unwrap()
    };
    let blind = json(&[]);
    let keyed = json(&["--tls-keylog", &keylog]);
    let given = json(&[
        "--tls-keylog",
        &keylog,
        "--probe",
        "50494e47",
        "--reply",
        "504f4e47",
    ]);
    let kinds = |d: &serde_json::Value| -> Vec<(String, u64)> {
        d["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["kind"].as_str().unwrap().to_string(),
                    f["stream"].as_u64().unwrap_or(u64::MAX),
                )
            })
            .collect()
    };
    assert_eq!(kinds(&blind), kinds(&keyed));
    assert_eq!(kinds(&keyed), kinds(&given));
    let mut beating = 0;
    for s in keyed["streams"].as_array().unwrap() {
        let hb = &s["heartbeat"];
        if hb.is_null() {
            continue;
        }
        beating += 1;
        assert_eq!(hb["probe_hex"], "50494e47", "stream {}", s["stream"]);
        assert_eq!(hb["reply_hex"], "504f4e47", "stream {}", s["stream"]);
    }
    assert!(beating >= 6, "{beating} streams with a heartbeat");
    // Without the key log the probe is only a record header.
    let first = &blind["streams"][0]["heartbeat"];
    assert_ne!(first["probe_hex"], "50494e47");
}
