//! The scorecard of issue 15: every fact of every scenario (tests/scenarios/MANIFEST.tsv, each
//! scenario's truth.json `facts`, vocabulary in tests/scenarios/FACTS.md) checked against what
//! `keepsight diagnose|http --json` says about the scenario's capture.
//!
//! The facts come from the scenario drivers (what they did, from their own clock and sockets),
//! never from keepsight's output, so a wrong verdict cannot be recorded as right. The evaluator
//! itself is unit-tested on small JSON literals below: a check that is wrongly true would let
//! facts pass silently.

use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios")
}

// ------------------------------------------------------------------------------- conditions

/// Numbers compare as numbers (3 == 3.0); everything else structurally.
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn num(v: &Value, what: &str) -> Result<f64, String> {
    v.as_f64()
        .ok_or_else(|| format!("{what}: not a number: {v}"))
}

/// A count `C`: a number (exactly), `[lo, hi]`, or `{"gt": n}` / `{"lt": n}`.
fn count_ok(n: usize, c: &Value) -> Result<bool, String> {
    let n = n as f64;
    match c {
        Value::Number(_) => Ok(n == num(c, "count")?),
        Value::Array(r) if r.len() == 2 => {
            Ok(num(&r[0], "count")? <= n && n <= num(&r[1], "count")?)
        }
        Value::Object(o) if !o.is_empty() => {
            let mut ok = true;
            for (k, x) in o {
                ok &= match k.as_str() {
                    "gt" => n > num(x, "count gt")?,
                    "lt" => n < num(x, "count lt")?,
                    _ => return Err(format!("unknown count condition {k:?}")),
                };
            }
            Ok(ok)
        }
        _ => Err(format!("bad count {c}")),
    }
}

/// The value at a dotted path; `*` projects every element of an array (the result is an array
/// of the projected values that are present and not null, or None when the array is missing).
fn lookup(v: &Value, path: &str) -> Option<Value> {
    fn go(v: &Value, parts: &[&str]) -> Option<Value> {
        let Some((head, rest)) = parts.split_first() else {
            return Some(v.clone());
        };
        if *head == "*" {
            let arr = v.as_array()?;
            // an element without the field (absent or null) has nothing to check
            let values = arr
                .iter()
                .filter_map(|e| go(e, rest))
                .filter(|v| !v.is_null());
            return Some(Value::Array(values.collect()));
        }
        match v {
            Value::Object(o) => go(o.get(*head)?, rest),
            Value::Array(a) => go(a.get(head.parse::<usize>().ok()?)?, rest),
            _ => None,
        }
    }
    go(v, &path.split('.').collect::<Vec<_>>())
}

