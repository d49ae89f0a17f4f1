//! `keepsight diagnose` on generator captures of troubled heartbeats (`keepsight-gen`'s
//! `shapes::troubled_heartbeat`): replies that turn slow (up to 90 % of the period), servers
//! that stop answering, clients that give up with FIN or RST after n beats — over periods of
//! 1-45 s, probes of 1-64 bytes, text and binary. Every expectation comes from the plan and
//! the generator's truth.

use keepsight_gen::shapes::troubled_heartbeat::Trouble;
use keepsight_gen::truth::{CloseCause, Detail, Teardown};
use keepsight_gen::{generate_troubled_heartbeats, Truth};
use serde_json::Value;
use std::process::Command;

const S: u64 = 1_000_000;
const MS: u64 = 1_000;

fn diagnose(plans: &[Trouble], port: u16, seed: u64) -> (Truth, Value) {
    let path = std::env::temp_dir().join(format!(
        "keepsight-troubled-{}-{seed}.pcap",
        std::process::id()
    ));
    let file = std::fs::File::create(&path).unwrap();
    let (_, truth) = generate_troubled_heartbeats(plans, port, seed, false, file).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keepsight"))
        .arg("diagnose")
        .arg(&path)
        .arg("--json")
        .output()
        .expect("run keepsight");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (truth, serde_json::from_slice(&out.stdout).unwrap())
}

fn hex(b: &[u8]) -> String {
    b.iter().take(8).map(|x| format!("{x:02x}")).collect()
}

fn of<'a>(r: &'a Value, stream: u32, kind: &str) -> Vec<&'a Value> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["stream"] == stream && f["kind"] == kind)
        .collect()
}

/// Checks every connection against its plan; returns the streams that gave up.
fn check(plans: &[Trouble], truth: &Truth, r: &Value) -> Vec<u32> {
    let mut gave_up = Vec::new();
    assert!(truth.connections.len() >= plans.len());
    for (plan, conn) in plans.iter().zip(&truth.connections) {
        let st = conn.stream;
        let Detail::TroubledHeartbeat(t) = &conn.detail else {
            panic!("not a troubled heartbeat")
        };
        let s = &r["streams"][st as usize];
        let what = format!("stream {st}, plan {plan:?}");
        let hb = &s["heartbeat"];
        assert_eq!(hb["sender"], "client", "{what}");
        assert_eq!(hb["probe_hex"], hex(&plan.probe), "{what}");
        assert_eq!(hb["reply_hex"], hex(&plan.reply), "{what}");
        let period = hb["period_s"].as_f64().unwrap();
        assert!(
            (period - plan.period_us as f64 / 1e6).abs() < 0.002,
            "{what}: {period}"
        );
        // The client kept its schedule, whatever the server did.
        assert!(of(r, st, "late_heartbeat").is_empty(), "{what}");
        assert!(of(r, st, "missed_heartbeat").is_empty(), "{what}");
        // The slow replies are those after the jump (the first three make the baseline).
        let slow_beats = t
            .beats
            .iter()
            .filter(|b| {
                b.reply_latency_us
                    .is_some_and(|l| l >= 200 * MS + 10 * plan.reply_latency_us)
            })
            .count();
        let slow = of(r, st, "slow_heartbeat_reply");
        assert_eq!(slow.len(), slow_beats, "{what}: {slow:#?}");
        for f in slow {
            let base = f["baseline_ms"].as_f64().unwrap();
            assert!(
                (base - plan.reply_latency_us as f64 / 1e3).abs() < 0.01,
                "{what}: {f}"
            );
            assert!(
                (f["latency_ms"].as_f64().unwrap() - plan.slow_latency_us as f64 / 1e3).abs()
                    < 0.01,
                "{what}: {f}"
            );
        }
        let close = conn.close.expect("every plan closes");
        let g = of(r, st, "heartbeat_gave_up");
        let unanswered = t
            .beats
            .iter()
            .filter(|b| b.reply_latency_us.is_none())
            .count();
        assert_eq!(
            of(r, st, "unanswered_heartbeat").len(),
            unanswered,
            "{what}"
        );
        match (close.cause, close.how) {
            (CloseCause::HeartbeatGaveUp, how) => {
                assert_eq!(g.len(), 1, "{what}");
                let g = g[0];
                assert_eq!(g["by"], "client");
                assert_eq!(g["close"], if how == Teardown::Fin { "fin" } else { "rst" });
                assert_eq!(g["unanswered"], unanswered, "{what}");
                assert_eq!(
                    g["frames"].as_array().unwrap().last().unwrap(),
                    &Value::from(close.frame),
                    "{what}"
                );
                assert!(of(r, st, "reset_after_heartbeat_deadline").is_empty());
                gave_up.push(st);
            }
            _ => assert!(g.is_empty(), "{what}"),
        }
    }
    gave_up
}

