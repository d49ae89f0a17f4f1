//! `keepsight http` on a make_capture.py estate generated at test time (50 000 packets, seed 1).
//! Expectations come from the generator's documented truth (its docstring, section (c)) and from
//! tshark 4.0.17 `-2` for which frames are HTTP requests/responses — never from keepsight.
//! Skipped when python3 or /work/shared/bench/make_capture.py is missing.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const GENERATOR: &str = "/work/shared/bench/make_capture.py";

fn generate() -> Option<PathBuf> {
    if !Path::new(GENERATOR).exists() {
        eprintln!("SKIP: {GENERATOR} not found");
        return None;
    }
    let out = std::env::temp_dir().join(format!("ks-http-synth-{}.pcap", std::process::id()));
    let st = Command::new("python3")
        .arg(GENERATOR)
        .args(["--packets", "50000", "--seed", "1", "--out"])
        .arg(&out)
        .status()
        .ok()?;
    st.success().then_some(out)
}

fn http_json(capture: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("http")
        .arg(capture)
        .arg("--json")
        .output()
        .expect("run keepsight");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn tshark_frames(capture: &Path, filter: &str) -> Option<BTreeSet<u64>> {
    let out = Command::new("tshark")
        .args(["-2", "-n", "-r"])
        .arg(capture)
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    })
}

fn secs(v: &Value) -> f64 {
    v.as_i64().unwrap() as f64 / 1e9
}

#[test]
fn synthetic_estate_matches_the_generators_truth() {
    let Some(cap) = generate() else {
        return;
    };
    let r = http_json(&cap);
    let conns = r["connections"].as_array().unwrap();
    assert!(conns.len() > 100, "{}", conns.len());
    // Only the HTTP service (port 80) is HTTP: heartbeats, the database pool and the bulk
    // protocol ("FETCH ... BULK/1.0") are not.
    for c in conns {
        assert!(
            c["server"].as_str().unwrap().ends_with(":80"),
            "{}",
            c["server"]
        );
    }

    // Exactly one faulty message: the 2nd response of some session, 2600 of 4096 bytes, then
    // a server FIN 60 s later.
    assert_eq!(r["faulty_messages"].as_u64(), Some(1));
    let (c, m) = conns
        .iter()
        .flat_map(|c| {
            c["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |m| (c, m))
        })
        .find(|(_, m)| !m["verdicts"].as_array().unwrap().is_empty())
        .expect("the short response");
    assert_eq!(m["number"].as_u64(), Some(2));
    let v = &m["verdicts"][0];
    assert_eq!(v["verdict"], "body_shorter_than_length");
    assert_eq!(
        (v["declared"].as_u64(), v["received"].as_u64()),
        (Some(4096), Some(2600))
    );
    assert_eq!(v["ended"]["by"], "fin");
    let fin_after = secs(&c["last_ts_ns"]) - secs(&m["first_ts_ns"]);
    assert!((60.0..61.0).contains(&fin_after), "{fin_after}");
    assert_eq!(c["close"]["kind"], "server_closed_mid_exchange");

    // nginx keepalive_timeout 75 s: every idle close after 75 s of idle.
    let mut idle_closes = 0;
    let mut races = 0;
    let mut unanswered = 0;
    for c in conns {
        let close = &c["close"];
        match close["kind"].as_str().unwrap() {
            "server_idle_timeout" => {
                let idle = secs(&close["idle_ns"]);
                assert!(
                    (75.0..75.001).contains(&idle),
                    "stream {}: {idle}",
                    c["stream"]
                );
                idle_closes += 1;
            }
            "reuse_race" => {
                // The client's request comes after the server's FIN and is answered by RST.
                assert!(close["sent_after_fin_ns"].as_i64().unwrap() > 0);
                assert!(close["rst_frame"].as_u64().is_some());
                assert!((75.0..75.001).contains(&secs(&close["idle_ns"])));
                races += 1;
            }
            _ => {}
        }
        if close["kind"] != "open" {
            unanswered += c["requests"].as_u64().unwrap() - c["responses"].as_u64().unwrap();
        }
    }
    assert!(idle_closes > 20, "{idle_closes}");
    // The only requests never answered (outside connections the capture cut) are the races'.
    assert_eq!(unanswered, races);
    for s in r["servers"].as_array().unwrap() {
        if s["idle_closes"].as_u64().unwrap() > 0 {
            assert!((75.0..75.001).contains(&secs(&s["idle_timeout_min_ns"])));
        }
        // Connection: close on a random last response is not a server setting.
        assert!(s["request_limit"].is_null(), "{s}");
    }

    // tshark: the same request frames and the same completed response frames (it never
    // completes the short response; neither do we give it an end frame).
    if let (Some(treq), Some(tresp), Some(t4096)) = (
        tshark_frames(&cap, "http.request"),
        tshark_frames(&cap, "http.response"),
        tshark_frames(&cap, "tcp.payload contains \"Content-Length: 4096\""),
    ) {
        let mut req = BTreeSet::new();
        let mut resp = BTreeSet::new();
        for c in conns {
            for m in c["messages"].as_array().unwrap() {
                let f = m["frame"].as_u64().unwrap();
                if f == 0 {
                    continue;
                }
                if m["kind"] == "request" {
                    req.insert(f);
                } else {
                    resp.insert(f);
                }
            }
        }
        assert_eq!(req, treq, "request frames");
        assert_eq!(resp, tresp, "response frames");
        assert_eq!(
            t4096.into_iter().collect::<Vec<_>>(),
            vec![m["header_frame"].as_u64().unwrap()]
        );
    } else {
        eprintln!("SKIP (tshark part): tshark not available");
    }
    let _ = std::fs::remove_file(&cap);
}
