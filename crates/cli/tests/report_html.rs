//! `keepsight report` end to end: the page is opened in headless Chromium (Debian's `chromium`,
//! which CI installs), must draw without a single script error or console message, and must show
//! what the recordings' own scripts say happened (their truth.json): the late heartbeats, with
//! the interval the client really waited, and the HTTP connections the scenario made.
//! A screenshot of each page is saved under the cargo target's tmp dir (path printed) to look at.
//!
//! The check is proven able to fail: the same page with one throwing statement added must be
//! rejected by the same check.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn out_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report_html");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn chromium() -> PathBuf {
    let p = std::env::var_os("KEEPSIGHT_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        p.exists(),
        "{} not found: this test needs Debian's chromium (apt-get install chromium; CI installs it), \
         or KEEPSIGHT_CHROMIUM pointing at a Chromium binary",
        p.display()
    );
    p
}

/// Runs headless Chromium on `page` with `extra` arguments, killed after 60 s. Returns (stdout,
/// stderr).
fn run_chromium(page: &Path, extra: &[&str]) -> (String, String) {
    let profile = tempdir("chromium-profile");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    // Read both pipes on threads so a chatty browser cannot block on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let to = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut so, &mut s).ok();
        s
    });
    let te = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut se, &mut s).ok();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("chromium did not finish within 60 s on {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = to.join().unwrap();
    let err = te.join().unwrap();
    std::fs::remove_dir_all(&profile).ok();
    (out, err)
}

fn tempdir(tag: &str) -> PathBuf {
    let d = out_dir().join(format!(
        "{tag}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// What the browser made of the page: the rendered DOM, or why it is not acceptable.
fn render(page: &Path) -> Result<String, String> {
    let (dom, stderr) = run_chromium(page, &["--dump-dom"]);
    // The page logs nothing to the console: any console line (an uncaught exception is one) is
    // an error.
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    if !console.is_empty() {
        return Err(format!("console output:\n{}", console.join("\n")));
    }
    if !dom.contains("data-status=\"ok\"") {
        let errs = between(&dom, "<pre id=\"js-errors\"", "</pre>").unwrap_or("");
        return Err(format!("the page did not finish drawing: {errs}"));
    }
    Ok(dom)
}

fn screenshot(page: &Path, png: &Path, height: u32) {
    let (_, _) = run_chromium(
        page,
        &[
            &format!("--screenshot={}", png.display()),
            &format!("--window-size=1400,{height}"),
            "--hide-scrollbars",
        ],
    );
    let bytes = std::fs::read(png).expect("screenshot written");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "{}",
        png.display()
    );
    eprintln!("screenshot: {}", png.display());
}

fn between<'a>(s: &'a str, from: &str, to: &str) -> Option<&'a str> {
    let i = s.find(from)? + from.len();
    let j = s[i..].find(to)? + i;
    Some(&s[i..j])
}

/// Elements of the rendered DOM whose class attribute is exactly `class`, as attribute maps.
fn elements(dom: &str, class: &str) -> Vec<std::collections::HashMap<String, String>> {
    let needle = format!("class=\"{class}\"");
    let mut out = Vec::new();
    let mut rest = dom;
    while let Some(i) = rest.find(&needle) {
        let start = rest[..i].rfind('<').unwrap();
        let end = i + rest[i..].find('>').unwrap();
        let tag = &rest[start..end];
        let mut attrs = std::collections::HashMap::new();
        for part in tag.split('"').collect::<Vec<_>>().chunks(2) {
            if let [k, v] = part {
                let k = k.trim().trim_end_matches('=');
                let k = k.rsplit(' ').next().unwrap_or(k);
                attrs.insert(k.to_string(), v.to_string());
            }
        }
        out.push(attrs);
        rest = &rest[end..];
    }
    out
}

