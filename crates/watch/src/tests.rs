//! The watch against `diagnose` itself: a capture replayed packet by packet must yield the
//! findings the file analysis makes, deadline alerts must come before the packet that ends the
//! silence, and each evidence file must diagnose to its alert's kind.

use super::*;
use keepsight_live::LivePacket;
use std::path::Path;

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

/// An alert and how many packets had been fed when it was raised.
struct Seen {
    alert: Alert,
    after_packets: u64,
}

/// Replays `path` through a watch, as a stream source would hand it over.
fn replay(path: &Path, opts: WatchOptions) -> Vec<Seen> {
    let mut reader = CaptureReader::open(path).unwrap();
    let mut watch = Watch::new(Options::default(), opts).unwrap();
    let mut seen = Vec::new();
    let mut alerts = Vec::new();
    let mut announced = FxHashSet::default();
    let mut fed = 0;
    while let Some(r) = reader.next_record().unwrap() {
        if announced.insert(r.interface_id) {
            let iface = keepsight_live::Interface {
                name: "-".into(),
                link_type: r.link_type,
                snap_len: 262_144,
            };
            watch.interface(r.interface_id, &iface);
        }
        let p = LivePacket {
            ts_ns: r.ts_ns.unwrap_or(0),
            interface: r.interface_id,
            orig_len: r.orig_len,
            data: r.data.to_vec(),
        };
        watch.packet(&p, &mut alerts);
        for a in alerts.drain(..) {
            seen.push(Seen {
                alert: a,
                after_packets: fed,
            });
        }
        fed += 1;
    }
    watch.finish(&mut alerts);
    for a in alerts {
        seen.push(Seen {
            alert: a,
            after_packets: fed,
        });
    }
    seen
}

