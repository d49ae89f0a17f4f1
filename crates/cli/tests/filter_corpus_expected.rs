//! `keepsight packets -Y` against the match lists tshark 4.0.17 recorded for the corpus
//! (tests/corpus/expected/filters.tsv: capture, filter, count, frames — made by
//! tests/corpus/make/filters.sh). Unlike filter_oracle.rs this needs no tshark, so it also
//! guards machines without it.
//!
//! A filter keepsight cannot compile must be listed in tests/filters/pending.txt (tshark
//! accepts it, keepsight does not support it yet) or tests/filters/reject.txt (tshark rejects it
//! too; the recording script then wrote "0 matches"). Disagreements listed in
//! tests/filters/known-diffs.txt are printed as KNOWN instead of failing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// (filter index, matching frames or the compile error).
type Outcome = (usize, Result<Vec<u32>, String>);
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

struct Row {
    capture: String,
    filter: String,
    frames: Vec<u32>,
}

fn keepsight_y(cap: &Path, filter: &str) -> Result<Vec<u32>, String> {
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
    if out.status.success() {
        let mut v: Vec<u32> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        v.sort_unstable();
        Ok(v)
    } else {
        Err(format!(
            "exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace('\n', " | ")
        ))
    }
}

#[test]
fn keepsight_matches_the_recorded_tshark_lists() {
    let table = root().join("tests/corpus/expected/filters.tsv");
    let text =
        std::fs::read_to_string(&table).unwrap_or_else(|e| panic!("{}: {e}", table.display()));
    let rows: Vec<Row> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut it = l.split('\t');
            let (capture, filter, _count, frames) =
                (it.next()?, it.next()?, it.next()?, it.next()?);
            let frames = if frames == "-" {
                Vec::new()
            } else {
                let mut v: Vec<u32> = frames.split(',').filter_map(|f| f.parse().ok()).collect();
                v.sort_unstable();
                v
            };
            Some(Row {
                capture: capture.to_string(),
                filter: filter.to_string(),
                frames,
            })
        })
        .collect();
    assert!(!rows.is_empty(), "{} has no rows", table.display());

    let pending = lines(&root().join("tests/filters/pending.txt"));
    let reject = lines(&root().join("tests/filters/reject.txt"));
    let known: Vec<(String, String)> = lines(&root().join("tests/filters/known-diffs.txt"))
        .iter()
        .filter_map(|l| {
            let mut it = l.split('\t');
            Some((it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect();

    let mut problems = Vec::new();
    let mut skipped = std::collections::BTreeSet::new();
    let mut runnable = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        match keepsight_filter::Filter::compile(&r.filter) {
            Ok(_) => runnable.push(i),
            Err(e) => {
                if pending.contains(&r.filter) || reject.contains(&r.filter) {
                    skipped.insert(r.filter.clone());
                } else if skipped.insert(r.filter.clone()) {
                    problems.push(format!(
                        "`{}` does not compile and is in neither pending.txt nor reject.txt: {}",
                        r.filter,
                        e.message()
                    ));
                }
            }
        }
    }

    let corpus = root().join("tests/corpus");
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |p| p.get());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = runnable.get(k) else { break };
                let r = &rows[i];
                let got = keepsight_y(&corpus.join(&r.capture), &r.filter);
                results.lock().expect("no worker panicked").push((i, got));
            });
        }
    });
    let mut results = results.into_inner().expect("no worker panicked");
    results.sort_by_key(|(i, _)| *i);

    let mut agree = 0;
    let mut known_hits = 0;
    for (i, got) in results {
        let r = &rows[i];
        let line = match got {
            Ok(v) if v == r.frames => {
                agree += 1;
                continue;
            }
            Ok(v) => {
                let only_t: Vec<u32> = r
                    .frames
                    .iter()
                    .filter(|x| v.binary_search(x).is_err())
                    .copied()
                    .collect();
                let only_k: Vec<u32> = v
                    .iter()
                    .filter(|x| r.frames.binary_search(x).is_err())
                    .copied()
                    .collect();
                format!(
                    "DIFF {} `{}`: only tshark {:?} / only keepsight {:?}",
                    r.capture,
                    r.filter,
                    &only_t[..only_t.len().min(20)],
                    &only_k[..only_k.len().min(20)]
                )
            }
            Err(e) => format!("FAIL {} `{}`: {e}", r.capture, r.filter),
        };
        let is_known = known.iter().any(|(kc, kf)| {
            *kf == r.filter && format!("corpus/{}", r.capture).ends_with(kc.as_str())
        });
        if is_known {
            known_hits += 1;
            println!("KNOWN {line}");
        } else {
            problems.push(line);
        }
    }
    println!(
        "recorded tshark lists: {} rows, {agree} agree, {known_hits} known, {} problems; \
         {} filters skipped (pending or rejected by tshark too): {:?}",
        rows.len(),
        problems.len(),
        skipped.len(),
        skipped
    );
    assert!(
        problems.is_empty(),
        "{} disagreements with tshark's recorded lists:\n{}",
        problems.len(),
        problems
            .iter()
            .take(60)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