fn keepsight_report(capture: &Path, log: &Path, html: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("report")
        .arg(capture)
        .arg("--log")
        .arg(log)
        .arg("-o")
        .arg(html)
        .output()
        .expect("run keepsight");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Nothing on the page may come from elsewhere: no external script, style, image or frame.
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "<script src",
        "<link",
        "<img",
        "<iframe",
        "@import",
        "url(",
        "src=\"http",
        "href=\"http",
    ] {
        assert!(!lower.contains(bad), "the page references {bad}");
    }
}

#[test]
fn incident_report_shows_the_late_beats_in_chromium() {
    let dir = repo().join("crates/diagnose/incident");
    let truth: Value =
        serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap();
    let html = out_dir().join("incident.html");
    keepsight_report(&dir.join("capture.pcapng"), &dir.join("app.log"), &html);
    let text = std::fs::read_to_string(&html).unwrap();
    assert_self_contained(&text);

    let dom = render(&html).unwrap_or_else(|e| panic!("{}: {e}", html.display()));

    // Every late beat the recording script made (a beat that ended in the client's reset), and
    // only those, is drawn as late, with the interval the script measured on its own clock.
    let mut expected: Vec<f64> = Vec::new();
    for cs in truth["clients"].as_object().unwrap().values() {
        for c in cs.as_array().unwrap() {
            if let Some(g) = c["end"]["late_gap_s"].as_f64() {
                expected.push(g);
            }
        }
    }
    expected.sort_by(f64::total_cmp);
    assert!(!expected.is_empty());
    for class in ["pt late", "beat late"] {
        let mut shown: Vec<f64> = elements(&dom, class)
            .iter()
            .map(|a| a["data-gap"].parse::<f64>().unwrap())
            .collect();
        shown.sort_by(f64::total_cmp);
        assert_eq!(
            shown.len(),
            expected.len(),
            "{class}: {shown:?} vs {expected:?}"
        );
        for (s, e) in shown.iter().zip(&expected) {
            assert!(
                (s - e).abs() < 0.005,
                "{class}: late interval {s} s, script says {e} s"
            );
        }
    }
    // The on-time beats are drawn too, inside the expected band (the script's period ± 10 %).
    let period = truth["period_s"].as_f64().unwrap();
    let on_time = elements(&dom, "pt");
    assert!(on_time.len() >= 10, "{}", on_time.len());
    for a in &on_time {
        let g: f64 = a["data-gap"].parse().unwrap();
        assert!((g - period).abs() < period * 0.1, "on-time beat at {g} s");
    }
    // The summary says who reset and why, before any chart.
    let summary = between(&dom, "id=\"summary\"", "</section>").unwrap();
    assert!(summary.contains("reset by the client"), "{summary}");
    assert!(summary.contains("Connections that were reset (2)"));
    // Each finding with evidence links to a drawn stream.
    let links = elements(&dom, "evidence");
    assert!(!links.is_empty());
    for a in links.iter().filter(|a| a.contains_key("data-stream")) {
        let id = format!("id=\"s-{}\"", a["data-stream"]);
        assert!(
            dom.contains(&id),
            "evidence link to a stream not drawn: {id}"
        );
    }

    // The command printed under a finding lists exactly its evidence frames.
    let cmd = between(&text, "<div class=\"cmd\">", "</div>").unwrap();
    let filter = between(cmd, "-Y '", "'").unwrap();
    let want: Vec<u32> = between(filter, "{", "}")
        .unwrap()
        .split(',')
        .map(|x| x.trim().parse().unwrap())
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .args(["packets".as_ref(), dir.join("capture.pcapng").as_os_str()])
        .args(["-Y", filter])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(got, want, "{cmd}");

    screenshot(&html, &out_dir().join("incident.png"), 2400);

    // The check above can fail: the same page with one statement that throws is rejected, and so
    // is a page whose script logs a console error.
    let broken = out_dir().join("incident-broken.html");
    std::fs::write(
        &broken,
        text.replacen(
            "    wireEvidence();\n",
            "    wireEvidence();\n    null.x;\n",
            1,
        ),
    )
    .unwrap();
    let e = render(&broken).expect_err("a throwing script must fail the check");
    assert!(e.contains("Cannot read properties of null"), "{e}");
    let noisy = out_dir().join("incident-console.html");
    std::fs::write(
        &noisy,
        text.replacen("</body>", "<script>undefinedFn();</script></body>", 1),
    )
    .unwrap();
    let e = render(&noisy).expect_err("an uncaught error must fail the check");
    assert!(e.contains("undefinedFn"), "{e}");
}