type Key = (&'static str, Option<u32>, Vec<u32>);

fn key(f: &Finding) -> Key {
    (f.kind().as_str(), f.stream, f.frames.clone())
}

/// `diagnose`'s findings of a capture file, as its command computes them.
fn diagnosed(path: &Path) -> Vec<Key> {
    let mut engine = Engine::open(path).unwrap();
    let mut analyses = Analyses::new(Options::default());
    let mut last = 0;
    while let Some(frame) = engine.next_frame().unwrap() {
        last = last.max(frame.ts_ns);
        analyses.on_frame(&frame);
    }
    let mut keys: Vec<Key> = analyses
        .diagnosis(last, Listing::Every)
        .findings
        .iter()
        .map(key)
        .collect();
    keys.sort();
    keys
}

const SAME_AS_DIAGNOSE: [&str; 6] = [
    "tests/corpus/heartbeat.pcap",
    "tests/corpus/keepalive.pcapng",
    "tests/scenarios/late-heartbeat/capture.pcapng",
    "tests/scenarios/gave-up-rst/capture.pcapng",
    "tests/scenarios/middlebox-idle-rst/capture.pcapng",
    "tests/scenarios/slow-reply/capture.pcapng",
];

#[test]
fn a_replayed_capture_alerts_what_diagnose_finds() {
    for rel in SAME_AS_DIAGNOSE {
        let path = corpus(rel);
        let seen = replay(&path, WatchOptions::default());
        let mut analysis: Vec<Key> = seen
            .iter()
            .filter(|s| s.alert.trigger == Trigger::Analysis)
            .map(|s| key(&s.alert.finding))
            .collect();
        analysis.sort();
        assert_eq!(analysis, diagnosed(&path), "{rel}");
    }
}

/// In late-heartbeat, each late probe is preceded by a silence past the deadline: the deadline
/// alert names the probe before the silence and comes before the late probe is fed.
#[test]
fn a_deadline_fires_before_the_packet_that_ends_the_silence() {
    let path = corpus("tests/scenarios/late-heartbeat/capture.pcapng");
    let seen = replay(&path, WatchOptions::default());
    let late: Vec<&Finding> = seen
        .iter()
        .map(|s| &s.alert.finding)
        .filter(|f| f.kind().as_str() == "late_heartbeat")
        .collect();
    assert!(!late.is_empty());
    for l in late {
        let (before, after) = (l.frames[0], l.frames[1]);
        let deadline = seen
            .iter()
            .find(|s| {
                s.alert.trigger == Trigger::Deadline
                    && s.alert.finding.stream == l.stream
                    && s.alert.finding.frames == [before]
            })
            .unwrap_or_else(|| panic!("no deadline alert for the silence after frame {before}"));
        // Frame numbers count from 1: frame `after` is fed after `after - 1` packets.
        assert!(
            deadline.after_packets < u64::from(after),
            "deadline alert after {} packets, late probe is frame {after}",
            deadline.after_packets
        );
        assert_eq!(deadline.alert.finding.kind().as_str(), "missed_heartbeat");
        let json: serde_json::Value = serde_json::from_str(&deadline.alert.json()).unwrap();
        assert_eq!(json["trigger"], "deadline");
        assert_eq!(json["kind"], "missed_heartbeat");
        assert_eq!(json["stopped"], true);
    }
}

/// Every alert's evidence file is a capture `diagnose` reads, and it finds the alert's kind
/// there (a deadline's silence that ended in a later probe is a late or a missed beat).
#[test]
fn evidence_files_diagnose_to_the_alerts_kind() {
    let dir = tempfile::tempdir().unwrap();
    // Not slow-reply: its replies are slow against the same server's other connections, which
    // an alert's evidence (its own stream) does not hold.
    for rel in &SAME_AS_DIAGNOSE[..5] {
        let sub = dir.path().join(rel.replace('/', "_"));
        let opts = WatchOptions {
            evidence: Some(sub.clone()),
            ..WatchOptions::default()
        };
        let seen = replay(&corpus(rel), opts);
        let whole = diagnosed(&corpus(rel));
        let mut checked = 0;
        for s in &seen {
            let f = &s.alert.finding;
            if f.stream.is_none() {
                continue;
            }
            // A silence that ended in the stream's close within two periods is how a sender
            // shuts down; diagnose tells nothing of it, in the whole capture or in the evidence.
            let told = whole.iter().any(|k| {
                matches!(k.0, "late_heartbeat" | "missed_heartbeat")
                    && k.1 == f.stream
                    && k.2.first() == f.frames.first()
            });
            if s.alert.trigger == Trigger::Deadline && !told {
                continue;
            }
            assert_eq!(f.evidence.len(), 1, "{rel}: {}", s.alert.text());
            let file = PathBuf::from(&f.evidence[0]);
            assert!(file.starts_with(&sub));
            let kinds: Vec<&str> = diagnosed(&file).iter().map(|k| k.0).collect();
            let want: &[&str] = match (s.alert.trigger, f.kind().as_str()) {
                (Trigger::Deadline, _) => &["late_heartbeat", "missed_heartbeat"],
                (_, k) => &[k][..],
            };
            assert!(
                kinds.iter().any(|k| want.contains(k)),
                "{rel}: {} diagnoses to {kinds:?}",
                file.display()
            );
            checked += 1;
        }
        assert!(checked > 0, "{rel}");
    }
}

/// However long it runs, the ring holds what it is told to and no more.
#[test]
fn the_ring_is_bounded_by_age_and_bytes() {
    let path = corpus("tests/scenarios/slow-reply/capture.pcapng");
    let mut reader = CaptureReader::open(&path).unwrap();
    let opts = WatchOptions {
        keep_bytes: 2_000,
        ..WatchOptions::default()
    };
    let mut watch = Watch::new(Options::default(), opts).unwrap();
    let mut alerts = Vec::new();
    let mut first = true;
    while let Some(r) = reader.next_record().unwrap() {
        if first {
            watch.interface(
                0,
                &keepsight_live::Interface {
                    name: "-".into(),
                    link_type: r.link_type,
                    snap_len: 262_144,
                },
            );
            first = false;
        }
        let p = LivePacket {
            ts_ns: r.ts_ns.unwrap_or(0),
            interface: 0,
            orig_len: r.orig_len,
            data: r.data.to_vec(),
        };
        watch.packet(&p, &mut alerts);
        let s = watch.summary();
        assert!(s.ring_bytes <= 2_000, "{}", s.ring_bytes);
    }
    assert!(watch.summary().packets > 20);
}
