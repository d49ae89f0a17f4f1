//! Differential test of `keepsight packets -Y` against tshark 4.0.17, the oracle.
//!
//! For every capture (tests/filters/*.pcap and the corpus captures listed in
//! tests/corpus/MANIFEST.tsv) and every filter in tests/filters/accept.txt, the frame numbers
//! `keepsight packets CAP -Y FILTER -T fields -e frame.number` prints must equal the frames
//! tshark's display-filter engine selects. Every filter in tests/filters/reject.txt must be
//! rejected by both. When tshark is not installed the test says so and passes without checking.
//!
//! Cost: tshark starts once per capture, not once per filter: tests/filters/batch.lua registers
//! one tap listener per filter (taps use the same filter engine as -Y). Two things taps see
//! differently from -Y (checked over the whole list on two captures): `frame.time_delta_displayed`
//! (every frame is "displayed" to a tap) and `len()` of a protocol (a tap sees the layer's bytes,
//! -Y its header), so filters naming those go through a real `tshark -Y`. keepsight runs once per
//! (capture, filter), on all cores.
//!
//! By default the captures are tests/filters/*.pcap, tests/corpus/crafted/frag/*.pcap (TCP inside
//! IP fragments), the corpus's top-level real captures, the synthetic 1200-frame capture and the
//! VLAN variant (about two minutes on two cores).
//! KEEPSIGHT_ORACLE_CAPTURES=all takes every MANIFEST capture; =substr,substr picks by name.
//! KEEPSIGHT_ORACLE_FILTER=substr restricts the filters (to reproduce one disagreement).
//!
//! tests/filters/known-diffs.txt lists disagreements owned outside the filter engine (the
//! capture pipeline's protocol values, reassembly, heuristics); they are printed as KNOWN, not
//! failed. tests/filters/pending.txt lists filters tshark accepts that keepsight cannot compile
//! yet (HTTP fields, the layer operator, look-behind regexes): tshark must still accept them.

mod common;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn list(name: &str) -> Vec<String> {
    let path = root().join("tests/filters").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let only = std::env::var("KEEPSIGHT_ORACLE_FILTER").ok();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter(|l| only.as_deref().is_none_or(|o| l.contains(o)))
        .map(str::to_string)
        .collect()
}

fn captures() -> Vec<PathBuf> {
    let mut caps: Vec<PathBuf> = Vec::new();
    // TCP inside IP fragments (tests/corpus/crafted/make.py) next to the filter engine's own.
    for own in [
        root().join("tests/filters"),
        root().join("tests/corpus/crafted/frag"),
    ] {
        let Ok(rd) = std::fs::read_dir(&own) else {
            continue;
        };
        let mut v: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .collect();
        v.sort();
        caps.extend(v);
    }
    let corpus = root().join("tests/corpus");
    match std::fs::read_to_string(corpus.join("MANIFEST.tsv")) {
        Ok(m) => {
            for line in m.lines().skip(1) {
                if let Some(name) = line.split('\t').next().filter(|n| !n.is_empty()) {
                    let p = corpus.join(name);
                    if p.exists() {
                        caps.push(p);
                    }
                }
            }
        }
        Err(_) => {
            if let Ok(rd) = std::fs::read_dir(&corpus) {
                let mut v: Vec<PathBuf> = rd
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        let n = p.to_string_lossy();
                        n.ends_with(".pcap") || n.ends_with(".pcapng") || n.ends_with(".gz")
                    })
                    .collect();
                v.sort();
                caps.extend(v);
            }
        }
    }
    match std::env::var("KEEPSIGHT_ORACLE_CAPTURES") {
        Ok(all) if all == "all" => {}
        Ok(only) => {
            let keys: Vec<&str> = only.split(',').filter(|s| !s.is_empty()).collect();
            caps.retain(|c| keys.iter().any(|k| c.to_string_lossy().contains(k)));
        }
        Err(_) => caps.retain(|c| {
            let rel = c
                .strip_prefix(&corpus)
                .map(|r| r.to_string_lossy().into_owned());
            match rel {
                Ok(r) => {
                    !r.contains('/')
                        || r == "synth/synth-1200.pcap"
                        || r == "link/heartbeat-vlan.pcap"
                        || r.starts_with("crafted/frag/")
                }
                Err(_) => true,
            }
        }),
    }
    caps
}

type Verdict = Result<Vec<u32>, String>;