#[test]
fn http_scenario_report_lists_every_connection_in_chromium() {
    let dir = repo().join("tests/scenarios/http-keepalive");
    let truth: Value =
        serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap();
    let html = out_dir().join("http-keepalive.html");
    keepsight_report(&dir.join("capture.pcapng"), &dir.join("app.log"), &html);
    assert_self_contained(&std::fs::read_to_string(&html).unwrap());
    let dom = render(&html).unwrap_or_else(|e| panic!("{}: {e}", html.display()));
    let http = between(&dom, "id=\"http-body\"", "id=\"conversations\"").unwrap();
    let conns = truth["connections"].as_array().unwrap();
    for c in conns {
        let client = format!(
            "{}:{}",
            truth["client_addr"].as_str().unwrap(),
            c["client_port"]
        );
        assert!(http.contains(&client), "HTTP table lacks {client}");
    }
    // The connections whose reused request the server answered with RST are reuse races.
    let races = conns
        .iter()
        .filter(|c| {
            c["end"].as_str().is_some_and(|e| e.contains("RST"))
                || c["outcome"] == "eof-before-headers"
        })
        .count();
    assert_eq!(http.matches(">reuse race<").count(), races, "{http}");

    // Every exchange the scenario's client made is drawn on its connection's timeline, one bar
    // per request; the reused requests the server reset are marked as reuse races, and the two
    // responses whose framing the script broke (a body cut short, a stray byte after the body)
    // as framing faults, on the right connections.
    let blocks = stream_blocks(&dom);
    let mut drawn_races = 0;
    for c in conns {
        let port = c["client_port"].as_u64().unwrap();
        let client = format!("{}:{port}", truth["client_addr"].as_str().unwrap());
        let block = blocks
            .iter()
            .find(|b| {
                between(b, "<h3>", "</h3>").is_some_and(|h| h.contains(&format!("{client} →")))
            })
            .unwrap_or_else(|| panic!("no timeline for {client}"));
        let plain = elements(block, "hx").len();
        let race = elements(block, "hx race").len();
        let fault = elements(block, "hx fault").len();
        let ids = c["ids"].as_array().unwrap().len();
        assert_eq!(plain + race + fault, ids, "{client}: exchanges drawn");
        let exchanges: Vec<&Value> = truth["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["client_port"].as_u64() == Some(port))
            .collect();
        let broken = exchanges
            .iter()
            .filter(|x| {
                x["response"]["ended"] == "timeout-in-body"
                    || x["response"]["extra_after_body"]
                        .as_str()
                        .is_some_and(|e| !e.is_empty())
            })
            .count();
        assert_eq!(fault, broken, "{client}: framing faults drawn");
        let reset = c["end"].as_str().is_some_and(|e| e.contains("RST"))
            || c["outcome"] == "eof-before-headers";
        assert_eq!(race, usize::from(reset), "{client}: reuse race drawn");
        drawn_races += race;
    }
    assert_eq!(drawn_races, races);
    screenshot(&html, &out_dir().join("http-keepalive.png"), 3000);
}

/// late-heartbeat: the recording script made two clients send one beat late (and reset); each
/// such beat, and only those, is drawn late with the interval the script measured, on the
/// connection the script names.
#[test]
fn late_heartbeat_scenario_report_marks_the_late_beats_in_chromium() {
    let dir = repo().join("tests/scenarios/late-heartbeat");
    let truth: Value =
        serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap();
    let html = out_dir().join("late-heartbeat.html");
    keepsight_report(&dir.join("capture.pcapng"), &dir.join("app.log"), &html);
    let dom = render(&html).unwrap_or_else(|e| panic!("{}: {e}", html.display()));
    let incidents = truth["incidents"].as_array().unwrap();
    assert!(!incidents.is_empty());
    let blocks = stream_blocks(&dom);
    let mut late_total = 0;
    for b in &blocks {
        let late = elements(b, "pt late");
        late_total += late.len();
        let head = between(b, "<h3>", "</h3>").unwrap();
        let inc = incidents.iter().find(|i| {
            head.contains(&format!(
                "{}:{} →",
                i["client_addr"].as_str().unwrap(),
                i["client_port"]
            ))
        });
        match inc {
            Some(i) => {
                assert_eq!(late.len(), 1, "{head}");
                let g: f64 = late[0]["data-gap"].parse().unwrap();
                let want = i["gap_s"].as_f64().unwrap();
                assert!(
                    (g - want).abs() < 0.005,
                    "{head}: {g} s drawn, script says {want} s"
                );
                // Its reset is drawn, by the side the script says.
                assert!(b.contains(&format!("ended by {} RST", i["rst_by"].as_str().unwrap())));
            }
            None => assert!(
                late.is_empty(),
                "{head}: a late beat the script did not make"
            ),
        }
    }
    assert_eq!(late_total, incidents.len());
}

/// A classic pcap of one HTTP/1.1 keep-alive connection: `n` request/response exchanges one
/// second apart, then the server's idle close (FIN) and a request sent after it, which the
/// server resets (a reuse race). Ethernet/IPv4/TCP written by hand: the page's input must be
/// known exactly.
fn many_exchanges_pcap(n: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0xa1b2c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    // Version 2.4 is two u16 fields: fix the second word written above.
    out[4..8].copy_from_slice(&[2, 0, 4, 0]);
    let c = ([10, 1, 0, 1], 40000u16);
    let sv = ([10, 1, 0, 2], 80u16);
    let mut seq = [1000u32, 5000u32];
    let frame = |out: &mut Vec<u8>,
                 t_us: u64,
                 from_client: bool,
                 flags: u8,
                 payload: &[u8],
                 seq: &mut [u32; 2]| {
        let (src, dst) = if from_client { (c, sv) } else { (sv, c) };
        let i = usize::from(!from_client);
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
        let total = (40 + payload.len()) as u16;
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ]);
        f.extend_from_slice(&src.0);
        f.extend_from_slice(&dst.0);
        f.extend_from_slice(&src.1.to_be_bytes());
        f.extend_from_slice(&dst.1.to_be_bytes());
        f.extend_from_slice(&seq[i].to_be_bytes());
        let ack = if flags & 0x10 != 0 { seq[1 - i] } else { 0 };
        f.extend_from_slice(&ack.to_be_bytes());
        f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        seq[i] = seq[i].wrapping_add(payload.len() as u32 + u32::from(flags & 0x03 != 0));
        for v in [
            (t_us / 1_000_000) as u32,
            (t_us % 1_000_000) as u32,
            f.len() as u32,
            f.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&f);
    };
    let t0 = 1_795_000_000_000_000u64;
    frame(&mut out, t0, true, 0x02, b"", &mut seq);
    frame(&mut out, t0 + 100, false, 0x12, b"", &mut seq);
    frame(&mut out, t0 + 200, true, 0x10, b"", &mut seq);
    let mut t = t0 + 1000;
    for i in 0..n {
        let req = format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n");
        frame(&mut out, t, true, 0x18, req.as_bytes(), &mut seq);
        frame(
            &mut out,
            t + 300,
            false,
            0x18,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            &mut seq,
        );
        frame(&mut out, t + 400, true, 0x10, b"", &mut seq);
        t += 1_000_000;
    }
    // The server's keep-alive timeout, then the client reuses the closed connection.
    frame(&mut out, t + 1_000_000, false, 0x11, b"", &mut seq);
    frame(&mut out, t + 1_000_100, true, 0x10, b"", &mut seq);
    frame(
        &mut out,
        t + 1_500_000,
        true,
        0x18,
        b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n",
        &mut seq,
    );
    frame(&mut out, t + 1_500_100, false, 0x04, b"", &mut seq);
    out
}