/// One condition on one value (`None`: the field is absent). `projected`: the value is the
/// array a `*` path made; scalar, range, lt/gt and matches then hold for every element (and
/// there is at least one), while contains, len and present look at the array itself.
fn cond_ok(actual: Option<&Value>, cond: &Value, projected: bool) -> Result<bool, String> {
    if projected {
        if let Some(Value::Array(items)) = actual {
            let per_element = match cond {
                Value::Object(o) => o
                    .keys()
                    .all(|k| matches!(k.as_str(), "lt" | "gt" | "matches")),
                _ => true,
            };
            if per_element {
                if items.is_empty() {
                    return Ok(false);
                }
                for it in items {
                    if !cond_ok(Some(it), cond, false)? {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
        }
    }
    match cond {
        Value::Array(r) => {
            if r.len() != 2 {
                return Err(format!("a range needs [lo, hi], got {cond}"));
            }
            let (lo, hi) = (num(&r[0], "range")?, num(&r[1], "range")?);
            Ok(actual
                .and_then(Value::as_f64)
                .is_some_and(|x| lo <= x && x <= hi))
        }
        Value::Object(o) => {
            if o.is_empty() {
                return Err("empty condition {}".into());
            }
            let mut ok = true;
            for (k, x) in o {
                ok &= match k.as_str() {
                    "contains" => match actual {
                        Some(Value::String(s)) => {
                            let t = x.as_str().ok_or("contains needs a string")?;
                            s.to_lowercase().contains(&t.to_lowercase())
                        }
                        Some(Value::Array(a)) => a.iter().any(|e| same(e, x)),
                        _ => false,
                    },
                    "matches" => {
                        let re = Regex::new(x.as_str().ok_or("matches needs a string")?)
                            .map_err(|e| format!("bad regex {x}: {e}"))?;
                        actual
                            .and_then(Value::as_str)
                            .is_some_and(|s| re.is_match(s))
                    }
                    "present" => {
                        let want = x.as_bool().ok_or("present needs true or false")?;
                        let is = actual.is_some_and(|a| !a.is_null());
                        is == want
                    }
                    "len" => match actual {
                        Some(Value::Array(a)) => count_ok(a.len(), x)?,
                        _ => false,
                    },
                    "lt" => actual
                        .and_then(Value::as_f64)
                        .is_some_and(|v| v < x.as_f64().unwrap_or(f64::NAN)),
                    "gt" => actual
                        .and_then(Value::as_f64)
                        .is_some_and(|v| v > x.as_f64().unwrap_or(f64::NAN)),
                    _ => return Err(format!("unknown condition {k:?}")),
                };
            }
            Ok(ok)
        }
        scalar => Ok(match actual {
            Some(a) => same(a, scalar),
            None => scalar.is_null(),
        }),
    }
}

/// `W`: every field's condition holds on `obj`.
fn where_ok(obj: &Value, w: Option<&Value>) -> Result<bool, String> {
    let Some(w) = w else { return Ok(true) };
    let w = w
        .as_object()
        .ok_or_else(|| format!("where must be an object: {w}"))?;
    for (path, cond) in w {
        let actual = lookup(obj, path);
        if !cond_ok(actual.as_ref(), cond, path.split('.').any(|p| p == "*"))? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The fields a where names, from `obj`, to show what was there instead.
fn shown(obj: &Value, w: Option<&Value>) -> String {
    let mut parts = Vec::new();
    if let Some(kind) = obj.get("kind").and_then(Value::as_str) {
        parts.push(format!("kind={kind}"));
    }
    for k in ["stream", "streams", "line"] {
        if let Some(v) = obj.get(k) {
            parts.push(format!("{k}={v}"));
        }
    }
    if let Some(w) = w.and_then(Value::as_object) {
        for path in w.keys() {
            let v = lookup(obj, path).map_or("absent".to_string(), |v| v.to_string());
            parts.push(format!("{path}={}", clip(&v, 160)));
        }
    }
    format!("{{{}}}", parts.join(" "))
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

// ------------------------------------------------------------------------- stream selection

/// Port of an `ip:port` / `[v6]:port` endpoint.
fn port_of(ep: &str) -> Option<u64> {
    ep.rsplit(':').next()?.parse().ok()
}

/// The streams (diagnose `streams[]`, http `connections[]`) an endpoint selector picks.
fn select(out: &Value, sel: &Value) -> Result<Vec<u64>, String> {
    let sel = sel
        .as_object()
        .ok_or_else(|| format!("conn must be an object: {sel}"))?;
    if sel.is_empty() {
        return Err("empty conn selector".into());
    }
    let mut picked = Vec::new();
    for s in streams(out) {
        let (client, server) = endpoints(s);
        let mut ok = true;
        for (k, v) in sel {
            ok &= match k.as_str() {
                "client_port" => client.and_then(port_of).is_some_and(|p| same(&p.into(), v)),
                "server_port" => server.and_then(port_of).is_some_and(|p| same(&p.into(), v)),
                "client" => client.is_some_and(|c| Some(c) == v.as_str()),
                "server" => server.is_some_and(|c| Some(c) == v.as_str()),
                _ => return Err(format!("unknown conn key {k:?}")),
            };
        }
        if ok {
            picked.push(
                s.get("stream")
                    .and_then(Value::as_u64)
                    .ok_or("stream without number")?,
            );
        }
    }
    if picked.is_empty() {
        return Err(format!(
            "no stream matches conn {}",
            Value::Object(sel.clone())
        ));
    }
    Ok(picked)
}

fn streams(out: &Value) -> Vec<&Value> {
    let list = out.get("streams").or_else(|| out.get("connections"));
    list.and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn endpoints(s: &Value) -> (Option<&str>, Option<&str>) {
    match s.get("endpoints") {
        Some(e) => (
            e.get("client").and_then(Value::as_str),
            e.get("server").and_then(Value::as_str),
        ),
        None => (
            s.get("client").and_then(Value::as_str),
            s.get("server").and_then(Value::as_str),
        ),
    }
}

fn stream_obj(out: &Value, id: u64) -> Option<&Value> {
    streams(out)
        .into_iter()
        .find(|s| s.get("stream").and_then(Value::as_u64) == Some(id))
}

/// The streams a finding names (`stream`, or several in `streams`).
fn finding_streams(f: &Value) -> Vec<u64> {
    let mut v: Vec<u64> = f
        .get("streams")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    if let Some(s) = f.get("stream").and_then(Value::as_u64) {
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v
}

fn findings<'a>(out: &'a Value, kind: &str) -> Vec<&'a Value> {
    out.get("findings")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|f| f.get("kind").and_then(Value::as_str) == Some(kind))
                .collect()
        })
        .unwrap_or_default()
}

fn kinds_present(out: &Value) -> String {
    let mut k: Vec<&str> = out
        .get("findings")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.get("kind").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    k.sort_unstable();
    k.dedup();
    k.join(",")
}

// ------------------------------------------------------------------------------------ checks

/// Evaluates one check of FACTS.md on a command's JSON output: Ok(()) when the fact holds,
/// Err(what was there instead) when not (or when the check itself is malformed).
fn evaluate(out: &Value, check: &Value) -> Result<(), String> {
    let c = check.as_object().ok_or("check must be an object")?;
    let w = c.get("where");
    let conn = |key: &str| -> Result<Option<Vec<u64>>, String> {
        c.get(key).map(|s| select(out, s)).transpose()
    };
    let known = |keys: &[&str]| -> Result<(), String> {
        match c.keys().find(|k| !keys.contains(&k.as_str())) {
            Some(k) => Err(format!("unknown key {k:?} in check")),
            None => Ok(()),
        }
    };
    if let Some(kind) = c.get("finding").or_else(|| c.get("no_finding")) {
        let negative = c.contains_key("no_finding");
        known(&["finding", "no_finding", "conn", "where", "count"])?;
        if negative && c.contains_key("count") {
            return Err("no_finding takes no count".into());
        }
        let kind = kind.as_str().ok_or("finding kind must be a string")?;
        let sel = conn("conn")?;
        let on_sel: Vec<&Value> = findings(out, kind)
            .into_iter()
            .filter(|f| {
                sel.as_ref()
                    .is_none_or(|s| finding_streams(f).iter().any(|x| s.contains(x)))
            })
            .collect();
        let mut hits = Vec::new();
        for f in &on_sel {
            if where_ok(f, w)? {
                hits.push(*f);
            }
        }
        let ok = if negative {
            hits.is_empty()
        } else {
            count_ok(
                hits.len(),
                c.get("count").unwrap_or(&serde_json::json!({"gt": 0})),
            )?
        };
        if ok {
            return Ok(());
        }
        let listed: Vec<String> = if negative { &hits } else { &on_sel }
            .iter()
            .take(4)
            .map(|f| shown(f, w))
            .collect();
        return Err(if on_sel.is_empty() {
            format!(
                "no {kind} finding{} (kinds present: {})",
                if sel.is_some() {
                    " on the selected streams"
                } else {
                    ""
                },
                kinds_present(out)
            )
        } else {
            format!(
                "{} matching of {} {kind} finding(s): {}",
                hits.len(),
                on_sel.len(),
                listed.join("; ")
            )
        });
    }
    if let Some(sel) = c.get("heartbeat") {
        known(&["heartbeat", "where", "none"])?;
        let ids = select(out, sel)?;
        let none = c.get("none").and_then(Value::as_bool).unwrap_or(false);
        for id in ids {
            let hb = stream_obj(out, id)
                .and_then(|s| s.get("heartbeat"))
                .filter(|h| !h.is_null());
            match (hb, none) {
                (Some(h), true) => {
                    return Err(format!(
                        "stream {id} has heartbeat {}",
                        shown(
                            h,
                            Some(&serde_json::json!({"sender":0,"probe_hex":0,"period_s":0}))
                        )
                    ))
                }
                (None, false) => return Err(format!("stream {id} has no heartbeat")),
                (Some(h), false) if !where_ok(h, w)? => {
                    return Err(format!("stream {id} heartbeat {}", shown(h, w)))
                }
                _ => {}
            }
        }
        return Ok(());
    }
    if let Some(sel) = c.get("close") {
        known(&["close", "where"])?;
        for id in select(out, sel)? {
            let cl = stream_obj(out, id)
                .and_then(|s| s.get("close"))
                .filter(|x| !x.is_null());
            match cl {
                None => return Err(format!("stream {id} has no close")),
                Some(cl) if !where_ok(cl, w)? => {
                    return Err(format!("stream {id} close {}", shown(cl, w)))
                }
                _ => {}
            }
        }
        return Ok(());
    }
    if let Some(sel) = c.get("keepalive") {
        known(&["keepalive", "where"])?;
        let mut seen = Vec::new();
        for id in select(out, sel)? {
            let list = stream_obj(out, id)
                .and_then(|s| s.get("tcp_keepalive"))
                .and_then(Value::as_array);
            for k in list.into_iter().flatten() {
                if where_ok(k, w)? {
                    return Ok(());
                }
                seen.push(shown(k, w));
            }
        }
        return Err(format!(
            "no tcp_keepalive entry matches; entries: [{}]",
            seen.join("; ")
        ));
    }
    if let Some(lw) = c.get("log") {
        known(&["log", "index"])?;
        // `index` k: the k-th of several `--log` (the top-level `logs` array).
        let log = match c.get("index") {
            Some(k) => k
                .as_u64()
                .and_then(|i| out.get("logs")?.get(i as usize))
                .ok_or(format!("no logs[{k}]"))?,
            None => out
                .get("log")
                .filter(|l| !l.is_null())
                .ok_or("no log object")?,
        };
        return if where_ok(log, Some(lw))? {
            Ok(())
        } else {
            Err(format!("log {}", shown(log, Some(lw))))
        };
    }
    if let Some(n) = c.get("log_line") {
        known(&["log_line", "conn", "kinds_any", "file"])?;
        let sel = conn("conn")?;
        // `file`: the line of that `--log` (findings name their file when several were given).
        let matches: Vec<&Value> = findings(out, "log_match")
            .into_iter()
            .filter(|f| f.get("line").is_some_and(|l| same(l, n)))
            .filter(|f| {
                c.get("file")
                    .is_none_or(|want| f.get("log_file") == Some(want))
            })
            .collect();
        for f in &matches {
            let streams_ok = sel.as_ref().is_none_or(|s| {
                // as sets: a finding may name the same stream once per matched event
                let mut a = finding_streams(f);
                let mut b = s.clone();
                for v in [&mut a, &mut b] {
                    v.sort_unstable();
                    v.dedup();
                }
                a == b
            });
            let kinds_ok = match c.get("kinds_any").and_then(Value::as_array) {
                None => true,
                Some(ks) => f
                    .get("matched_kinds")
                    .and_then(Value::as_array)
                    .is_some_and(|m| m.iter().any(|x| ks.contains(x))),
            };
            if streams_ok && kinds_ok {
                return Ok(());
            }
        }
        return Err(if matches.is_empty() {
            format!(
                "line {n} matched nothing (log: {})",
                out.get("log").map_or("null".into(), |l| clip(
                    &shown(
                        l,
                        Some(&serde_json::json!({"matched":0,"clock_offset_s":0,"zone":0}))
                    ),
                    200
                ))
            )
        } else {
            let sel_s = sel.map_or(String::new(), |s| format!(" (selected streams {s:?})"));
            format!(
                "line {n} matched{sel_s}: {}",
                matches
                    .iter()
                    .map(|f| shown(f, Some(&serde_json::json!({"matched_kinds": 0}))))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        });
    }
    if let Some(n) = c.get("no_log_line") {
        known(&["no_log_line"])?;
        let m: Vec<&Value> = findings(out, "log_match")
            .into_iter()
            .filter(|f| f.get("line").is_some_and(|l| same(l, n)))
            .collect();
        return if m.is_empty() {
            Ok(())
        } else {
            Err(format!("line {n} matched {}", shown(m[0], None)))
        };
    }
    if let Some(cause) = c.get("cause").or_else(|| c.get("no_cause")) {
        let negative = c.contains_key("no_cause");
        known(&["cause", "no_cause", "by", "conn", "count"])?;
        let sel = conn("conn")?;
        let all: Vec<&Value> = out
            .get("causes")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let of_kind: Vec<&Value> = all
            .iter()
            .copied()
            .filter(|e| e.get("cause").is_some_and(|x| same(x, cause)))
            .filter(|e| {
                c.get("by")
                    .is_none_or(|b| e.get("by").is_some_and(|x| same(x, b)))
            })
            .collect();
        let hit = of_kind.iter().any(|e| {
            let streams: Vec<u64> = e
                .get("streams")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            let streams_ok = sel
                .as_ref()
                .is_none_or(|s| s.iter().all(|x| streams.contains(x)));
            let count_fits = match c.get("count") {
                None => Ok(true),
                Some(cnt) => e
                    .get("connections")
                    .and_then(Value::as_u64)
                    .map_or(Ok(false), |n| count_ok(n as usize, cnt)),
            };
            streams_ok && count_fits.unwrap_or(false)
        });
        let ok = if negative { of_kind.is_empty() } else { hit };
        if ok {
            return Ok(());
        }
        let causes: Vec<String> = all
            .iter()
            .map(|e| {
                format!(
                    "{}/{}: {} conn {}",
                    e.get("cause").unwrap_or(&Value::Null),
                    e.get("by").unwrap_or(&Value::Null),
                    e.get("connections").unwrap_or(&Value::Null),
                    e.get("streams").unwrap_or(&Value::Null)
                )
            })
            .collect();
        return Err(if out.get("causes").is_none() {
            "no causes array".into()
        } else {
            format!("causes: [{}]", causes.join("; "))
        });
    }
    if let Some(server) = c.get("http_server") {
        known(&["http_server", "where"])?;
        let list = out
            .get("servers")
            .and_then(Value::as_array)
            .ok_or("no servers array")?;
        let s = list
            .iter()
            .find(|s| s.get("server") == Some(server))
            .ok_or_else(|| {
                format!(
                    "no server {server} (servers: {})",
                    list.iter()
                        .filter_map(|s| s.get("server"))
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            })?;
        return if where_ok(s, w)? {
            Ok(())
        } else {
            Err(format!("server {}", shown(s, w)))
        };
    }
    if let Some(sel) = c.get("http_connection") {
        known(&["http_connection", "where"])?;
        for id in select(out, sel)? {
            let s = stream_obj(out, id).ok_or("selected connection vanished")?;
            if !where_ok(s, w)? {
                return Err(format!("connection {}", shown(s, w)));
            }
        }
        return Ok(());
    }
    Err(format!("unknown check {check}"))
}

// ------------------------------------------------------------------------------- the runs

#[derive(Hash, PartialEq, Eq, Clone)]
struct Run {
    dir: PathBuf,
    capture: String,
    command: String,
    args: Vec<String>,
}

/// Runs `keepsight COMMAND CAPTURE --json ARGS` in the scenario's directory (so the capture and
/// file arguments are relative to it) and parses its JSON.
fn run(r: &Run) -> Result<Value, String> {
    if !matches!(r.command.as_str(), "diagnose" | "http") {
        return Err(format!("unknown command {:?}", r.command));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .current_dir(&r.dir)
        .arg(&r.command)
        .arg(&r.capture)
        .arg("--json")
        .args(&r.args)
        .output()
        .map_err(|e| format!("cannot run keepsight: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "keepsight {} failed: {}",
            r.command,
            clip(String::from_utf8_lossy(&out.stderr).trim(), 300)
        ));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("keepsight {} printed no JSON: {e}", r.command))
}

struct Row {
    scenario: String,
    dir: PathBuf,
    truth: PathBuf,
}

fn manifest() -> Vec<Row> {
    let text = std::fs::read_to_string(scenarios().join("MANIFEST.tsv"))
        .expect("tests/scenarios/MANIFEST.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("MANIFEST header").split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("MANIFEST has no {name} column"))
    };
    let (cs, cd, ct) = (col("scenario"), col("dir"), col("truth"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                scenario: f[cs].to_string(),
                dir: scenarios().join(f[cd]),
                truth: scenarios().join(f[ct]),
            }
        })
        .collect()
}

#[test]
fn scorecard() {
    let mut cache: HashMap<Run, Result<Value, String>> = HashMap::new();
    let (mut right_all, mut total_all) = (0usize, 0usize);
    let mut lines = Vec::new();
    for row in manifest() {
        let truth: Value = serde_json::from_slice(
            &std::fs::read(&row.truth).unwrap_or_else(|e| panic!("{}: {e}", row.truth.display())),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", row.truth.display()));
        let facts = truth
            .get("facts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if facts.is_empty() {
            // a scenario nobody states facts about proves nothing: count it as one wrong fact
            lines.push(format!("WRONG {}: truth.json has no facts", row.scenario));
            total_all += 1;
            continue;
        }
        let mut right = 0;
        for fact in &facts {
            let id = fact
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("(fact without id)");
            let key = Run {
                dir: row.dir.clone(),
                capture: fact
                    .get("capture")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                command: fact
                    .get("command")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                args: fact
                    .get("args")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            let out = cache.entry(key.clone()).or_insert_with(|| run(&key));
            let verdict = match (&*out, fact.get("check")) {
                (Err(e), _) => Err(e.clone()),
                (_, None) => Err("fact has no check".to_string()),
                (Ok(v), Some(check)) => evaluate(v, check),
            };
            match verdict {
                Ok(()) => right += 1,
                Err(actual) => lines.push(format!(
                    "WRONG {}: {id}: {}",
                    row.scenario,
                    clip(&actual, 600)
                )),
            }
        }
        lines.push(format!(
            "{}: {right} of {} facts right",
            row.scenario,
            facts.len()
        ));
        right_all += right;
        total_all += facts.len();
    }
    for l in &lines {
        println!("{l}");
    }
    println!("scorecard: {right_all} of {total_all} facts right");
    assert_eq!(
        right_all,
        total_all,
        "{} of {total_all} facts are wrong (lines above)",
        total_all - right_all
    );
}

// --------------------------------------------------------------- the evaluator's own tests

#[cfg(test)]
mod evaluator {
    use super::*;
    use serde_json::json;

    fn diag() -> Value {
        json!({
            "streams": [
                {"stream": 0, "endpoints": {"client": "10.0.0.2:40000", "server": "10.0.0.1:80"},
                 "close": {"kind": "rst", "by": "client"},
                 "heartbeat": {"sender": "client", "probe_hex": "01", "period_s": 3.0},
                 "tcp_keepalive": [{"idle_s": 2.0, "count": 3}]},
                {"stream": 1, "endpoints": {"client": "10.0.0.3:40001", "server": "10.0.0.1:80"},
                 "close": null, "heartbeat": null, "tcp_keepalive": []},
                {"stream": 2, "endpoints": {"client": "[fe80::1]:40002", "server": "[fe80::2]:443"},
                 "close": {"kind": "fin", "by": "server"}, "heartbeat": null, "tcp_keepalive": []}
            ],
            "findings": [
                {"kind": "late_heartbeat", "stream": 0, "gap_s": 3.9, "message": "Probe sent LATE"},
                {"kind": "late_heartbeat", "stream": 1, "gap_s": 7.0},
                {"kind": "log_match", "stream": 0, "streams": [0], "line": 4, "matched_kinds": ["late_heartbeat"]},
                {"kind": "log_match", "stream": 0, "streams": [0, 1], "line": 5, "matched_kinds": ["connection_reset"]},
                {"kind": "http_reuse_race", "stream": 2,
                 "advice": [{"setting": "Transport.IdleConnTimeout", "value_s": 1.5},
                            {"setting": "pool_idle_timeout", "value_s": 1.8}]}
            ],
            "log": {"zone": "+08:00", "zone_from": "search", "clock_offset_s": 0.4},
            "causes": [
                {"cause": "reset_after_heartbeat_deadline", "by": "client", "connections": 1, "streams": [0]},
                {"cause": "http_reuse_race", "by": null, "connections": 2, "streams": [1, 2]}
            ]
        })
    }

    fn ok(check: Value) {
        if let Err(e) = evaluate(&diag(), &check) {
            panic!("should hold: {check}: {e}");
        }
    }

    fn wrong(check: Value) {
        assert!(
            evaluate(&diag(), &check).is_err(),
            "should not hold: {check}"
        );
    }

    #[test]
    fn scalar_conditions_compare_numbers_as_numbers() {
        assert!(cond_ok(Some(&json!(3)), &json!(3.0), false).unwrap());
        assert!(!cond_ok(Some(&json!(3)), &json!(4), false).unwrap());
        assert!(cond_ok(Some(&json!("fin")), &json!("fin"), false).unwrap());
        assert!(!cond_ok(Some(&json!("fin")), &json!("FIN"), false).unwrap());
        assert!(cond_ok(Some(&json!(true)), &json!(true), false).unwrap());
        assert!(!cond_ok(Some(&json!(false)), &json!(true), false).unwrap());
        assert!(cond_ok(None, &Value::Null, false).unwrap());
        assert!(!cond_ok(None, &json!(0), false).unwrap());
        assert!(!cond_ok(Some(&json!("3")), &json!(3), false).unwrap());
    }

    #[test]
    fn ranges_are_closed_and_need_numbers() {
        assert!(cond_ok(Some(&json!(3.8)), &json!([3.8, 4.0]), false).unwrap());
        assert!(cond_ok(Some(&json!(4.0)), &json!([3.8, 4.0]), false).unwrap());
        assert!(!cond_ok(Some(&json!(4.01)), &json!([3.8, 4.0]), false).unwrap());
        assert!(!cond_ok(Some(&json!("3.9")), &json!([3.8, 4.0]), false).unwrap());
        assert!(!cond_ok(None, &json!([3.8, 4.0]), false).unwrap());
        assert!(cond_ok(Some(&json!(1)), &json!([1, 2, 3]), false).is_err());
    }

    #[test]
    fn contains_matches_present_len_lt_gt() {
        let t = |a: Value, c: Value| cond_ok(Some(&a), &c, false).unwrap();
        assert!(t(
            json!("Until the connection CLOSED"),
            json!({"contains": "connection closed"})
        ));
        assert!(!t(json!("to the end"), json!({"contains": "closed"})));
        assert!(t(json!(["a", "b"]), json!({"contains": "b"})));
        assert!(!t(json!(["ab"]), json!({"contains": "b"})));
        assert!(t(json!("frame 41"), json!({"matches": "^frame \\d+$"})));
        assert!(!t(json!("frame x"), json!({"matches": "^frame \\d+$"})));
        assert!(t(json!(0), json!({"present": true})));
        assert!(!t(Value::Null, json!({"present": true})));
        assert!(t(Value::Null, json!({"present": false})));
        assert!(cond_ok(None, &json!({"present": false}), false).unwrap());
        assert!(!cond_ok(None, &json!({"present": true}), false).unwrap());
        assert!(t(json!([1, 2, 3]), json!({"len": 3})));
        assert!(!t(json!([1, 2, 3]), json!({"len": {"gt": 3}})));
        assert!(t(json!([1, 2, 3]), json!({"len": [2, 4]})));
        assert!(!t(json!("abc"), json!({"len": 3})));
        assert!(t(json!(1.9), json!({"lt": 2})));
        assert!(!t(json!(2), json!({"lt": 2})));
        assert!(t(json!(2.1), json!({"gt": 2})));
        assert!(!t(json!(2), json!({"gt": 2})));
        assert!(!t(json!("5"), json!({"gt": 2})));
        assert!(t(json!(3), json!({"gt": 2, "lt": 4})));
        assert!(!t(json!(5), json!({"gt": 2, "lt": 4})));
        assert!(cond_ok(Some(&json!(1)), &json!({"about": 1}), false).is_err());
        assert!(cond_ok(Some(&json!("x")), &json!({"matches": "("}), false).is_err());
    }

    #[test]
    fn counts() {
        assert!(count_ok(2, &json!(2)).unwrap());
        assert!(!count_ok(2, &json!(1)).unwrap());
        assert!(count_ok(2, &json!([1, 2])).unwrap());
        assert!(!count_ok(3, &json!([1, 2])).unwrap());
        assert!(count_ok(1, &json!({"gt": 0})).unwrap());
        assert!(!count_ok(0, &json!({"gt": 0})).unwrap());
        assert!(count_ok(0, &json!("two")).is_err());
    }

    #[test]
    fn dotted_paths_and_projections() {
        let v = json!({"drain": {"close_ratio": 0.3}, "advice": [{"value_s": 1.5, "s": "Go"}, {"value_s": 1.8, "s": "hyper"}], "empty": []});
        assert_eq!(lookup(&v, "drain.close_ratio"), Some(json!(0.3)));
        assert_eq!(lookup(&v, "drain.ramp"), None);
        assert_eq!(lookup(&v, "advice.1.s"), Some(json!("hyper")));
        assert!(where_ok(&v, Some(&json!({"advice.*.value_s": {"lt": 2.0}}))).unwrap());
        assert!(!where_ok(&v, Some(&json!({"advice.*.value_s": {"lt": 1.6}}))).unwrap());
        assert!(where_ok(&v, Some(&json!({"advice.*.s": {"contains": "hyper"}}))).unwrap());
        assert!(!where_ok(&v, Some(&json!({"advice.*.s": {"contains": "hyp"}}))).unwrap());
        assert!(where_ok(&v, Some(&json!({"advice.*.value_s": [1.0, 2.0]}))).unwrap());
        // an element whose value is null or absent is skipped, not taken as a violation
        let w = json!({"advice": [{"value_s": 1.5}, {"value_s": null}, {"s": "x"}]});
        assert!(where_ok(&w, Some(&json!({"advice.*.value_s": {"lt": 2.0}}))).unwrap());
        assert!(!where_ok(&w, Some(&json!({"advice.*.value_s": {"lt": 1.0}}))).unwrap());
        // an empty projection never satisfies a per-element condition
        assert!(!where_ok(&v, Some(&json!({"empty.*.value_s": {"lt": 2.0}}))).unwrap());
        assert!(!where_ok(&v, Some(&json!({"drain.close_ratio": [0.31, 0.4]}))).unwrap());
        assert!(where_ok(&v, None).unwrap());
        assert!(where_ok(&v, Some(&json!([1]))).is_err());
    }

    #[test]
    fn conn_selects_by_ports_and_endpoints() {
        let d = diag();
        assert_eq!(select(&d, &json!({"client_port": 40000})).unwrap(), vec![0]);
        assert_eq!(select(&d, &json!({"server_port": 80})).unwrap(), vec![0, 1]);
        assert_eq!(
            select(&d, &json!({"server": "10.0.0.1:80", "client_port": 40001})).unwrap(),
            vec![1]
        );
        assert_eq!(select(&d, &json!({"client_port": 40002})).unwrap(), vec![2]);
        assert!(select(&d, &json!({"client_port": 1})).is_err());
        assert!(select(&d, &json!({"port": 80})).is_err());
        let http = json!({"connections": [{"stream": 7, "client": "10.0.0.9:5555", "server": "10.0.0.1:8080", "requests": 5}]});
        assert_eq!(
            select(&http, &json!({"client_port": 5555})).unwrap(),
            vec![7]
        );
    }

    #[test]
    fn finding_checks() {
        ok(json!({"finding": "late_heartbeat"}));
        ok(json!({"finding": "late_heartbeat", "count": 2}));
        wrong(json!({"finding": "late_heartbeat", "count": 1}));
        ok(
            json!({"finding": "late_heartbeat", "conn": {"client_port": 40000}, "where": {"gap_s": [3.8, 4.0]}, "count": 1}),
        );
        wrong(
            json!({"finding": "late_heartbeat", "conn": {"client_port": 40000}, "where": {"gap_s": [6.9, 7.1]}}),
        );
        ok(json!({"finding": "late_heartbeat", "where": {"message": {"contains": "late"}}}));
        wrong(json!({"finding": "missed_heartbeat"}));
        wrong(json!({"finding": "late_heartbeat", "conn": {"client_port": 9}}));
        ok(json!({"no_finding": "missed_heartbeat"}));
        ok(json!({"no_finding": "late_heartbeat", "conn": {"client_port": 40002}}));
        wrong(json!({"no_finding": "late_heartbeat", "conn": {"client_port": 40001}}));
        ok(json!({"no_finding": "late_heartbeat", "where": {"gap_s": {"gt": 8}}}));
        // a finding naming several streams counts for each of them
        ok(json!({"finding": "log_match", "conn": {"client_port": 40001}, "where": {"line": 5}}));
        ok(
            json!({"finding": "http_reuse_race", "where": {"advice.*.setting": {"contains": "Transport.IdleConnTimeout"}, "advice.*.value_s": {"lt": 2.0}}}),
        );
        wrong(json!({"finding": "late_heartbeat", "wher": {}}));
        wrong(json!({"no_finding": "late_heartbeat", "count": 0}));
    }

    #[test]
    fn stream_checks() {
        ok(
            json!({"heartbeat": {"client_port": 40000}, "where": {"sender": "client", "period_s": [2.9, 3.1]}}),
        );
        wrong(json!({"heartbeat": {"client_port": 40000}, "where": {"sender": "server"}}));
        wrong(json!({"heartbeat": {"server_port": 80}, "where": {"sender": "client"}}));
        ok(json!({"heartbeat": {"client_port": 40001}, "none": true}));
        wrong(json!({"heartbeat": {"client_port": 40000}, "none": true}));
        ok(json!({"close": {"client_port": 40000}, "where": {"kind": "rst", "by": "client"}}));
        wrong(json!({"close": {"client_port": 40000}, "where": {"kind": "fin"}}));
        wrong(json!({"close": {"client_port": 40001}, "where": {"kind": "fin"}}));
        ok(json!({"keepalive": {"client_port": 40000}, "where": {"count": 3}}));
        wrong(json!({"keepalive": {"client_port": 40000}, "where": {"count": 9}}));
        wrong(json!({"keepalive": {"client_port": 40001}, "where": {}}));
    }

    #[test]
    fn log_checks() {
        ok(json!({"log": {"zone": "+08:00", "zone_from": "search", "clock_offset_s": [0.0, 1.0]}}));
        wrong(json!({"log": {"zone": "+00:00"}}));
        ok(json!({"log_line": 4}));
        ok(
            json!({"log_line": 4, "conn": {"client_port": 40000}, "kinds_any": ["late_heartbeat", "x"]}),
        );
        wrong(json!({"log_line": 4, "kinds_any": ["connection_reset"]}));
        // the streams must be exactly the selected ones
        wrong(json!({"log_line": 5, "conn": {"client_port": 40000}}));
        ok(json!({"log_line": 5, "conn": {"server_port": 80}}));
        // a stream named twice is still the one stream selected
        let d = json!({"streams": [{"stream": 3, "endpoints": {"client": "10.0.0.2:1", "server": "10.0.0.1:2"}}],
                       "findings": [{"kind": "log_match", "stream": 3, "streams": [3, 3, 3], "line": 9}]});
        assert!(evaluate(&d, &json!({"log_line": 9, "conn": {"client_port": 1}})).is_ok());
        wrong(json!({"log_line": 6}));
        ok(json!({"no_log_line": 6}));
        wrong(json!({"no_log_line": 4}));
        assert!(evaluate(&json!({"log": null}), &json!({"log": {"zone": "+00:00"}})).is_err());
        // several --log: `index` picks one of `logs`, `file` the findings of one file
        let d = json!({"logs": [{"zone": "+01:00"}, {"zone": "-03:00"}],
                       "findings": [{"kind": "log_match", "stream": 1, "line": 2, "log_file": "b.log"}]});
        assert!(evaluate(&d, &json!({"log": {"zone": "-03:00"}, "index": 1})).is_ok());
        assert!(evaluate(&d, &json!({"log": {"zone": "-03:00"}, "index": 0})).is_err());
        assert!(evaluate(&d, &json!({"log": {"zone": "-03:00"}, "index": 2})).is_err());
        assert!(evaluate(&d, &json!({"log_line": 2, "file": "b.log"})).is_ok());
        assert!(evaluate(&d, &json!({"log_line": 2, "file": "a.log"})).is_err());
    }

    #[test]
    fn cause_checks() {
        ok(
            json!({"cause": "reset_after_heartbeat_deadline", "by": "client", "conn": {"client_port": 40000}, "count": 1}),
        );
        wrong(json!({"cause": "reset_after_heartbeat_deadline", "by": "server"}));
        wrong(json!({"cause": "reset_after_heartbeat_deadline", "count": 2}));
        wrong(json!({"cause": "reset_after_heartbeat_deadline", "conn": {"client_port": 40001}}));
        ok(json!({"cause": "http_reuse_race", "conn": {"client_port": 40002}, "count": [2, 3]}));
        ok(json!({"no_cause": "reset_after_heartbeat_deadline", "by": "server"}));
        wrong(json!({"no_cause": "reset_after_heartbeat_deadline"}));
        assert!(evaluate(&json!({"findings": []}), &json!({"cause": "x"})).is_err());
    }

    #[test]
    fn http_checks() {
        let h = json!({
            "servers": [{"server": "10.0.0.1:8080", "request_limit": null, "drain": {"close_ratio": 0.3}}],
            "connections": [{"stream": 7, "client": "10.0.0.9:5555", "server": "10.0.0.1:8080", "requests": 5,
                             "close": {"kind": "server_request_limit"}}],
            "findings": [{"kind": "http_request_limit_close", "stream": 7}]
        });
        let e = |c: Value| evaluate(&h, &c);
        assert!(e(json!({"http_server": "10.0.0.1:8080", "where": {"request_limit": {"present": false}, "drain.close_ratio": [0.25, 0.35]}})).is_ok());
        assert!(e(json!({"http_server": "10.0.0.1:8080", "where": {"request_limit": 5}})).is_err());
        assert!(e(json!({"http_server": "10.0.0.1:9999", "where": {}})).is_err());
        assert!(e(json!({"http_connection": {"client_port": 5555}, "where": {"requests": 5, "close.kind": "server_request_limit"}})).is_ok());
        assert!(e(
            json!({"http_connection": {"client_port": 5555}, "where": {"close.kind": "reuse_race"}})
        )
        .is_err());
        assert!(e(json!({"finding": "http_request_limit_close", "conn": {"client_port": 5555}, "count": 1})).is_ok());
        assert!(e(json!({"no_finding": "http_drain"})).is_ok());
        assert!(e(json!({"frobnicate": 1})).is_err());
    }
}