#[test]
fn slow_replies_never_swap_roles_nor_make_late_beats() {
    let text = |s: &str| s.as_bytes().to_vec();
    let mut plans = Vec::new();
    for (i, (period, share)) in [(S, 80), (7 * S, 70), (7 * S, 90), (45 * S, 60), (3 * S, 85)]
        .into_iter()
        .enumerate()
    {
        let (probe, reply) = match i % 3 {
            0 => (text("PING\n"), text("PONG\n")),
            1 => (vec![0xfe], vec![0xff]),
            _ => (
                (0..64u8).collect::<Vec<u8>>(),
                (0..64u8).map(|b| b ^ 0x80).collect(),
            ),
        };
        plans.push(Trouble {
            probe,
            reply,
            slow_from: Some(4 + i as u32 % 2),
            slow_latency_us: period * share / 100,
            reply_latency_us: 300 + 200 * i as u64,
            beats: 12,
            ..Trouble::new(period)
        });
    }
    // A server that is slow from the first beat, next to a fast sibling: no baseline of its
    // own, but its roles stay.
    plans.push(Trouble {
        probe: text("PING\n"),
        reply: text("PONG\n"),
        slow_from: Some(1),
        slow_latency_us: 5_600 * MS,
        ..Trouble::new(7 * S)
    });
    let (truth, r) = diagnose(&plans, 7007, 3);
    check(&plans[..5], &truth, &r);
    let last = &r["streams"][5];
    assert_eq!(last["heartbeat"]["sender"], "client");
    // Measured against its siblings' usual latency: every reply is slow.
    let slow = of(&r, 5, "slow_heartbeat_reply");
    assert_eq!(slow.len(), 10, "{slow:#?}");
    assert!(slow
        .iter()
        .all(|f| f["baseline_ms"].as_f64().unwrap() < 2.0));
    assert_eq!(r["causes"], serde_json::json!([]));
}

#[test]
fn clients_giving_up_after_unanswered_beats() {
    let mut plans = Vec::new();
    for (i, (n, how)) in [
        (3, Teardown::Fin),
        (2, Teardown::Rst),
        (1, Teardown::Fin),
        (4, Teardown::Rst),
        (1, Teardown::Rst),
    ]
    .into_iter()
    .enumerate()
    {
        plans.push(Trouble {
            probe: vec![0x00, 0xff, 0x07 + i as u8],
            reply: vec![0x00, 0xfe, 0x07 + i as u8],
            stop_after: Some(4 + i as u32),
            give_up_after: Some((n, how)),
            beats: 40,
            ..Trouble::new([2_500 * MS, S, 30 * S, 10 * S, 5 * S][i])
        });
    }
    // Answered to the end: no give-up.
    plans.push(Trouble::new(2 * S));
    let (truth, r) = diagnose(&plans, 5151, 11);
    let gave_up = check(&plans, &truth, &r);
    assert_eq!(gave_up, vec![0, 1, 2, 3, 4]);
    let causes = r["causes"].as_array().unwrap();
    let g: Vec<&Value> = causes
        .iter()
        .filter(|c| c["cause"] == "heartbeat_gave_up")
        .collect();
    assert_eq!(g.len(), 1, "{causes:#?}");
    assert_eq!(g[0]["by"], "client");
    assert_eq!(g[0]["streams"], serde_json::json!(gave_up));
    assert_eq!(g[0]["connections"], 5);
    // One story per close: the give-ups are not also deadline resets.
    assert_eq!(causes.len(), 1, "{causes:#?}");
}