/// More exchanges than are drawn one by one: the first ones and the latest (the reuse race)
/// are drawn, every request is counted per time slot, and the page still draws cleanly.
#[test]
fn many_http_exchanges_are_aggregated_in_chromium() {
    let n = 150;
    let cap = out_dir().join("many-exchanges.pcap");
    std::fs::write(&cap, many_exchanges_pcap(n)).unwrap();
    let html = out_dir().join("many-exchanges.html");
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("report")
        .arg(&cap)
        .arg("-o")
        .arg(&html)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&html).unwrap();
    let blob: Value = serde_json::from_str(
        between(
            &text,
            "<script id=\"data\" type=\"application/json\">",
            "</script>",
        )
        .unwrap(),
    )
    .unwrap();
    let x = &blob["streams"][0]["exchanges"];
    assert_eq!(x["seen"], n + 1);
    let counted: u64 = x["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(counted, u64::from(n + 1));
    let dom = render(&html).unwrap_or_else(|e| panic!("{}: {e}", html.display()));
    let kept = elements(&dom, "hx").len();
    let race = elements(&dom, "hx race");
    assert_eq!(race.len(), 1);
    assert_eq!(
        kept + 1,
        64,
        "the first 63 exchanges and the reuse race are drawn"
    );
    // The race is the request sent after the server's FIN: the last frame but one.
    let frames = 3 + 3 * n + 4;
    assert_eq!(race[0]["data-frame"], (frames - 1).to_string());
    assert!(!elements(&dom, "hxbar").is_empty());
    assert!(dom.contains(&format!("all {} counted per time slot", n + 1)));
}

