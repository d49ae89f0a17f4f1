//! `Frame::segment` shows the analyses the same values the display fields show users (which the
//! packets oracle checks against tshark): on every TCP frame of every corpus capture, IP
//! fragments and IPv6 included, each segment value equals its field's value.

use keepsight_engine::Engine;
use keepsight_fields::ids::*;
use keepsight_fields::{FieldId, Packet, Value};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus");
    let mut files = Vec::new();
    for sub in ["", "fmt", "link", "crafted", "crafted/frag"] {
        let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.file_name().unwrap().to_string_lossy().contains(".pcap") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// Every value the frame gives for `field`, in order.
fn values(frame: &impl Packet, field: FieldId) -> Vec<String> {
    let mut out = Vec::new();
    frame.visit(field, &mut |v: Value<'_>| {
        out.push(match v {
            Value::UInt(n) => n.to_string(),
            Value::Ipv4(a) => IpAddr::from(a).to_string(),
            Value::Ipv6(a) => IpAddr::from(a).to_string(),
            Value::Bytes(b) => format!("{b:02x?}"),
            other => format!("{other:?}"),
        })
    });
    out
}

/// The field's value when it has exactly one (tunnelled packets have an address per layer).
fn single(frame: &impl Packet, field: FieldId) -> Option<String> {
    let v = values(frame, field);
    (v.len() == 1).then(|| v[0].clone())
}

#[test]
fn segment_values_equal_the_field_values() {
    let files = corpus();
    assert!(files.len() > 40, "corpus not found ({} files)", files.len());
    let (mut segments, mut fragmented) = (0u64, 0u64);
    for file in &files {
        let Ok(mut engine) = Engine::open(file) else {
            continue;
        };
        while let Ok(Some(frame)) = engine.next_frame() {
            let at = format!("{} frame {}", file.display(), frame.number);
            let Some(s) = frame.segment() else {
                assert!(frame.tcp.is_none() || frame.tcp_header().is_none(), "{at}");
                continue;
            };
            segments += 1;
            fragmented += u64::from(frame.reassembled.is_some());
            let one = |field| single(&frame, field);
            assert_eq!(s.frame, frame.number, "{at}");
            assert_eq!(s.ts_ns, frame.ts_ns, "{at}");
            assert_eq!(one(TCP_STREAM), Some(s.stream.to_string()), "{at}");
            assert_eq!(one(TCP_SRCPORT), Some(s.src.port().to_string()), "{at}");
            assert_eq!(one(TCP_DSTPORT), Some(s.dst.port().to_string()), "{at}");
            assert_eq!(one(TCP_FLAGS), Some(s.flags.0.to_string()), "{at}");
            assert_eq!(one(TCP_SEQ), Some(s.seq.to_string()), "{at}");
            assert_eq!(one(TCP_ACK), Some(s.ack.to_string()), "{at}");
            assert_eq!(one(TCP_LEN), Some(s.len.to_string()), "{at}");
            assert_eq!(one(TCP_WINDOW_SIZE), Some(s.window.to_string()), "{at}");
            let payload = values(&frame, TCP_PAYLOAD);
            let want: Vec<String> = if s.payload.is_empty() {
                Vec::new()
            } else {
                vec![format!("{:02x?}", s.payload)]
            };
            assert_eq!(payload, want, "{at}");
            let (src, dst, ttl) = match s.src.ip() {
                IpAddr::V4(_) => (IP_SRC, IP_DST, IP_TTL),
                IpAddr::V6(_) => (IPV6_SRC, IPV6_DST, IPV6_HLIM),
            };
            if let (Some(a), Some(b), Some(t)) = (one(src), one(dst), one(ttl)) {
                assert_eq!(a, s.src.ip().to_string(), "{at}");
                assert_eq!(b, s.dst.ip().to_string(), "{at}");
                assert_eq!(t, s.ttl.to_string(), "{at}");
            }
            assert_eq!(
                frame.tcp.map(|t| t.flags),
                Some(s.analysis),
                "{at}: analysis bits"
            );
        }
    }
    assert!(
        segments > 1000,
        "only {segments} TCP segments in the corpus"
    );
    assert!(
        fragmented > 0,
        "no TCP segment from reassembled IP fragments"
    );
}