/// (capture path suffix, filter) pairs of known-diffs.txt.
fn known_diffs() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(root().join("tests/filters/known-diffs.txt")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut it = l.split('\t');
            Some((it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect()
}

fn frames(stdout: &[u8]) -> Vec<u32> {
    let mut v: Vec<u32> = String::from_utf8_lossy(stdout)
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    v.sort_unstable();
    v
}

/// tshark's verdict for every filter on one capture, in one pass.
fn tshark_batch(cap: &Path, filters: &[String], tag: usize) -> Vec<Verdict> {
    let filters: Vec<&str> = filters.iter().map(String::as_str).collect();
    common::tshark_filter_batch(cap, &filters, &format!("oracle-{tag}"))
        .iter()
        .map(|l| match l.split_once('\t') {
            Some(("OK", nums)) => Ok(frames(nums.as_bytes())),
            Some((_, msg)) => Err(msg.to_string()),
            None => Err(l.to_string()),
        })
        .collect()
}

/// The captures on which the filters that need a real `tshark -Y` are checked: one tshark start
/// per filter is too slow to pay on every capture.
const REAL_Y_CAPTURES: [&str; 5] = [
    "filters.pcap",
    "extents.pcap",
    "heartbeat.pcap",
    "keepalive.pcapng",
    "ipv6-mixed.pcapng",
];
const NOT_CHECKED: &str = "not checked on this capture";

/// Filters on which a tap listener and -Y disagree in tshark itself (see the top of the file).
fn needs_real_y(filter: &str) -> bool {
    const PROTOCOL_LEN: [&str; 12] = [
        "len(tcp)",
        "len(ip)",
        "len(ipv6)",
        "len(eth)",
        "len(udp)",
        "len(frame)",
        "len(vlan)",
        "len(sll)",
        "len(null)",
        "len(arp)",
        "len(icmp)",
        "len(icmpv6)",
    ];
    filter.contains("frame.time_delta_displayed")
        || PROTOCOL_LEN.iter().any(|p| filter.contains(p))
        || protocol_used_as_value(filter)
}

/// True when `tcp` or `ipv6` appears as a value (sliced, compared, in a set, as an operand)
/// rather than tested for presence or searched. Those two protocols set their item's length
/// after creating it (`tcp` to its header, `ipv6` to include extension headers): `-Y` sees the
/// final length, a tap listener the first (`tcp[-1:] == 00` differs on every TCP segment with a
/// payload), so they need a real `tshark -Y`. `contains`/`matches` search the layer's data and
/// agree in both.
fn protocol_used_as_value(filter: &str) -> bool {
    // Blank out string literals first: `frame.protocols == "eth:ethertype:ip:tcp"` names no field.
    let mut text = String::with_capacity(filter.len());
    let (mut quoted, mut escaped) = (false, false);
    for c in filter.chars() {
        let in_string = quoted;
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
        } else if c == '"' {
            quoted = true;
        }
        text.push(if in_string { ' ' } else { c });
    }
    let filter = text.as_str();
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-';
    for proto in ["tcp", "ipv6"] {
        for (at, _) in filter.match_indices(proto) {
            let before = &filter[..at];
            let after = &filter[at + proto.len()..];
            if before.ends_with(is_word) || after.starts_with(is_word) {
                continue;
            }
            let next = after.trim_start();
            let searched = ["contains", "matches", "~"]
                .iter()
                .any(|k| next.starts_with(k));
            let alone = next.is_empty()
                || [")", "&&", "||", "and", "or", "xor", "^^", "}"]
                    .iter()
                    .any(|k| next.starts_with(k));
            let prev = before.trim_end();
            let prev_word = prev.rsplit(|c: char| !is_word(c)).next().unwrap_or("");
            let after_logic = prev.is_empty()
                || prev.ends_with(['(', '!', '&', '|', '^'])
                || ["not", "and", "or", "xor", "any", "all"].contains(&prev_word);
            if !(after_logic && (searched || alone)) {
                return true;
            }
        }
    }
    false
}

fn tshark_y(cap: &Path, filter: &str) -> Verdict {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(cap)
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .expect("tshark runs");
    let err = String::from_utf8_lossy(&out.stderr);
    let err: Vec<&str> = err
        .lines()
        .filter(|l| !l.contains("Running as user"))
        .collect();
    if out.status.success() && err.is_empty() {
        Ok(frames(&out.stdout))
    } else {
        Err(err.join(" "))
    }
}

fn keepsight_y(cap: &Path, filter: &str) -> (Verdict, Option<i32>) {
    // A filter starting with `-` (`-tcp.len == -1`) would be taken for an option after `-Y`.
    let y = if filter.starts_with('-') {
        vec![format!("--display-filter={filter}")]
    } else {
        vec!["-Y".to_string(), filter.to_string()]
    };
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("packets")
        .arg(cap)
        .args(&y)
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .expect("keepsight runs");
    let code = out.status.code();
    if out.status.success() {
        (Ok(frames(&out.stdout)), code)
    } else {
        (
            Err(String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace('\n', " | ")),
            code,
        )
    }
}

/// Runs `job(i)` for i in 0..n on every core.
fn parallel<T: Send>(n: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |p| p.get())
        .min(n.max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let r = job(i);
                results.lock().expect("no worker panicked")[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .expect("no worker panicked")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

fn show(v: &[u32]) -> String {
    if v.len() > 20 {
        format!("{:?}... ({} frames)", &v[..20], v.len())
    } else {
        format!("{v:?}")
    }
}

/// What one differential run found.
struct Outcome {
    problems: Vec<String>,
    agree: usize,
    pairs: usize,
    known: usize,
    bad_filters: usize,
    tshark_secs: f64,
}

/// Runs `filters` over `caps` with tshark and keepsight and compares the frames; disagreements
/// listed in known-diffs.txt are printed, not returned. `tag` keeps temp files of concurrently
/// running tests apart.
fn compare_with_tshark(
    filters: &[String],
    caps: &[PathBuf],
    list_name: &str,
    tag: usize,
) -> Outcome {
    let start = Instant::now();
    let accept = filters;
    let oracle: Vec<Vec<Verdict>> = parallel(caps.len(), |i| {
        let mut v = tshark_batch(&caps[i], accept, tag + i);
        let real_y = REAL_Y_CAPTURES.iter().any(|n| caps[i].ends_with(n));
        for (j, f) in accept.iter().enumerate() {
            if needs_real_y(f) {
                v[j] = if real_y {
                    tshark_y(&caps[i], f)
                } else {
                    Err(NOT_CHECKED.to_string())
                };
            }
        }
        v
    });
    let tshark_secs = start.elapsed().as_secs_f64();

    let mut problems: Vec<String> = Vec::new();
    if let Some(first) = oracle.first() {
        for (j, f) in accept.iter().enumerate() {
            match &first[j] {
                Err(msg) if msg == NOT_CHECKED => {}
                // accept.txt is meant to hold valid filters only; in a random list a filter tshark
                // rejects must be rejected by keepsight too.
                Err(msg) if list_name == "accept.txt" => problems.push(format!(
                    "LIST ERROR: tshark rejects `{f}` from {list_name}: {msg}"
                )),
                Err(msg) => {
                    if keepsight_filter::Filter::compile(f).is_ok() {
                        problems.push(format!("ACCEPTED `{f}`: tshark rejects it: {msg}"));
                    }
                }
                Ok(_) => {}
            }
        }
    }

    let pairs: Vec<(usize, usize)> = (0..caps.len())
        .flat_map(|c| (0..accept.len()).map(move |f| (c, f)))
        .filter(|&(c, f)| oracle[c][f].is_ok())
        .collect();
    let ours = parallel(pairs.len(), |k| {
        let (c, f) = pairs[k];
        keepsight_y(&caps[c], &accept[f])
    });

    let known = known_diffs();
    let mut known_hit = vec![false; known.len()];
    let mut known_lines: Vec<String> = Vec::new();
    let mut agree = 0usize;
    let mut bad_filters = BTreeSet::new();
    for (k, (ours, code)) in ours.iter().enumerate() {
        let (c, f) = pairs[k];
        let cap = caps[c]
            .strip_prefix(root())
            .unwrap_or(&caps[c])
            .display()
            .to_string();
        let filter = &accept[f];
        let found = match (&oracle[c][f], ours) {
            (Ok(t), Ok(o)) if t == o => {
                agree += 1;
                None
            }
            (Ok(t), Ok(o)) => {
                let only_t: Vec<u32> = t
                    .iter()
                    .filter(|x| o.binary_search(x).is_err())
                    .copied()
                    .collect();
                let only_o: Vec<u32> = o
                    .iter()
                    .filter(|x| t.binary_search(x).is_err())
                    .copied()
                    .collect();
                Some(format!(
                    "DIFF {cap} `{filter}`: only tshark {} / only keepsight {}",
                    show(&only_t),
                    show(&only_o)
                ))
            }
            (Ok(_), Err(e)) => Some(format!(
                "FAIL {cap} `{filter}`: keepsight exit {code:?}: {e}"
            )),
            (Err(_), _) => None,
        };
        let Some(line) = found else { continue };
        match known
            .iter()
            .position(|(kc, kf)| kf == filter && cap.ends_with(kc.as_str()))
        {
            Some(i) => {
                known_hit[i] = true;
                known_lines.push(format!("KNOWN {line}"));
            }
            None => {
                bad_filters.insert(filter.clone());
                problems.push(line);
            }
        }
    }
    for (i, (kc, kf)) in known.iter().enumerate() {
        let ran = caps
            .iter()
            .any(|c| c.to_string_lossy().ends_with(kc.as_str()))
            && accept.contains(kf);
        if ran && !known_hit[i] {
            println!("FIXED? {kc} `{kf}` agrees with tshark now: remove it from tests/filters/known-diffs.txt");
        }
    }
    for l in &known_lines {
        println!("{l}");
    }

    Outcome {
        problems,
        agree,
        pairs: pairs.len(),
        known: known_lines.len(),
        bad_filters: bad_filters.len(),
        tshark_secs,
    }
}

#[test]
fn keepsight_selects_the_frames_tshark_selects() {
    if !keepsight_testlab::require_tool("tshark") {
        return;
    }
    let start = Instant::now();
    let accept = list("accept.txt");
    let caps = captures();
    assert!(
        !caps.is_empty(),
        "no captures found under tests/filters or tests/corpus"
    );
    let probe = root().join("tests/filters/filters.pcap");

    let outcome = compare_with_tshark(&accept, &caps, "accept.txt", 0);
    let mut problems = outcome.problems;
    let tshark_secs = outcome.tshark_secs;

    let reject = list("reject.txt");
    let tshark_rej = tshark_batch(&probe, &reject, 9999);
    let ours_rej = parallel(reject.len(), |i| keepsight_y(&probe, &reject[i]));
    for (i, f) in reject.iter().enumerate() {
        if tshark_rej[i].is_ok() {
            problems.push(format!("LIST ERROR: tshark accepts `{f}` from reject.txt"));
        }
        match &ours_rej[i] {
            (Err(_), Some(2)) => {}
            (Ok(v), _) => problems.push(format!(
                "ACCEPTED `{f}`: tshark rejects it, keepsight selected {}",
                show(v)
            )),
            (Err(e), code) => problems.push(format!(
                "REJECT `{f}`: keepsight failed with exit {code:?} instead of 2: {e}"
            )),
        }
    }

    let pending = list("pending.txt");
    let tshark_pending = tshark_batch(&probe, &pending, 9998);
    let mut pending_compiles = 0;
    for (i, f) in pending.iter().enumerate() {
        if let Err(e) = &tshark_pending[i] {
            problems.push(format!(
                "LIST ERROR: tshark rejects `{f}` from pending.txt: {e}"
            ));
        }
        if keepsight_filter::Filter::compile(f).is_ok() {
            pending_compiles += 1;
            println!("PENDING `{f}` compiles now: move it to tests/filters/accept.txt");
        }
    }

    println!(
        "display-filter oracle: {} captures x {} filters ({} pairs checked): {} agree, {} disagree \
         ({} distinct filters), {} known (tests/filters/known-diffs.txt); {} rejections checked; \
         {pending_compiles}/{} pending filters compile; tshark {tshark_secs:.1}s, total {:.1}s",
        caps.len(),
        accept.len(),
        outcome.pairs,
        outcome.agree,
        problems.len(),
        outcome.bad_filters,
        outcome.known,
        reject.len(),
        pending.len(),
        start.elapsed().as_secs_f64()
    );
    if !problems.is_empty() {
        let shown: Vec<&str> = problems.iter().take(60).map(String::as_str).collect();
        panic!(
            "{} disagreements with tshark (first {} shown):\n{}",
            problems.len(),
            shown.len(),
            shown.join("\n")
        );
    }
}

/// tests/filters/random.txt: filters drawn at random from a grammar over the registry's fields
/// (tests/filters/gen_random.py, fixed seed), so combinations nobody thought of are compared too.
#[test]
fn random_filters_select_what_tshark_selects() {
    if !keepsight_testlab::require_tool("tshark") {
        return;
    }
    let filters = list("random.txt");
    let caps: Vec<PathBuf> = ["tests/filters/filters.pcap", "tests/corpus/heartbeat.pcap"]
        .iter()
        .map(|c| root().join(c))
        .filter(|c| c.exists())
        .collect();
    let outcome = compare_with_tshark(&filters, &caps, "random.txt", 5000);
    println!(
        "random display filters: {} captures x {} filters ({} pairs checked): {} agree, {} disagree, {} known; tshark {:.1}s",
        caps.len(),
        filters.len(),
        outcome.pairs,
        outcome.agree,
        outcome.problems.len(),
        outcome.known,
        outcome.tshark_secs
    );
    assert!(
        outcome.problems.is_empty(),
        "{} disagreements with tshark (first 60 shown):\n{}",
        outcome.problems.len(),
        outcome
            .problems
            .iter()
            .take(60)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