/// The rendered timelines, one string per `<div class="stream">`.
fn stream_blocks(dom: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = dom
        .match_indices("<div class=\"stream\"")
        .map(|(i, _)| i)
        .collect();
    let end = dom[starts.last().copied().unwrap_or(0)..]
        .find("</section>")
        .map_or(dom.len(), |e| e + starts.last().copied().unwrap_or(0));
    starts.push(end);
    starts.windows(2).map(|w| &dom[w[0]..w[1]]).collect()
}

/// Count of frames of `capture` matching a display filter, by tshark; `None` without tshark.
fn tshark_count(capture: &Path, filter: &str) -> Option<usize> {
    let out = Command::new("tshark")
        .args(["-r".as_ref(), capture.as_os_str()])
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .ok()?;
    assert!(out.status.success(), "tshark -Y {filter}");
    Some(String::from_utf8_lossy(&out.stdout).lines().count())
}

/// keepalive-dead-peer: the client's kernel probes an idle connection; the peer answers until
/// the script cuts it off, then three probes go unanswered and the kernel resets. The page
/// draws answered and unanswered probes differently, and as many unanswered ones as tshark
/// finds probes without a keep-alive ACK (and as the script counted through TCP_INFO).
#[test]
fn dead_peer_report_draws_unanswered_probes_in_chromium() {
    let dir = repo().join("tests/scenarios/keepalive-dead-peer");
    let truth: Value =
        serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap();
    let capture = dir.join("capture-client.pcapng");
    let html = out_dir().join("keepalive-dead-peer.html");
    keepsight_report(&capture, &dir.join("app.log"), &html);
    let dom = render(&html).unwrap_or_else(|e| panic!("{}: {e}", html.display()));
    let lost = elements(&dom, "ka lost");
    let answered = elements(&dom, "ka ok");
    let expected = truth["expected"]["unanswered_probes"].as_u64().unwrap() as usize;
    assert_eq!(lost.len(), expected, "unanswered probes drawn");
    assert!(!answered.is_empty(), "the answered probes are drawn too");
    // Each answered probe is joined to the ACK that answered it.
    assert_eq!(elements(&dom, "kaack").len(), answered.len());
    match (
        tshark_count(&capture, "tcp.analysis.keep_alive"),
        tshark_count(&capture, "tcp.analysis.keep_alive_ack"),
    ) {
        (Some(probes), Some(acks)) => {
            assert_eq!(
                lost.len(),
                probes - acks,
                "tshark: {probes} probes, {acks} ACKs"
            );
            assert_eq!(answered.len(), acks);
        }
        _ => eprintln!("tshark not installed: compared with truth.json only"),
    }
    // The unanswered ones are the last probes before the reset, one per second as configured.
    let frames: Vec<u32> = lost
        .iter()
        .map(|a| a["data-frame"].parse().unwrap())
        .collect();
    let ok_frames: Vec<u32> = answered
        .iter()
        .map(|a| a["data-frame"].parse().unwrap())
        .collect();
    assert!(
        frames.iter().min() > ok_frames.iter().max(),
        "{frames:?} after {ok_frames:?}"
    );
    assert!(dom.contains(&format!("{} unanswered", expected)));
}

/// Exit statuses and messages for bad input, without a browser: a damaged capture still gets
/// its page (saying where reading stopped) and exits 1; an output that cannot be created fails
/// before the capture is read (exit 3), as does a missing capture; an empty file exits 1.
#[test]
fn report_exit_statuses() {
    let dir = repo().join("crates/diagnose/incident");
    let run = |args: &[&std::ffi::OsStr]| {
        Command::new(env!("CARGO_BIN_EXE_keepsight"))
            .arg("report")
            .args(args)
            .output()
            .expect("run keepsight")
    };
    let capture = std::fs::read(dir.join("capture.pcapng")).unwrap();
    let cut = out_dir().join("cut.pcapng");
    std::fs::write(&cut, &capture[..capture.len() * 2 / 3]).unwrap();
    let html = out_dir().join("cut.html");
    let out = run(&[cut.as_os_str(), "-o".as_ref(), html.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("The capture is damaged: frame "),
        "no damage note"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("the frames before it were analysed"));

    let bad_out = out_dir().join("no-such-dir/r.html");
    let out = run(&[
        dir.join("capture.pcapng").as_os_str(),
        "-o".as_ref(),
        bad_out.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-dir/r.html"));

    let missing = out_dir().join("missing.pcap");
    let out = run(&[missing.as_os_str(), "-o".as_ref(), html.as_os_str()]);
    assert_eq!(out.status.code(), Some(3));

    let empty = out_dir().join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let out = run(&[empty.as_os_str(), "-o".as_ref(), html.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty"));
}

/// The reconnect-refused scenario: the page draws, its connection attempts section shows the
/// storm and the refusals as the driver recorded them (truth.json), and the refused attempts are
/// not listed among the connections that were reset.
#[test]
fn reconnect_storm_report_lists_the_attempts_not_as_resets() {
    let dir = repo().join("tests/scenarios/reconnect-refused");
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap();
    let refused = truth["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["outcome"] == "refused")
        .count();
    let html = out_dir().join("reconnect-refused.html");
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("report")
        .arg(dir.join("capture.pcapng"))
        .arg("-o")
        .arg(&html)
        .output()
        .expect("run keepsight");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = render(&html).unwrap_or_else(|e| panic!("{e}"));
    let section =
        between(&dom, "<section id=\"attempts\">", "</section>").expect("attempts section");
    let rows: Vec<&str> = section.split("<tr>").skip(2).collect();
    let row = |kind: &str| -> &str {
        rows.iter()
            .find(|r| r.contains(kind))
            .unwrap_or_else(|| panic!("no {kind} row in {section}"))
    };
    let server = truth["server"].as_str().unwrap();
    let host = server.split(':').next().unwrap();
    assert!(row("connection_refused")
        .contains(&format!("<td>{host} (ports 8100)</td><td>{refused}</td>")));
    let storm = row("reconnect_storm");
    assert!(storm.contains(&format!("<td>{refused}</td>")), "{storm}");
    assert!(storm.contains("exponential backoff"), "{storm}");
    assert!(storm.contains(server), "{storm}");
    let kills = between(&dom, "Connections that were reset (", ")").expect("the reset table");
    assert_eq!(kills, "1", "only the first connection was reset");
}
